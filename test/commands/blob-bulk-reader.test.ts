import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {type IncomingHttpHeaders, type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {ImagePusher, MEDIA, seedImages} from '../fixtures/images.js'
import {basicRegistry, basicTlsRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * The wire's bulk reader (src/transport/raw-http.ts) serves blob GETs in place of got: these
 * check that what the transport promises still holds on it, each time with --debug-calls showing
 * that the bulk reader served the body (`* bulk reader: N reads`). TLS with --ca-file and a token
 * registry are the real distribution registry; the redirect to storage and the server that
 * records break mode's header are node:http servers (distribution 2.8 never redirects a blob).
 * Proxies and certs.d client certificates: test/commands/proxy.test.ts, certs-d.test.ts.
 */

const {alice} = USERS
const BULK = /< HTTP 200 OK\n(?:< .*\n)*<\n\* bulk reader: \d+ reads, up to \d+ bytes each\n/
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  return (server.address() as AddressInfo).port
}

describe('blob get through the bulk reader', function () {
  this.timeout(120_000)

  it('over TLS, trusting --ca-file; without it, the handshake fails in regshape\'s words', async () => {
    const registry = await basicTlsRegistry()
    const layer = (await seedImages(registry, 'bulk/tls', {bigLayerBytes: 3 * 1024 * 1024})).bigLayer
    const reference = `${registry.host}/bulk/tls@${layer.digest}`
    const result = await runCli(['blob', 'get', reference, '-u', 'alice', '-p', alice.password, '--ca-file', registry.caFile, '--debug-calls'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.include({digest: layer.digest, size: layer.size})
    expect(result.stderr).to.match(BULK)
    expect(result.stderr).to.include(`* GET https://${reference.replace('@', '/blobs/').replace('/bulk/tls/', '/v2/bulk/tls/')}`)
    expectNoSecrets(result, [alice.password])
    const untrusted = await runCli(['blob', 'get', reference, '-u', 'alice', '-p', alice.password])
    expect(untrusted.code).to.equal(1)
    expect(untrusted.stderr.split('\n').filter((line) => line.startsWith('Error'))).to.deep.equal([
      `Error: blob get ${reference}: TLS: unable to verify the first certificate (use --ca-file or a certs.d ca.crt to trust its CA, or --insecure to skip verification)`,
    ])
    expectNoStackTrace(untrusted)
  })

  it('with token auth, the Authorization and the token masked in --debug-calls', async () => {
    const registry = await tokenRegistry()
    const layer = (await seedImages(registry, 'bulk/token', {bigLayerBytes: 1024 * 1024})).bigLayer
    registry.tokenServer.reset()
    const result = await runCli(['blob', 'get', `${registry.host}/bulk/token@${layer.digest}`, '-u', 'alice', '-p', alice.password, '--debug-calls'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.match(BULK)
    expect(result.stderr).to.include('> authorization: Bearer ***')
    expect(registry.tokenServer.issuedTokens).to.have.length.above(0)
    expectNoSecrets(result, [alice.password, ...registry.tokenServer.issuedTokens])
  })

  it('reuses one socket for many blobs without gathering listeners (a copy of 22 layers, one at a time, warns of nothing)', async () => {
    const registry = await basicRegistry()
    const pusher = new ImagePusher(registry)
    const config = await pusher.blob('bulk/many', Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), MEDIA.ociConfig)
    const layers = []
    for (let i = 0; i < 22; i++) layers.push(await pusher.blob('bulk/many', Buffer.from(`layer ${i} `.repeat(100 + i)), 'application/vnd.oci.image.layer.v1.tar+gzip'))
    await pusher.manifest('bulk/many', 'v1', Buffer.from(JSON.stringify({config, layers, mediaType: MEDIA.ociManifest, schemaVersion: 2})), MEDIA.ociManifest)
    const directory = mkdtempSync(join(tmpdir(), 'regshape-layout-'))
    const result = await runCli(['copy', `${registry.host}/bulk/many:v1`, `oci:${directory}`, '-u', 'alice', '-p', alice.password, '--concurrency', '1', '--progress', 'none'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/blobs 23 copied/)
    expect(result.stderr).not.to.include('MaxListenersExceededWarning')
  })

  describe('a registry that redirects blobs to storage on another origin, and under break rules (node:http servers standing for a registry with object storage)', () => {
    const blob = Buffer.alloc(2 * 1024 * 1024 + 17, 9)
    const digest = sha256(blob)
    const authorization = `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}`
    let registry: Server
    let storage: Server
    let registryPort: number
    let storagePort: number
    const storageSaw: IncomingHttpHeaders[] = []
    const registrySaw: IncomingHttpHeaders[] = []

    before(async () => {
      storage = createServer((request, response) => {
        storageSaw.push(request.headers)
        response.writeHead(200, {'content-length': String(blob.length), 'content-type': 'application/octet-stream'}).end(blob)
      })
      storagePort = await listen(storage)
      registry = createServer((request, response) => {
        registrySaw.push(request.headers)
        if (request.headers.authorization !== authorization) {
          response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"'}).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
          return
        }

        response.writeHead(307, {location: `http://localhost:${storagePort}/bucket/blob?X-Amz-Signature=s3cr3tsig`}).end()
      })
      registryPort = await listen(registry)
    })

    after(() => {
      for (const server of [registry, storage]) {
        server.closeAllConnections()
        server.close()
      }
    })

    it('follows the redirect through the bulk reader, without the Authorization, the signature masked', async () => {
      storageSaw.length = 0
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const result = await runCli(['blob', 'get', `127.0.0.1:${registryPort}/bulk/app@${digest}`, '-u', 'alice', '-p', alice.password, '-o', join(directory, 'blob'), '--debug-calls'])
      expect(result.code, result.stderr).to.equal(0)
      expect(readFileSync(join(directory, 'blob')).equals(blob)).to.equal(true)
      expect(storageSaw).to.have.length(1)
      expect(storageSaw[0].authorization).to.equal(undefined)
      expect(result.stderr).to.include(`* GET http://localhost:${storagePort}/bucket/blob?X-Amz-Signature=***`)
      expect(result.stderr).to.match(BULK)
      expectNoSecrets(result, [alice.password, 's3cr3tsig'])
    })

    it('keeps the address guard: a redirect to the metadata address is refused before connecting; storage on 127.0.0.2 is read by the bulk reader', async () => {
      const guarded = createServer((request, response) => {
        if (request.url === '/v2/') response.writeHead(200).end('{}')
        else response.writeHead(307, {location: request.url?.includes('metadata') ? 'http://169.254.169.254/latest/meta-data/' : `http://127.0.0.2:${privatePort}/bucket/blob`}).end()
      })
      const privateStorage = createServer((_request, response) => {
        response.writeHead(200, {'content-length': String(blob.length)}).end(blob)
      })
      await new Promise<void>((resolvePromise) => privateStorage.listen(0, '127.0.0.2', resolvePromise))
      const privatePort = (privateStorage.address() as AddressInfo).port
      const port = await listen(guarded)
      try {
        const refused = await runCli(['blob', 'get', `127.0.0.1:${port}/metadata/app@${digest}`, '--debug-calls'])
        expect(refused.code).to.equal(1)
        expect(refused.stderr).to.match(new RegExp(`\\nError: blob get 127\\.0\\.0\\.1:${port}/metadata/app@${digest}: the registry redirects to 169\\.254\\.169\\.254, a link-local or cloud metadata address; refusing to follow it\\n$`))
        expect(refused.stderr).not.to.include('* GET http://169.254.169.254')
        const followed = await runCli(['blob', 'get', `127.0.0.1:${port}/private/app@${digest}`, '--debug-calls'])
        expect(followed.code, followed.stderr).to.equal(0)
        expect(followed.stderr).to.include(`* GET http://127.0.0.2:${privatePort}/bucket/blob`)
        expect(followed.stderr).to.match(BULK)
      } finally {
        for (const server of [guarded, privateStorage]) {
          server.closeAllConnections()
          server.close()
        }
      }
    })

    it('applies break rules to the request the bulk reader sends, and reports them', async () => {
      registrySaw.length = 0
      storageSaw.length = 0
      const rules = join(mkdtempSync(join(tmpdir(), 'regshape-rules-')), 'rules.yaml')
      writeFileSync(rules, 'rules:\n  - use: custom_header\n    key: X-Broken\n    value: on-purpose\n    match: {operation: blob.get}\n')
      const result = await runCli(['blob', 'get', `127.0.0.1:${registryPort}/bulk/app@${digest}`, '-u', 'alice', '-p', alice.password, '--break', '--break-rules', rules, '--debug-calls'])
      expect(result.code, result.stderr).to.equal(0)
      expect(registrySaw.map((headers) => headers['x-broken'])).to.deep.equal(['on-purpose', 'on-purpose'])
      expect(storageSaw.map((headers) => headers['x-broken'])).to.deep.equal(['on-purpose'])
      expect(result.stderr).to.match(/^break: .*X-Broken/m)
      expect(result.stderr).to.match(BULK)
      expectNoStackTrace(result)
    })
  })
})
