import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {type FaultProxy, startFaultProxy} from '../fixtures/fault-proxy.js'
import {ImagePusher, generated} from '../fixtures/images.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, USERS} from '../fixtures/servers.js'
import {RUN_JS, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * Blob downloads that survive real networks: a body that breaks is resumed with Range from the
 * byte it stopped at, hashing on from there; a server that answers a Range with 200 restarts the
 * blob; a download that still fails keeps FILE.part for --continue. The real registry sits behind
 * the fault-injecting TCP proxy (test/fixtures/fault-proxy.ts), which cuts, resets and stalls.
 */

const {alice} = USERS
const MiB = 1024 * 1024

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

async function bytesOf(seed: number, size: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of generated(seed, size)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function configFor(...hosts: string[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-resume-'))
  const auth = Buffer.from(`${alice.username}:${alice.password}`).toString('base64')
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(hosts.map((host) => [host, {auth}]))}))
  return directory
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  return (server.address() as AddressInfo).port
}

describe('blob get through a network that breaks', function () {
  this.timeout(240_000)
  let registry: RegistryHandle
  const proxies: FaultProxy[] = []

  before(async () => {
    registry = await basicRegistry()
  })

  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close()
  })

  async function proxy(): Promise<FaultProxy> {
    const started = await startFaultProxy(registry.port)
    proxies.push(started)
    return started
  }

  it('a 256 MiB blob through a cut, a reset and a stall finishes verified, each resume in --debug-calls, with no more than a read buffer received beyond the blob', async () => {
    const size = 256 * MiB
    const {digest} = await new ImagePusher(registry).blob('resume/big', {seed: 256, size})
    const faulty = await proxy()
    faulty.reset({down: [{at: 40 * MiB, kind: 'cut'}, {at: 120 * MiB, kind: 'reset'}, {at: 200 * MiB, kind: 'stall'}]})
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const file = join(directory, 'big')
    const result = await runCli(['blob', 'get', `${faulty.host}/resume/big@${digest}`, '-o', file, '--timeout', '2', '--debug-calls'], {env: {DOCKER_CONFIG: configFor(faulty.host)}, timeoutMs: 120_000})
    expect(result.code, result.stderr.slice(-3000)).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal({content_type: 'application/octet-stream', digest, size})
    expect(faulty.pending().down, 'every fault was met').to.deep.equal([])
    expect(statSync(file).size).to.equal(size)
    expect(readdirSync(directory)).to.deep.equal(['big'])
    // Each resume asks from the byte where the last body stopped, and is told so in a 206.
    const resumes = [...result.stderr.matchAll(/^\* resume (\d) of 3: from byte (\d+), after (\w+)$/gm)]
    expect(resumes.map((match) => [match[1], match[3]])).to.deep.equal([
      ['1', 'ECONNRESET'],
      ['2', 'ECONNRESET'],
      ['3', 'ETIMEDOUT'],
    ])
    for (const [, , from] of resumes) {
      expect(result.stderr).to.include(`> range: bytes=${from}-`)
      expect(result.stderr).to.include(`< content-range: bytes ${from}-${size - 1}/${size}`)
    }

    expect(result.stderr.match(/^< HTTP 206 Partial Content$/gm)).to.have.length(3)
    // What crossed the wire: the blob once, plus headers and 401s; never a read buffer (4 MiB) more.
    expect(faulty.bytesDown - size).to.be.within(0, 4 * MiB)
    expect(result.stderr).not.to.include(alice.password)
    expect(result.stderr).not.to.include(Buffer.from(`${alice.username}:${alice.password}`).toString('base64'))
  })

  it('a download that still fails on the network keeps FILE.part and says how to go on; --continue then asks only for the rest', async () => {
    const size = 24 * MiB
    const bytes = await bytesOf(2401, size)
    const {digest} = await new ImagePusher(registry).blob('resume/kept', bytes)
    const faulty = await proxy()
    faulty.reset({down: [{at: 10 * MiB, kind: 'reset'}]})
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const file = join(directory, 'kept')
    const config = configFor(faulty.host)
    const reference = `${faulty.host}/resume/kept@${digest}`
    const failed = await runCli(['blob', 'get', reference, '-o', file, '--retries', '0'], {env: {DOCKER_CONFIG: config}})
    expect(failed.code).to.equal(1)
    expectNoStackTrace(failed)
    const kept = statSync(`${file}.part`).size
    expect(kept).to.be.above(0).and.below(10 * MiB + 1)
    // A reset reaches the reader as ECONNRESET, or as an end before Content-Length when the
    // kernel has handed over the bytes before it (both are the same break to a user).
    const why = '(?:read ECONNRESET|the connection closed before the body ended)'
    const escaped = (text: string) => text.replaceAll(/[$()*+.?[\\\]^{|}]/g, '\\$&')
    expect(failed.stderr).to.match(new RegExp(`^Error: blob get ${escaped(reference)}: ${why}; ${escaped(file)}\\.part keeps the ${kept} bytes received; run the same command with --continue to go on from there\n$`))
    expect(existsSync(file)).to.equal(false)

    faulty.reset()
    const mark = registry.markLogs()
    const continued = await runCli(['blob', 'get', reference, '-o', file, '--continue', '--debug-calls'], {env: {DOCKER_CONFIG: config}})
    expect(continued.code, continued.stderr).to.equal(0)
    expect(readFileSync(file).equals(bytes)).to.equal(true)
    expect(readdirSync(directory)).to.deep.equal(['kept'])
    expect(continued.stderr).to.include(`> range: bytes=${kept}-`)
    const gets = registry.requestLog(mark).filter((entry) => entry.method === 'GET' && entry.path.includes('/blobs/'))
    expect(gets.map((entry) => [entry.status, entry.bytes])).to.deep.include([206, size - kept])
    expect(faulty.bytesDown - (size - kept)).to.be.within(0, 64 * 1024)
  })

  it('--continue after a SIGKILLed run goes on from the offset FILE.part holds', async () => {
    const size = 32 * MiB
    const bytes = await bytesOf(3201, size)
    const {digest} = await new ImagePusher(registry).blob('resume/killed', bytes)
    const faulty = await proxy()
    // A slow link, so the run is still downloading when it is killed.
    faulty.reset({throttleDown: 8 * MiB})
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const file = join(directory, 'killed')
    const config = configFor(faulty.host)
    const reference = `${faulty.host}/resume/killed@${digest}`
    const child = spawn(process.execPath, [RUN_JS, 'blob', 'get', reference, '-o', file], {
      env: {DOCKER_CONFIG: config, HOME: mkdtempSync(join(tmpdir(), 'regshape-home-')), PATH: process.env.PATH},
      stdio: 'ignore',
    })
    // Listened for at once: a run that ends on its own before the kill must not leave the test waiting.
    const closed = new Promise((resolvePromise) => child.on('close', resolvePromise))
    const deadline = Date.now() + 60_000
    while (!(existsSync(`${file}.part`) && statSync(`${file}.part`).size >= 4 * MiB) && Date.now() < deadline) await new Promise((resolvePromise) => setTimeout(resolvePromise, 20))
    child.kill('SIGKILL')
    await closed
    const kept = statSync(`${file}.part`).size
    expect(kept).to.be.within(4 * MiB, size - 1)

    faulty.reset()
    const continued = await runCli(['blob', 'get', reference, '-o', file, '--continue', '--progress', 'plain', '--debug-calls'], {env: {DOCKER_CONFIG: config}})
    expect(continued.code, continued.stderr).to.equal(0)
    expect(JSON.parse(continued.stdout)).to.include({digest, size})
    expect(readFileSync(file).equals(bytes)).to.equal(true)
    expect(continued.stderr).to.include(`> range: bytes=${kept}-`)
    expect(continued.stderr).to.match(new RegExp(`^${digest.slice(0, 19)}: ${size} bytes in \\d+\\.\\d s$`, 'm'))
    // Only the rest crossed the wire (and the headers).
    expect(faulty.bytesDown - (size - kept)).to.be.within(0, 64 * 1024)
  })

  it('--continue with a FILE.part that already holds the whole blob asks for nothing more and finishes', async () => {
    const bytes = await bytesOf(77, 300_000)
    const {digest} = await new ImagePusher(registry).blob('resume/whole', bytes)
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const file = join(directory, 'whole')
    writeFileSync(`${file}.part`, bytes)
    const result = await runCli(['blob', 'get', `${registry.host}/resume/whole@${digest}`, '-o', file, '--continue'], {env: {DOCKER_CONFIG: configFor(registry.host)}})
    expect(result.code, result.stderr).to.equal(0)
    expect(readFileSync(file).equals(bytes)).to.equal(true)
    expect(readdirSync(directory)).to.deep.equal(['whole'])
  })

  it('--continue needs -o FILE (exit 2)', async () => {
    const result = await runCli(['blob', 'get', `${registry.host}/resume/whole@sha256:${'0'.repeat(64)}`, '--continue'])
    expect(result.code).to.equal(2)
    expect(result.stderr).to.equal('Error: --continue needs -o FILE: it continues FILE.part\n')
  })

  describe('a server that answers a Range request with 200 (a node:http server standing for a CDN that ignores Range)', () => {
    let server: Server
    let port: number
    const blob = Buffer.alloc(3 * MiB)
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7 + (i >> 13)) & 0xff
    const digest = sha256(blob)
    const seen: Array<string | undefined> = []

    before(async () => {
      server = createServer((request: IncomingMessage, response: ServerResponse) => {
        if (request.url === '/v2/') {
          response.writeHead(200).end('{}')
          return
        }

        seen.push(request.headers.range)
        response.writeHead(200, {'content-length': String(blob.length), 'content-type': 'application/octet-stream'})
        // The first answer of each download breaks off after 1 MiB; the next one, to a Range, is the whole blob again.
        if (request.headers.range === undefined) {
          response.write(blob.subarray(0, MiB), () => setTimeout(() => response.socket?.destroy(), 50))
          return
        }

        response.end(blob)
      })
      port = await listen(server)
    })

    after(() => {
      server.closeAllConnections()
      server.close()
    })

    it('-o FILE restarts the blob: the file starts over and the digest is of the blob, once', async () => {
      seen.length = 0
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const file = join(directory, 'blob')
      const result = await runCli(['blob', 'get', `127.0.0.1:${port}/cdn/app@${digest}`, '-o', file])
      expect(result.code, result.stderr).to.equal(0)
      expect(seen).to.deep.equal([undefined, `bytes=${MiB}-`])
      expect(readFileSync(file).equals(blob)).to.equal(true)
      expect(JSON.parse(result.stdout)).to.include({digest, size: blob.length})
    })

    it('-o - skips what it already wrote: stdout holds the blob once', async () => {
      seen.length = 0
      const output = await new Promise<Buffer>((resolvePromise, reject) => {
        const child = spawn(process.execPath, [RUN_JS, 'blob', 'get', `127.0.0.1:${port}/cdn/app@${digest}`, '-o', '-'], {
          env: {HOME: mkdtempSync(join(tmpdir(), 'regshape-home-')), PATH: process.env.PATH},
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        const chunks: Buffer[] = []
        child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
        child.on('error', reject)
        child.on('close', (code) => (code === 0 ? resolvePromise(Buffer.concat(chunks)) : reject(new Error(`exit ${code}`))))
      })
      expect(seen).to.deep.equal([undefined, `bytes=${MiB}-`])
      expect(output.equals(blob)).to.equal(true)
    })
  })

  it('a body from storage on another origin that breaks is asked again at the registry, and the new redirect followed with Range and without the Authorization (node:http servers standing for a registry that redirects blobs to object storage)', async () => {
    const blob = Buffer.alloc(3 * MiB)
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 13 + (i >> 11)) & 0xff
    const digest = sha256(blob)
    const authorization = `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}`
    const registrySaw: Array<string | undefined> = []
    const storageSaw: Array<{authorization?: string; range?: string}> = []
    const storage = createServer((request, response) => {
      storageSaw.push({authorization: request.headers.authorization, range: request.headers.range})
      const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '')
      if (!range) {
        // The first answer breaks off after 1 MiB, as a storage connection dropped by a load balancer.
        response.writeHead(200, {'content-length': String(blob.length)})
        response.write(blob.subarray(0, MiB), () => setTimeout(() => response.socket?.destroy(), 50))
        return
      }

      const from = Number(range[1])
      response.writeHead(206, {'content-length': String(blob.length - from), 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}`}).end(blob.subarray(from))
    })
    const storagePort = await listen(storage)
    const registry = createServer((request, response) => {
      if (request.headers.authorization !== authorization) {
        response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"'}).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
        return
      }

      if (request.url === '/v2/') {
        response.writeHead(200).end('{}')
        return
      }

      registrySaw.push(request.headers.range)
      response.writeHead(307, {location: `http://localhost:${storagePort}/bucket/blob?X-Amz-Signature=s3cr3tsig`}).end()
    })
    const registryPort = await listen(registry)
    try {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const file = join(directory, 'blob')
      const result = await runCli(['blob', 'get', `127.0.0.1:${registryPort}/storage/app@${digest}`, '-u', 'alice', '-p', alice.password, '-o', file, '--debug-calls'])
      expect(result.code, result.stderr).to.equal(0)
      expect(readFileSync(file).equals(blob)).to.equal(true)
      // The resume starts at the registry again (a signed URL may have expired), with its Range...
      expect(registrySaw).to.have.length(2)
      expect(registrySaw[0]).to.equal(undefined)
      expect(registrySaw[1]).to.match(/^bytes=\d+-$/)
      // ...and storage sees the same Range, and never the registry's credentials.
      expect(storageSaw).to.deep.equal([{authorization: undefined, range: undefined}, {authorization: undefined, range: registrySaw[1]}])
      expect(Number(/^bytes=(\d+)-$/.exec(registrySaw[1] ?? '')?.[1])).to.be.within(1, MiB)
      expect(result.stderr).to.match(/^\* resume 1 of 3: from byte \d+, after \w+$/m)
      expect(result.stderr).not.to.include('s3cr3tsig')
      expect(result.stderr).not.to.include(alice.password)
    } finally {
      for (const server of [registry, storage]) {
        server.closeAllConnections()
        server.close()
      }
    }
  })

  it('a 206 whose Content-Range does not start at the byte asked for is refused, in one line (a node:http server standing for a broken cache)', async () => {
    const blob = Buffer.alloc(2 * MiB, 3)
    const digest = sha256(blob)
    const server = createServer((request, response) => {
      if (request.url === '/v2/') {
        response.writeHead(200).end('{}')
        return
      }

      if (request.headers.range === undefined) {
        response.writeHead(200, {'content-length': String(blob.length)})
        response.write(blob.subarray(0, MiB), () => setTimeout(() => response.socket?.destroy(), 50))
        return
      }

      response.writeHead(206, {'content-length': String(blob.length), 'content-range': `bytes 0-${blob.length - 1}/${blob.length}`}).end(blob)
    })
    const port = await listen(server)
    try {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const reference = `127.0.0.1:${port}/cache/app@${digest}`
      const result = await runCli(['blob', 'get', reference, '-o', join(directory, 'blob')])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.match(new RegExp(`^Error: blob get ${reference}: resuming at byte \\d+: the registry answered Range bytes=\\d+- with Content-Range bytes 0-${blob.length - 1}/${blob.length}, not the bytes from \\d+\\n$`))
      expect(readdirSync(directory)).to.deep.equal([])
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})
