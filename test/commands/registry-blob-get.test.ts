import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {type Server, createServer, get} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {type SeededImages, seedImages} from '../fixtures/images.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {expectNoStackTrace, RUN_JS, runCli} from '../helpers/cli.js'
import {runOnPty} from '../helpers/pty.js'

const REPO = 'blobs/app'
const {alice} = USERS

function loginConfig(...registries: RegistryHandle[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-blobget-'))
  const auth = Buffer.from(`${alice.username}:${alice.password}`).toString('base64')
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(registries.map((r) => [r.host, {auth}]))}))
  return directory
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

/** The CLI with stdout kept as bytes (the blob itself, with -o -). */
function runForBytes(args: string[], env: NodeJS.ProcessEnv): Promise<{code: null | number; stderr: string; stdout: Buffer}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], {env: {HOME: mkdtempSync(join(tmpdir(), 'regshape-home-')), PATH: process.env.PATH, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    const out: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({code, stderr, stdout: Buffer.concat(out)}))
  })
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  return (server.address() as AddressInfo).port
}

describe('blob get', function () {
  this.timeout(120_000)
  let basic: RegistryHandle
  let seeded: SeededImages
  let config: string
  /** The 3 MiB layer, as the fixture generated and pushed it (fetched here with plain node:http). */
  let layer: Buffer

  before(async () => {
    basic = await basicRegistry()
    seeded = await seedImages(basic, REPO, {bigLayerBytes: 3 * 1024 * 1024 + 5})
    config = loginConfig(basic)
    layer = await new Promise<Buffer>((resolvePromise, reject) => {
      const authorization = `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}`
      const chunks: Buffer[] = []
      get(`${basic.url}/v2/${REPO}/blobs/${seeded.bigLayer.digest}`, {headers: {authorization}}, (response) => {
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolvePromise(Buffer.concat(chunks)))
      }).on('error', reject)
    })
    expect(sha256(layer)).to.equal(seeded.bigLayer.digest)
  })

  it('-o FILE writes the verified blob and prints its metadata; nothing else is left in the directory', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const file = join(directory, 'layer.tar.gz')
    const result = await runCli(['blob', 'get', '-r', `${basic.host}/${REPO}`, '-d', seeded.bigLayer.digest, '-o', file, '--chunk-size', '1048576'], {env: {DOCKER_CONFIG: config}})
    expect(result.code, result.stderr).to.equal(0)
    expect(readFileSync(file).equals(layer)).to.equal(true)
    expect(JSON.parse(result.stdout)).to.deep.equal({content_type: 'application/octet-stream', digest: seeded.bigLayer.digest, size: layer.length})
    expect(readdirSync(directory)).to.deep.equal(['layer.tar.gz'])
    // No bar without a terminal under --progress auto.
    expect(result.stderr).to.equal('')
  })

  it('-o - streams the bytes to stdout and prints nothing else there; the positional reference works', async () => {
    const result = await runForBytes(['blob', 'get', `${basic.host}/${REPO}@${seeded.bigLayer.digest}`, '-o', '-', '--progress', 'plain'], {DOCKER_CONFIG: config})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout.equals(layer)).to.equal(true)
    expect(result.stderr).to.match(new RegExp(`^${seeded.bigLayer.digest.slice(0, 19)}: ${layer.length} bytes in \\d+\\.\\d s\\n$`))
  })

  it('without -o it downloads and verifies, then prints the metadata (the token registry, pull scope only)', async () => {
    const token = await tokenRegistry()
    const tokenSeeded = await seedImages(token, REPO, {bigLayerBytes: 100_000})
    token.tokenServer.reset()
    const result = await runCli(['--json', 'blob', 'get', '-r', `${token.host}/${REPO}`, '-d', tokenSeeded.bigLayer.digest], {env: {DOCKER_CONFIG: loginConfig(token)}})
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.include({digest: tokenSeeded.bigLayer.digest, size: 100_000})
    expect(token.tokenServer.requests.flatMap((request) => request.scopes)).to.deep.equal([`repository:${REPO}:pull`])
  })

  it('a missing blob is exit 1 naming the reference and the OCI code, with no file left', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const missing = `sha256:${'0'.repeat(64)}`
    const result = await runCli(['blob', 'get', `${basic.host}/${REPO}@${missing}`, '-o', join(directory, 'x')], {env: {DOCKER_CONFIG: config}})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.equal(`Error: blob get ${basic.host}/${REPO}@${missing}: BLOB_UNKNOWN: blob unknown to registry\n`)
    expect(readdirSync(directory)).to.deep.equal([])
  })

  describe('a registry that serves the wrong bytes (a node:http server standing for corrupt storage)', () => {
    let server: Server
    let port: number
    const digest = sha256(Buffer.from('the right bytes'))

    before(async () => {
      server = createServer((request, response) => {
        if (request.url === '/v2/') {
          response.writeHead(200, {'docker-distribution-api-version': 'registry/2.0'}).end('{}')
          return
        }

        const body = Buffer.from('the wrong bytes')
        response.writeHead(200, {'content-length': String(body.length), 'content-type': 'application/octet-stream'}).end(body)
      })
      port = await listen(server)
    })

    after(() => server.close())

    it('fails with exit 1 and a digest mismatch, and leaves neither FILE nor a temporary', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const file = join(directory, 'blob')
      writeFileSync(file, 'an older download')
      const result = await runCli(['blob', 'get', `127.0.0.1:${port}/lying/repo@${digest}`, '-o', file])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.match(new RegExp(`^Error: blob get 127\\.0\\.0\\.1:${port}/lying/repo@${digest}: digest mismatch: expected ${digest}, got sha256:[0-9a-f]{64}\\n$`))
      expectNoStackTrace(result)
      // The file that was there stays as it was: a failed download replaces nothing.
      expect(readFileSync(file, 'utf8')).to.equal('an older download')
      expect(readdirSync(directory)).to.deep.equal(['blob'])
    })

    it('-o - reports the mismatch after the bytes, with exit 1; without -o nothing is printed on stdout', async () => {
      const piped = await runForBytes(['blob', 'get', `127.0.0.1:${port}/lying/repo@${digest}`, '-o', '-'], {})
      expect(piped.code).to.equal(1)
      expect(piped.stderr).to.include('digest mismatch')
      const plain = await runCli(['blob', 'get', `127.0.0.1:${port}/lying/repo@${digest}`])
      expect(plain.code).to.equal(1)
      expect(plain.stdout).to.equal('')
    })
  })

  it('an interrupted download (SIGINT) leaves no temporary beside FILE', async () => {
    // A registry that sends the first bytes and then nothing (a node:http server standing for a slow link).
    const server = createServer((request, response) => {
      if (request.url === '/v2/') {
        response.writeHead(200).end('{}')
        return
      }

      response.writeHead(200, {'content-length': '1000000'})
      response.write(Buffer.alloc(1000))
    })
    const port = await listen(server)
    try {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const child = spawn(process.execPath, [RUN_JS, 'blob', 'get', `127.0.0.1:${port}/slow/repo@sha256:${'1'.repeat(64)}`, '-o', join(directory, 'blob')], {
        env: {HOME: mkdtempSync(join(tmpdir(), 'regshape-home-')), PATH: process.env.PATH},
        stdio: 'ignore',
      })
      const deadline = Date.now() + 15_000
      while (readdirSync(directory).length === 0 && Date.now() < deadline) await new Promise((resolvePromise) => setTimeout(resolvePromise, 25))
      expect(readdirSync(directory), 'the temporary appears').to.have.length(1)
      child.kill('SIGINT')
      const signal = await new Promise((resolvePromise) => child.on('close', (_code, received) => resolvePromise(received)))
      expect(signal).to.equal('SIGINT')
      expect(readdirSync(directory)).to.deep.equal([])
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('--progress auto draws a bar on a terminal, on stderr', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const result = await runOnPty(['blob', 'get', `${basic.host}/${REPO}@${seeded.bigLayer.digest}`, '-o', join(directory, 'layer')], [], {DOCKER_CONFIG: config, HOME: mkdtempSync(join(tmpdir(), 'regshape-home-'))})
    expect(result.code, result.transcript).to.equal(0)
    expect(result.transcript).to.include('100%').and.to.include(`${layer.length}/${layer.length} bytes`)
    expect(existsSync(join(directory, 'layer'))).to.equal(true)
  })

  it('a reference without a digest is a usage error (exit 2) before any request', async () => {
    const mark = basic.markLogs()
    const result = await runCli(['blob', 'get', `${basic.host}/${REPO}:latest`], {env: {DOCKER_CONFIG: config}})
    expect(result.code).to.equal(2)
    expect(result.stderr.trim().split('\n')).to.have.length(1)
    expect(basic.requestLog(mark)).to.deep.equal([])
  })
})
