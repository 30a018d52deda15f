import {createHash, randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, type Server, type ServerResponse, createServer, request as httpRequest} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {type FaultProxy, startFaultProxy} from '../fixtures/fault-proxy.js'
import {type Descriptor, ImagePusher, MEDIA} from '../fixtures/images.js'
import {sharedPki} from '../fixtures/pki.js'
import {type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {basicRegistry, startStandardTokenServer, USERS} from '../fixtures/servers.js'
import {expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * Copies that survive real networks: a source that breaks mid-blob is resumed with Range into the
 * same upload; a destination that breaks mid-upload is asked where the session stands and gets
 * the rest from there, or, when it cannot say (distribution cancels such a session), the blob
 * again in a new session; a token that expires on the way is renewed before it is refused. The
 * real registries sit behind the fault-injecting TCP proxy (test/fixtures/fault-proxy.ts).
 */

const {alice} = USERS
const MiB = 1024 * 1024
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

function configFor(...hosts: string[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-copy-resume-'))
  const auth = Buffer.from(`${alice.username}:${alice.password}`).toString('base64')
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(hosts.map((host) => [host, {auth}]))}))
  return directory
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  return (server.address() as AddressInfo).port
}

/** An image of generated layers pushed untimed; its manifest's descriptor and the layers'. */
async function pushImage(registry: RegistryHandle, repository: string, layers: Array<{seed: number; size: number}>): Promise<{layers: Descriptor[]; manifest: Descriptor}> {
  const pusher = new ImagePusher(registry)
  const config = await pusher.blob(repository, Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: []}, config: {}})), MEDIA.ociConfig)
  const pushed: Descriptor[] = []
  for (const layer of layers) pushed.push(await pusher.blob(repository, layer, 'application/vnd.oci.image.layer.v1.tar+gzip'))
  const bytes = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: pushed}))
  return {layers: pushed, manifest: await pusher.manifest(repository, 'v1', bytes, MEDIA.ociManifest)}
}

/** HEAD of a manifest on a Basic registry: its Docker-Content-Digest, or the status. */
function headManifest(registry: RegistryHandle, path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const authorization = `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}`
    const request = httpRequest(`${registry.url}${path}`, {headers: {accept: MEDIA.ociManifest, authorization}, method: 'HEAD'}, (response) => {
      response.resume()
      resolvePromise(String(response.headers['docker-content-digest'] ?? response.statusCode))
    })
    request.on('error', reject)
    request.end()
  })
}

describe('copy through a network that breaks', function () {
  this.timeout(240_000)
  let source: RegistryHandle
  const closers: Array<() => Promise<void>> = []

  before(async () => {
    source = await basicRegistry()
  })

  afterEach(async () => {
    for (const close of closers.splice(0)) await close()
  })

  async function faulty(port: number): Promise<FaultProxy> {
    const proxy = await startFaultProxy(port)
    closers.push(() => proxy.close())
    return proxy
  }

  it('a 3-layer image through cuts on both sides: equal digests, every blob committed once, the tag last', async () => {
    const destination = await startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}})
    closers.push(() => destination.close())
    const image = await pushImage(source, 'resume/three', [1, 2, 3].map((seed) => ({seed: 7300 + seed, size: 8 * MiB})))
    const from = await faulty(source.port)
    const to = await faulty(destination.port)
    from.reset({down: [{at: 5 * MiB, kind: 'reset'}, {at: 19 * MiB, kind: 'cut'}]})
    to.reset({up: [{at: 6 * MiB, kind: 'cut'}, {at: 21 * MiB, kind: 'reset'}]})
    const mark = destination.markLogs()
    const result = await runCli(['copy', `${from.host}/resume/three:v1`, `${to.host}/resume/three:v1`, '--progress', 'none'], {
      env: {DOCKER_CONFIG: configFor(from.host, to.host)},
      timeoutMs: 120_000,
    })
    expect(result.code, result.stderr).to.equal(0)
    expectNoStackTrace(result)
    expect(from.pending().down, 'every source fault was met').to.deep.equal([])
    expect(to.pending().up, 'every destination fault was met').to.deep.equal([])
    expect(await headManifest(destination, '/v2/resume/three/manifests/v1')).to.equal(image.manifest.digest)
    const log = destination.requestLog(mark)
    // Each blob committed once (one PUT ?digest= answered 201 per blob), whatever broke on the way.
    const committed = log.filter((entry) => entry.method === 'PUT' && entry.status === 201 && entry.path.includes('/blobs/uploads/')).map((entry) => new URL(entry.path, 'http://x').searchParams.get('digest'))
    expect([...committed].sort()).to.deep.equal([...image.layers.map((layer) => layer.digest), await configDigest(source, image.manifest.digest)].sort())
    // The tag is the last thing written.
    const writes = log.filter((entry) => entry.method === 'PUT')
    expect(writes.at(-1)).to.deep.include({path: '/v2/resume/three/manifests/v1', status: 201})
  })

  it('into an oci: layout through a source that breaks: every blob whole and verified, each read about once', async () => {
    const image = await pushImage(source, 'resume/layout', [1, 2, 3].map((seed) => ({seed: 7600 + seed, size: 6 * MiB})))
    const from = await faulty(source.port)
    from.reset({down: [{at: 4 * MiB, kind: 'reset'}, {at: 11 * MiB, kind: 'cut'}, {at: 15 * MiB, kind: 'reset'}]})
    const directory = mkdtempSync(join(tmpdir(), 'regshape-layout-'))
    const result = await runCli(['copy', `${from.host}/resume/layout:v1`, `oci:${directory}`, '--progress', 'none', '--concurrency', '1'], {
      env: {DOCKER_CONFIG: configFor(from.host)},
      timeoutMs: 120_000,
    })
    expect(result.code, result.stderr).to.equal(0)
    expectNoStackTrace(result)
    expect(from.pending().down, 'every source fault was met').to.deep.equal([])
    expect(result.stdout).to.include(`-> oci:${directory}:v1: ${image.manifest.digest}`)
    // Each blob in the layout is whole and hashes to its name; nothing is left half-written beside them.
    const blobs = join(directory, 'blobs', 'sha256')
    for (const layer of image.layers) expect(sha256(readFileSync(join(blobs, layer.digest.slice('sha256:'.length))))).to.equal(layer.digest)
    expect(readdirSync(blobs).filter((name) => !/^[0-9a-f]{64}$/.test(name))).to.deep.equal([])
    const index = JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8')) as {manifests: Array<{digest: string}>}
    expect(index.manifests.map((manifest) => manifest.digest)).to.deep.equal([image.manifest.digest])
    // Each resume went on from where the body broke: the layers crossed the wire about once.
    const total = image.layers.reduce((sum, layer) => sum + layer.size, 0)
    expect(from.bytesDown - total).to.be.within(0, 2 * MiB)
  })

  it('a destination that says where a broken upload stands gets the rest from there, nothing sent twice (a node:http server standing for a registry that keeps what a broken request wrote, as zot and Artifactory do)', async () => {
    const layerSize = 20 * MiB
    const image = await pushImage(source, 'resume/rest', [{seed: 7400, size: layerSize}])
    const big = image.layers[0]
    const sessions = new Map<string, Buffer[]>()
    const received: Array<{bytes: number; method: string; path: string}> = []
    let cut = true
    const blobs = new Map<string, number>()
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const url = new URL(request.url ?? '/', 'http://fake')
      const chunks: Buffer[] = []
      let bytes = 0
      const record = () => received.push({bytes, method: request.method ?? '', path: url.pathname})
      if (url.pathname === '/v2/') {
        response.writeHead(200).end('{}')
        return
      }

      const upload = /^\/v2\/resume\/rest\/blobs\/uploads\/([\w-]*)$/.exec(url.pathname)
      if (request.method === 'HEAD') {
        const digest = url.pathname.split('/').pop() ?? ''
        const size = blobs.get(digest)
        response.writeHead(size === undefined ? 404 : 200, size === undefined ? {} : {'content-length': String(size), 'docker-content-digest': digest}).end()
        return
      }

      if (request.method === 'POST' && upload) {
        const id = randomUUID()
        sessions.set(id, [])
        response.writeHead(202, {location: `/v2/resume/rest/blobs/uploads/${id}`, range: '0-0'}).end()
        return
      }

      if (request.method === 'GET' && upload) {
        const held = Buffer.concat(sessions.get(upload[1]) ?? [])
        response.writeHead(204, {location: `/v2/resume/rest/blobs/uploads/${upload[1]}`, range: `0-${Math.max(0, held.length - 1)}`}).end()
        return
      }

      request.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        bytes += chunk.length
        // The big layer's first PUT breaks after 12 MiB; the registry keeps what it wrote.
        if (upload && cut && bytes >= 12 * MiB) {
          cut = false
          sessions.get(upload[1])?.push(...chunks)
          record()
          request.socket.destroy()
        }
      })
      request.on('end', () => {
        record()
        if (request.method === 'PUT' && upload) {
          const held = sessions.get(upload[1]) ?? []
          held.push(...chunks)
          const whole = Buffer.concat(held)
          const digest = url.searchParams.get('digest') ?? ''
          if (sha256(whole) !== digest) {
            response.writeHead(400, {'content-type': 'application/json'}).end('{"errors":[{"code":"DIGEST_INVALID"}]}')
            return
          }

          blobs.set(digest, whole.length)
          response.writeHead(201, {'docker-content-digest': digest, location: `/v2/resume/rest/blobs/${digest}`}).end()
          return
        }

        if (request.method === 'PUT') {
          const body = Buffer.concat(chunks)
          response.writeHead(201, {'docker-content-digest': sha256(body), location: url.pathname}).end()
          return
        }

        response.writeHead(404).end()
      })
    })
    const port = await listen(server)
    closers.push(async () => {
      server.closeAllConnections()
      await new Promise((resolvePromise) => server.close(resolvePromise))
    })
    const result = await runCli(['copy', `${source.host}/resume/rest:v1`, `127.0.0.1:${port}/resume/rest:v1`, '--progress', 'none', '--debug-calls'], {env: {DOCKER_CONFIG: configFor(source.host)}})
    expect(result.code, result.stderr.slice(-3000)).to.equal(0)
    const bigPuts = received.filter((entry) => entry.method === 'PUT' && entry.path.includes('/blobs/uploads/') && entry.bytes > MiB)
    // The first PUT broke at 12 MiB or a little after; the second carried exactly the rest.
    expect(bigPuts).to.have.length(2)
    expect(bigPuts[0].bytes + bigPuts[1].bytes).to.equal(layerSize)
    expect(blobs.get(big.digest)).to.equal(layerSize)
    // The session was asked where it stood, and the source read again from (near) there, not from 0.
    expect(result.stderr).to.match(/\* GET http:\/\/127\.0\.0\.1:\d+\/v2\/resume\/rest\/blobs\/uploads\/[\w-]+\n/)
    expect(result.stderr).to.match(/> range: bytes=\d+-/)
  })

  it('a token that expires in 5 s is renewed before the registry refuses it, through a throttled upload longer than that', async () => {
    const tokenServer = await startStandardTokenServer(false, sharedPki(), {exactExpiry: true, expiresIn: 5})
    const destination = await startRegistry({auth: {kind: 'token', tokenServer}})
    closers.push(async () => {
      await destination.close()
      await tokenServer.close()
    })
    await pushImage(source, 'resume/token', [{seed: 7501, size: 3 * MiB}, {seed: 7502, size: 3 * MiB}])
    const to = await faulty(destination.port)
    // About 4 s per layer: the copy takes longer than a token lives.
    to.reset({throttleUp: 768 * 1024})
    const mark = destination.markLogs()
    const started = Date.now()
    const result = await runCli(['copy', `${source.host}/resume/token:v1`, `${to.host}/resume/token:v1`, '--progress', 'none', '--concurrency', '1'], {
      env: {DOCKER_CONFIG: configFor(source.host, to.host)},
      timeoutMs: 120_000,
    })
    expect(result.code, result.stderr).to.equal(0)
    expect(Date.now() - started).to.be.above(7000)
    const log = destination.requestLog(mark)
    // One 401, the first request's (the challenge); no token was used past its lifetime.
    expect(log.filter((entry) => entry.status === 401).map((entry) => `${entry.method} ${entry.path}`)).to.have.length(1)
    expect(tokenServer.requests.length).to.be.above(2)
  })

  it('blob upload: a token refused at the end of a long body is renewed, the session asked where it stands and the blob sent again (a node:http server standing for a registry that authenticates an upload when it ends, moby#33558)', async () => {
    const blob = Buffer.alloc(3 * MiB, 7)
    const digest = sha256(blob)
    const issued = new Map<string, number>()
    const puts: Array<{bytes: number; status: number}> = []
    let slow = true
    let port = 0
    const challenge = () => ({'content-type': 'application/json', 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="fake"`})
    const valid = (request: IncomingMessage) => {
      const expires = issued.get((request.headers.authorization ?? '').replace(/^Bearer /, ''))
      return expires !== undefined && expires > Date.now()
    }

    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://fake')
      if (url.pathname === '/token') {
        const token = `tok-${randomUUID()}`
        issued.set(token, Date.now() + 2000)
        response.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({expires_in: 2, token}))
        return
      }

      if (request.method === 'POST') {
        if (!valid(request)) response.writeHead(401, challenge()).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
        else response.writeHead(202, {location: `/v2/late/app/blobs/uploads/${randomUUID()}`, range: '0-0'}).end()
        return
      }

      if (request.method === 'GET' && url.pathname.includes('/blobs/uploads/')) {
        if (!valid(request)) response.writeHead(401, challenge()).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
        else response.writeHead(204, {location: url.pathname, range: '0-0'}).end()
        return
      }

      if (request.method === 'PUT') {
        // The body first, read slowly the first time (about 3 s); the token is judged at its end.
        let bytes = 0
        request.on('data', (chunk: Buffer) => {
          bytes += chunk.length
          if (slow) {
            request.pause()
            setTimeout(() => request.resume(), 60)
          }
        })
        request.on('end', () => {
          slow = false
          const status = !valid(request) ? 401 : bytes === blob.length && url.searchParams.get('digest') === digest ? 201 : 400
          puts.push({bytes, status})
          if (status === 401) response.writeHead(401, challenge()).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
          else response.writeHead(status, {'docker-content-digest': digest, location: `/v2/late/app/blobs/${digest}`}).end()
        })
        return
      }

      response.writeHead(valid(request) ? 200 : 401, challenge()).end('{}')
    })
    port = await listen(server)
    closers.push(async () => {
      server.closeAllConnections()
      await new Promise((resolvePromise) => server.close(resolvePromise))
    })
    const file = join(mkdtempSync(join(tmpdir(), 'regshape-late-')), 'blob')
    writeFileSync(file, blob)
    const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/late/app`, '-f', file, '-d', digest])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.include({digest})
    expect(puts.map((put) => put.status)).to.deep.equal([401, 201])
    expectNoStackTrace(result)
  })
})

/** The config digest of a manifest on a Basic registry. */
async function configDigest(registry: RegistryHandle, manifestDigest: string): Promise<string> {
  const body = await new Promise<Buffer>((resolvePromise, reject) => {
    const authorization = `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}`
    httpRequest(`${registry.url}/v2/resume/three/manifests/${manifestDigest}`, {headers: {accept: MEDIA.ociManifest, authorization}}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolvePromise(Buffer.concat(chunks)))
    })
      .on('error', reject)
      .end()
  })
  return (JSON.parse(body.toString('utf8')) as {config: {digest: string}}).config.digest
}

