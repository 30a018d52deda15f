import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {seedImages} from '../fixtures/images.js'
import {makeClientCertificate, makePki, type Pki} from '../fixtures/pki.js'
import {runProcess} from '../fixtures/proc.js'
import {type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {USERS} from '../fixtures/servers.js'
import {expectNoStackTrace, runCli, tempHome} from '../helpers/cli.js'

/**
 * Per-registry TLS the docker way, from a HOME of the test's own: its user-level certs.d
 * (~/.config/containers/certs.d, ~/.config/docker/certs.d) is searched before /etc, so the real
 * /etc/docker is never written. The registries are real distribution registries; the mutual-TLS
 * one is configured with http.tls.clientcas and refuses a handshake without a client certificate
 * it trusts.
 */

const {alice} = USERS

/** HOME with `<root>/<host>/` holding the given files (name → source path). */
function homeWith(root: string, host: string, files: Record<string, string>): {certDir: string; home: string} {
  const home = tempHome()
  const certDir = join(home, root, host)
  mkdirSync(certDir, {recursive: true})
  for (const [name, source] of Object.entries(files)) copyFileSync(source, join(certDir, name))
  return {certDir, home}
}

describe('per-registry TLS from certs.d (CA certificates and client certificates)', function () {
  this.timeout(120_000)
  /** A CA of its own: nothing but its certs.d directory makes regshape trust it. */
  let pki: Pki
  /** Another CA, for a client certificate the registry does not trust. */
  let strangerPki: Pki
  let tlsRegistry: RegistryHandle
  let mtlsRegistry: RegistryHandle
  let client: ReturnType<typeof makeClientCertificate>

  before(async () => {
    pki = makePki(mkdtempSync(join(tmpdir(), 'regshape-pki-certsd-')))
    strangerPki = makePki(mkdtempSync(join(tmpdir(), 'regshape-pki-stranger-')))
    client = makeClientCertificate(pki, 'client')
    const tls = {caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile}
    tlsRegistry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}, tls})
    mtlsRegistry = await startRegistry({
      auth: {kind: 'htpasswd', users: {alice: alice.password}},
      tls: {...tls, clientCaFiles: [pki.caFile], probeClient: {certFile: client.certFile, keyFile: client.keyFile}},
    })
    await seedImages(mtlsRegistry, 'mtls/app', {bigLayerBytes: 4096})
  })

  after(async () => {
    await Promise.all([tlsRegistry?.close(), mtlsRegistry?.close()])
  })

  it('trusts the ca.crt of ~/.config/containers/certs.d/<host:port> for that registry, without --ca-file', async () => {
    const {home} = homeWith('.config/containers/certs.d', tlsRegistry.host, {'ca.crt': pki.caFile})
    const result = await runCli(['--json', 'ping', tlsRegistry.host], {env: {HOME: home}})
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.include({reachable: true, url: `https://${tlsRegistry.host}/v2/`})
  })

  it('reads any *.crt, and ~/.config/docker/certs.d (rootless docker) too; XDG_CONFIG_HOME moves both', async () => {
    const {home} = homeWith('.config/docker/certs.d', tlsRegistry.host, {'my-registry.crt': pki.caFile})
    const result = await runCli(['ping', tlsRegistry.host], {env: {HOME: home}})
    expect(result.code, result.stderr).to.equal(0)
    const xdg = mkdtempSync(join(tmpdir(), 'regshape-xdg-'))
    mkdirSync(join(xdg, 'containers', 'certs.d', tlsRegistry.host), {recursive: true})
    copyFileSync(pki.caFile, join(xdg, 'containers', 'certs.d', tlsRegistry.host, 'ca.crt'))
    const moved = await runCli(['ping', tlsRegistry.host], {env: {HOME: tempHome(), XDG_CONFIG_HOME: xdg}})
    expect(moved.code, moved.stderr).to.equal(0)
  })

  it('does not trust the CA for another host, or from a file that is not *.crt', async () => {
    for (const [host, name] of [
      ['127.0.0.1:1', 'ca.crt'],
      [tlsRegistry.host, 'ca.pem'],
    ]) {
      const {home} = homeWith('.config/containers/certs.d', host, {[name]: pki.caFile})
      const result = await runCli(['ping', tlsRegistry.host], {env: {HOME: home}})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(
        `Error: Registry ${tlsRegistry.host} is not reachable: TLS: unable to verify the first certificate (use --ca-file or a certs.d ca.crt to trust its CA, or --insecure to skip verification)\n`,
      )
    }
  })

  it('presents client.cert and client.key to a registry that requires a client certificate (mutual TLS)', async () => {
    const {home} = homeWith('.config/containers/certs.d', mtlsRegistry.host, {'ca.crt': pki.caFile, 'client.cert': client.certFile, 'client.key': client.keyFile})
    const config = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
    writeFileSync(join(config, 'config.json'), '{}')
    const login = await runCli(['auth', 'login', mtlsRegistry.host, '-u', 'alice', '-p', alice.password], {env: {DOCKER_CONFIG: config, HOME: home}})
    expect(login.code, login.stderr).to.equal(0)
    expect(login.stdout).to.include('Login succeeded.')
    const tags = await runCli(['tag', 'list', `${mtlsRegistry.host}/mtls/app`], {env: {DOCKER_CONFIG: config, HOME: home}})
    expect(tags.code, tags.stderr).to.equal(0)
    expect(tags.stdout.split('\n')).to.include('oci')
    // skopeo reads the same directory: the layout is the one the containers tools know.
    const skopeo = await runProcess('skopeo', ['list-tags', '--creds', `alice:${alice.password}`, `docker://${mtlsRegistry.host}/mtls/app`], {env: {HOME: home, PATH: process.env.PATH}})
    expect(skopeo.code, skopeo.stderr).to.equal(0)
    expect(JSON.parse(skopeo.stdout).Tags).to.include('oci')
  })

  it('blob get presents the client certificate through the bulk reader too, and trusts only the certs.d CA', async () => {
    const {home} = homeWith('.config/containers/certs.d', mtlsRegistry.host, {'ca.crt': pki.caFile, 'client.cert': client.certFile, 'client.key': client.keyFile})
    const layer = (await seedImages(mtlsRegistry, 'mtls/app', {bigLayerBytes: 2 * 1024 * 1024})).bigLayer
    const result = await runCli(['blob', 'get', `${mtlsRegistry.host}/mtls/app@${layer.digest}`, '-u', 'alice', '-p', alice.password, '--debug-calls'], {env: {HOME: home}})
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.include({digest: layer.digest, size: layer.size})
    expect(result.stderr).to.match(/< HTTP 200 OK\n(?:< .*\n)*<\n\* bulk reader: \d+ reads/)
    const {home: withoutClient} = homeWith('.config/containers/certs.d', mtlsRegistry.host, {'ca.crt': pki.caFile})
    const refused = await runCli(['blob', 'get', `${mtlsRegistry.host}/mtls/app@${layer.digest}`, '-u', 'alice', '-p', alice.password], {env: {HOME: withoutClient}})
    expect(refused.code).to.equal(1)
    expect(refused.stderr).to.include(`it wants a client certificate; put client.cert and client.key in ~/.config/containers/certs.d/${mtlsRegistry.host}/`)
    expectNoStackTrace(refused)
  })

  it('fails in one line, never falling back to plain HTTP, without a client certificate or with one the registry does not trust', async () => {
    const stranger = makeClientCertificate(strangerPki, 'stranger')
    const cases: Array<[Record<string, string>, (certDir: string) => string]> = [
      [{'ca.crt': pki.caFile}, () => `it wants a client certificate; put client.cert and client.key in ~/.config/containers/certs.d/${mtlsRegistry.host}/`],
      [{'ca.crt': pki.caFile, 'client.cert': stranger.certFile, 'client.key': stranger.keyFile}, (certDir) => `refused the client certificate from ${certDir} (alert: bad certificate)`],
    ]
    for (const [files, words] of cases) {
      const {certDir, home} = homeWith('.config/containers/certs.d', mtlsRegistry.host, files)
      const mark = mtlsRegistry.markLogs()
      const result = await runCli(['--debug-calls', 'tag', 'list', `${mtlsRegistry.host}/mtls/app`], {env: {HOME: home}})
      expect(result.code).to.equal(1)
      const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error'))
      expect(errors).to.have.length(1)
      expect(errors[0]).to.match(new RegExp(`^Error: tag list ${mtlsRegistry.host}/mtls/app: TLS: ${mtlsRegistry.host} refused `))
      expect(errors[0]).to.include(words(certDir))
      expect(result.stderr).to.not.include('http://')
      expectNoStackTrace(result)
      expect(mtlsRegistry.requestLog(mark)).to.have.length(0)
    }
  })

  it('refuses a client certificate without its key, as docker does', async () => {
    const {certDir, home} = homeWith('.config/containers/certs.d', mtlsRegistry.host, {'ca.crt': pki.caFile, 'client.cert': client.certFile})
    const result = await runCli(['ping', mtlsRegistry.host], {env: {HOME: home}})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.equal(`Error: missing key client.key for client certificate client.cert in ${certDir}; CA certificates must use the extension .crt\n`)
  })
})

describe("TLS errors give regshape's advice, never Node's", function () {
  this.timeout(60_000)

  it('names --ca-file and certs.d, not a Node flag, whatever Node runs it (Node 24 adds "try running Node.js with --use-system-ca")', async () => {
    // Stands for a registry whose certificate is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT): the
    // real registry serves the CA-signed one, which gives the other code (tested above).
    const dir = mkdtempSync(join(tmpdir(), 'regshape-selfsigned-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'], {stdio: 'ignore'})
    const server = createServer({cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem'))}, (_request, response) => response.end('{}'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const result = await runCli(['ping', host])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(
        `Error: Registry ${host} is not reachable: TLS: self-signed certificate (use --ca-file or a certs.d ca.crt to trust its CA, or --insecure to skip verification)\n`,
      )
      const json = await runCli(['--json', 'tag', 'list', `${host}/any/repo`])
      expect(json.code).to.equal(1)
      expect(JSON.parse(json.stdout).error).to.match(/TLS: self-signed certificate \(use --ca-file /)
      for (const output of [result.stderr, json.stdout]) expect(output).to.not.match(/Node\.js|use-system-ca/)
    } finally {
      server.close()
    }
  })
})
