import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseRegistry} from '../../../src/reference/registry.js'
import type {Tracer} from '../../../src/telemetry/tracer.js'
import type {HttpExchange} from '../../../src/telemetry/tracer.js'
import {readCapped, Transport} from '../../../src/transport/transport.js'
import {generated, ImagePusher} from '../../fixtures/images.js'
import {basicRegistry, tokenRegistry, USERS} from '../../fixtures/servers.js'
import {type HostileServer, startHostile} from '../../helpers/hostile.js'
import {rejection} from './helpers.js'

const {alice} = USERS
const MiB = 1024 * 1024
const here = dirname(fileURLToPath(import.meta.url))

/** A tracer that keeps what telemetry would print. */
function recorder(): Tracer & {exchanges: HttpExchange[]; methods: Array<{name: string; ok: boolean}>} {
  const exchanges: HttpExchange[] = []
  const methods: Array<{name: string; ok: boolean}> = []
  return {
    exchanges,
    helper() {},
    http: (exchange) => exchanges.push(exchange),
    async method<T>(name: string, operation: () => Promise<T>) {
      try {
        const result = await operation()
        methods.push({name, ok: true})
        return result
      } catch (error) {
        methods.push({name, ok: false})
        throw error
      }
    },
    methods,
    step: <T>(_name: string, operation: () => Promise<T>) => operation(),
  }
}

async function sha256Of(body: NodeJS.ReadableStream): Promise<{bytes: number; digest: string}> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of body) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }

  return {bytes, digest: `sha256:${hash.digest('hex')}`}
}

function runChild(env: Record<string, string>): Promise<{bytes: number; digest: string; growth: number}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, 'stream-memory-child.ts')], {
      env: {...process.env, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolvePromise(JSON.parse(stdout)) : reject(new Error(`child exited ${code}: ${stderr}`))))
  })
}

describe('transport: streamed bodies (Transport.stream)', () => {
  const clients: Transport[] = []
  const servers: HostileServer[] = []
  async function client(options: Parameters<typeof Transport.create>[0] = {}): Promise<Transport> {
    const created = await Transport.create(options)
    clients.push(created)
    return created
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    for (const s of servers.splice(0)) await s.close()
  })

  describe('against the real registry', function () {
    this.timeout(180_000)

    it('streams a 64 MiB blob, hashed on the way, with RSS growth far below the blob (child process)', async () => {
      const registry = await basicRegistry()
      const repository = 'transport/stream'
      const blob = await new ImagePusher(registry).blob(repository, {seed: 1164, size: 64 * MiB})
      const env = {BLOB_DIGEST: blob.digest, REGISTRY_HOST: registry.host, REGISTRY_PASSWORD: alice.password, REGISTRY_USER: alice.username, REPOSITORY: repository}
      const streamed = await runChild(env)
      expect(streamed.bytes).to.equal(64 * MiB)
      expect(streamed.digest).to.equal(blob.digest)
      expect(streamed.growth, `RSS growth ${(streamed.growth / MiB).toFixed(1)} MiB`).to.be.below(32 * MiB)
      // The control: the same blob read whole grows the process by at least its size, so the
      // measure above would catch a body held in memory.
      const buffered = await runChild({...env, MODE: 'buffer'})
      expect(buffered.digest).to.equal(blob.digest)
      expect(buffered.growth, `RSS growth ${(buffered.growth / MiB).toFixed(1)} MiB`).to.be.above(60 * MiB)
    })

    it('streams through token auth: the blob.get and token labels reach telemetry, bytes counted, body bytes never shown', async () => {
      const registry = await tokenRegistry()
      const repository = 'transport/labels'
      const blob = await new ImagePusher(registry).blob(repository, {seed: 77, size: 3 * MiB})
      const tracer = recorder()
      const c = await client({tracer})
      const response = await c.stream(
        parseRegistry(registry.host),
        {method: 'GET', operation: 'blob.get', path: `/v2/${repository}/blobs/${blob.digest}`, scope: `repository:${repository}:pull`},
        async () => ({password: alice.password, username: alice.username}),
      )
      expect(response).to.include({authScheme: 'bearer', challenged: true, status: 200})
      expect(await sha256Of(response.body)).to.deep.equal({bytes: 3 * MiB, digest: blob.digest})
      await new Promise((resolvePromise) => setImmediate(resolvePromise))
      expect(tracer.exchanges.map((e) => `${e.operation} ${e.method} ${new URL(e.url).pathname} ${e.status}`)).to.deep.equal([
        `blob.get GET /v2/${repository}/blobs/${blob.digest} 401`,
        'token GET /token 200',
        `blob.get GET /v2/${repository}/blobs/${blob.digest} 200`,
      ])
      const last = tracer.exchanges[2]
      expect(last.bytesReceived).to.equal(3 * MiB)
      expect(last.responseBody).to.equal(undefined)
      expect(tracer.methods).to.deep.include({name: `registry blob.get GET /v2/${repository}/blobs/${blob.digest}`, ok: true})
    })

    it('gives a 404 as a stream too, whose error JSON readCapped reads', async () => {
      const registry = await basicRegistry()
      const c = await client()
      const missing = `sha256:${'0'.repeat(64)}`
      const response = await c.stream(parseRegistry(registry.host), {method: 'GET', operation: 'blob.get', path: `/v2/transport/stream/blobs/${missing}`}, async () => ({
        password: alice.password,
        username: alice.username,
      }))
      expect(response.status).to.equal(404)
      const body = JSON.parse((await readCapped(response.body, 64 * 1024)).toString('utf8'))
      expect(body.errors[0].code).to.equal('BLOB_UNKNOWN')
      const cut = await c.stream(parseRegistry(registry.host), {method: 'GET', path: `/v2/transport/stream/blobs/${missing}`}, async () => ({
        password: alice.password,
        username: alice.username,
      }))
      expect((await readCapped(cut.body, 10)).toString('utf8')).to.equal('{"errors":')
      expect(cut.body.destroyed).to.equal(true)
    })
  })

  it('follows a blob GET 307-redirected to another origin (object storage) without the Authorization', async () => {
    // Stands for a registry whose storage driver redirects blob GETs to S3/GCS-style object
    // storage (Docker Hub, ECR, GHCR do): distribution's filesystem driver never redirects.
    const size = 2 * MiB + 123
    const storage = await startHostile(
      (_request, response) => {
        response.writeHead(200, {'content-length': String(size), 'content-type': 'application/octet-stream'})
        generated(5, size).pipe(response)
      },
      {address: '127.0.0.2'},
    )
    servers.push(storage)
    const registry = await startHostile((request, response) => {
      if (request.headers.authorization !== `Basic ${Buffer.from('alice:s3cr3t').toString('base64')}`) {
        response.writeHead(401, {'www-authenticate': 'Basic realm="r"'})
        response.end()
        return
      }

      response.writeHead(307, {location: `${storage.origin}/bucket/blob?X-Amz-Signature=abc`})
      response.end()
    })
    servers.push(registry)
    const tracer = recorder()
    const c = await client({tracer})
    const response = await c.stream(parseRegistry(registry.host), {method: 'GET', operation: 'blob.get', path: '/v2/a/blobs/sha256:x'}, async () => ({
      password: 's3cr3t',
      username: 'alice',
    }))
    expect(response.status).to.equal(200)
    expect(response.url).to.equal(`${storage.origin}/bucket/blob?X-Amz-Signature=abc`)
    const expected = createHash('sha256')
    for await (const chunk of generated(5, size)) expected.update(chunk as Buffer)
    expect(await sha256Of(response.body)).to.deep.equal({bytes: size, digest: `sha256:${expected.digest('hex')}`})
    expect(registry.requests.at(-1)?.headers.authorization).to.match(/^Basic /)
    expect(storage.requests).to.have.length(1)
    expect(storage.requests[0].headers).not.to.have.property('authorization')
    expect(storage.requests[0].headers).not.to.have.property('cookie')
  })

  it('caps a body read by request() at 4 MiB, or at maxBodyBytes; stream() has no cap', async () => {
    // A registry answering a JSON request with far too much (a broken proxy, a hostile server).
    const size = 5 * MiB
    const server = await startHostile((_request, response) => {
      response.writeHead(200, {'content-length': String(size), 'content-type': 'application/json'})
      response.end(Buffer.alloc(size, 0x20))
    })
    servers.push(server)
    const c = await client()
    const ref = parseRegistry(`http://${server.host}`)
    const request = {method: 'GET' as const, operation: 'manifest.get', path: '/v2/a/manifests/latest'}
    const error = await rejection(c.request(ref, request, async () => undefined))
    expect(error.message).to.match(/^response from http:\/\/127\.0\.0\.1:\d+\/v2\/a\/manifests\/latest is larger than 4194304 bytes$/)
    expect((await c.request(ref, {...request, maxBodyBytes: 8 * MiB}, async () => undefined)).body.length).to.equal(size)
    expect((await sha256Of((await c.stream(ref, request, async () => undefined)).body)).bytes).to.equal(size)
  })

  it('refuses to resend a request body to another origin, even on a 307', async () => {
    const elsewhere = await startHostile((_request, response) => response.end('{}'), {address: '127.0.0.2'})
    servers.push(elsewhere)
    const registry = await startHostile((_request, response) => {
      response.writeHead(307, {location: `${elsewhere.origin}/upload`})
      response.end()
    })
    servers.push(registry)
    const c = await client()
    const put = c.stream(parseRegistry(registry.host), {body: () => generated(1, 1000), contentLength: 1000, method: 'PUT', path: '/v2/a/blobs/uploads/x'}, async () => undefined)
    expect((await rejection(put)).message).to.match(/redirects a PUT request to another origin .* never resent elsewhere/)
    expect(elsewhere.requests).to.have.length(0)
  })
})
