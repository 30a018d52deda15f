import {expect} from 'chai'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseRegistry} from '../../src/reference/registry.js'
import type {Resolver} from '../../src/transport/addresses.js'
import {proxySettingsFromEnv} from '../../src/transport/proxy.js'
import {Transport} from '../../src/transport/transport.js'
import {seedImages} from '../fixtures/images.js'
import {sharedPki} from '../fixtures/pki.js'
import {freePort, waitFor} from '../fixtures/ports.js'
import {type ProxyHandle, startProxy} from '../fixtures/proxy.js'
import {type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {startStandardTokenServer, USERS} from '../fixtures/servers.js'
import type {TokenServerHandle} from '../fixtures/token-server.js'
import {expectNoSecrets, expectNoStackTrace, runCli, tempHome} from '../helpers/cli.js'

/**
 * HTTPS_PROXY, HTTP_PROXY and NO_PROXY against a real squid. The registries listen on 127.0.0.1
 * but are addressed as registry.test and token.test, names that only the proxy resolves
 * (squid's hosts_file): a request that reaches them went through the proxy, and the proxy's
 * access log says how (CONNECT tunnel or absolute-form forwarding) and as which proxy user.
 */

const {alice} = USERS
const REGISTRY_HOST = 'registry.test'
const TOKEN_HOST = 'token.test'

function emptyConfig(): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), '{}\n')
  return directory
}

describe('proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) through a real squid', function () {
  this.timeout(120_000)
  const pki = sharedPki()
  let proxy: ProxyHandle
  let tokenServer: TokenServerHandle
  /** TLS registry with token auth whose realm is https://token.test:PORT/token. */
  let tlsRegistry: RegistryHandle
  /** Plain-HTTP registry with htpasswd auth. */
  let plainRegistry: RegistryHandle
  let tlsName: string
  let plainName: string

  before(async () => {
    proxy = await startProxy({hosts: [REGISTRY_HOST, TOKEN_HOST]})
    tokenServer = await startStandardTokenServer(true, pki)
    tlsRegistry = await startRegistry({
      auth: {kind: 'token', realm: `https://${TOKEN_HOST}:${tokenServer.port}/token`, tokenServer},
      tls: {caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile},
    })
    plainRegistry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}})
    tlsName = `${REGISTRY_HOST}:${tlsRegistry.port}`
    plainName = `${REGISTRY_HOST}:${plainRegistry.port}`
    await seedImages(plainRegistry, 'proxied/app', {bigLayerBytes: 4096})
  })

  after(async () => {
    await Promise.all([proxy?.close(), tlsRegistry?.close(), plainRegistry?.close(), tokenServer?.close()])
  })

  /**
   * Waits until squid has logged (when a request or tunnel ends) an entry for each target, and
   * returns the entries since the mark.
   */
  async function proxyLog(since: number, targets: string[]) {
    return waitFor(() => {
      const entries = proxy.requests(since)
      return targets.every((target) => entries.some((e) => e.target === target)) && entries
    }, 10_000, {what: `proxy log lines for ${targets.join(', ')}`})
  }

  it('logs in through an HTTPS_PROXY that requires auth: CONNECT tunnels to the registry and to its token realm', async () => {
    const mark = proxy.markLog()
    const config = emptyConfig()
    const result = await runCli(['auth', 'login', tlsName, '-u', 'alice', '-p', alice.password, '--ca-file', pki.caFile, '--debug-calls', '--time-methods', '--time-scenarios'], {
      env: {DOCKER_CONFIG: config, HTTPS_PROXY: proxy.authedUrl},
    })
    expect(result.stderr).to.not.include('Error')
    expect(result.code).to.equal(0)
    expect(result.stdout).to.include('Login succeeded.')
    const entries = await proxyLog(mark, [tlsName, `${TOKEN_HOST}:${tokenServer.port}`])
    const tunnels = entries.filter((e) => e.method === 'CONNECT')
    expect(tunnels.map((e) => e.target)).to.include.members([tlsName, `${TOKEN_HOST}:${tokenServer.port}`])
    for (const tunnel of tunnels) {
      expect(tunnel.user).to.equal(proxy.user)
      expect(tunnel.code).to.equal('TCP_TUNNEL/200')
    }

    expectNoSecrets(result, [proxy.password, `${proxy.user}:${proxy.password}`, alice.password])
    expect(readFileSync(join(config, 'config.json'), 'utf8')).to.include(tlsName)
  })

  it('reads a registry over plain HTTP through HTTP_PROXY in absolute form, the proxy credentials masked in --debug-calls', async () => {
    const mark = proxy.markLog()
    const result = await runCli(['tag', 'list', `${plainName}/proxied/app`, '-u', 'alice', '-p', alice.password, '--insecure', '--debug-calls'], {
      env: {HTTPS_PROXY: proxy.authedUrl, HTTP_PROXY: proxy.authedUrl},
    })
    expect(result.stderr).to.not.include('Error:')
    expect(result.code).to.equal(0)
    expect(result.stdout.split('\n')).to.include('oci')
    // The HTTPS attempt went through a tunnel, failed its handshake, and plain HTTP followed.
    const entries = await proxyLog(mark, [plainName, `http://${plainName}/v2/proxied/app/tags/list`])
    expect(entries.some((e) => e.method === 'CONNECT' && e.target === plainName)).to.equal(true)
    const forwarded = entries.filter((e) => e.method === 'GET')
    expect(forwarded.map((e) => e.target)).to.include(`http://${plainName}/v2/proxied/app/tags/list`)
    expect(forwarded.every((e) => e.user === proxy.user)).to.equal(true)
    expect(result.stderr).to.include('> proxy-authorization: Basic ***')
    expectNoSecrets(result, [proxy.password, alice.password])
  })

  it('streams a blob through HTTP_PROXY, its digest verified', async () => {
    const layer = (await seedImages(plainRegistry, 'proxied/app', {bigLayerBytes: 4096})).bigLayer
    const mark = proxy.markLog()
    const result = await runCli(['--json', 'blob', 'get', `${plainName}/proxied/app@${layer.digest}`, '-u', 'alice', '-p', alice.password, '--insecure'], {
      env: {HTTPS_PROXY: proxy.openUrl, HTTP_PROXY: proxy.openUrl},
    })
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.include({digest: layer.digest, size: layer.size})
    await proxyLog(mark, [`http://${plainName}/v2/proxied/app/blobs/${layer.digest}`])
  })

  it('blob get reads through the bulk reader through both proxies: TLS inside an HTTPS_PROXY tunnel, absolute form through HTTP_PROXY', async () => {
    const layer = (await seedImages(plainRegistry, 'proxied/app', {bigLayerBytes: 3 * 1024 * 1024})).bigLayer
    const tlsLayer = (await seedImages(tlsRegistry, 'proxied/app', {bigLayerBytes: 2 * 1024 * 1024})).bigLayer
    const mark = proxy.markLog()
    const plain = await runCli(['blob', 'get', `${plainName}/proxied/app@${layer.digest}`, '-u', 'alice', '-p', alice.password, '--insecure', '--debug-calls'], {
      env: {HTTPS_PROXY: proxy.authedUrl, HTTP_PROXY: proxy.authedUrl},
    })
    expect(plain.code, plain.stderr).to.equal(0)
    expect(JSON.parse(plain.stdout)).to.deep.include({digest: layer.digest, size: layer.size})
    // The blob's exchange (its 200) came through the bulk reader, with the proxy's credentials.
    expect(plain.stderr).to.match(/< HTTP 200 OK\n(?:< .*\n)*<\n\* bulk reader: \d+ reads/)
    expect(plain.stderr).to.include('> proxy-authorization: Basic ***')
    const forwarded = await proxyLog(mark, [`http://${plainName}/v2/proxied/app/blobs/${layer.digest}`])
    expect(forwarded.filter((e) => e.target === `http://${plainName}/v2/proxied/app/blobs/${layer.digest}`).every((e) => e.user === proxy.user)).to.equal(true)
    const tunnelled = await runCli(['blob', 'get', `${tlsName}/proxied/app@${tlsLayer.digest}`, '-u', 'alice', '-p', alice.password, '--ca-file', pki.caFile, '--debug-calls'], {
      env: {HTTPS_PROXY: proxy.openUrl},
    })
    expect(tunnelled.code, tunnelled.stderr).to.equal(0)
    expect(JSON.parse(tunnelled.stdout)).to.deep.include({digest: tlsLayer.digest, size: tlsLayer.size})
    expect(tunnelled.stderr).to.match(/< HTTP 200 OK\n(?:< .*\n)*<\n\* bulk reader: \d+ reads/)
    expect(tunnelled.stderr).to.include(`* GET https://${tlsName}/v2/proxied/app/blobs/${tlsLayer.digest}`)
    expectNoSecrets(plain, [proxy.password, alice.password])
    expectNoSecrets(tunnelled, [alice.password])
    // Without the CA, the handshake inside the tunnel fails, in regshape's words.
    const untrusted = await runCli(['blob', 'get', `${tlsName}/proxied/app@${tlsLayer.digest}`, '-u', 'alice', '-p', alice.password], {env: {HTTPS_PROXY: proxy.openUrl}})
    expect(untrusted.code).to.equal(1)
    expect(untrusted.stderr).to.include('TLS: unable to verify the first certificate')
  })

  it('trusts the registry\'s certs.d CA through a tunnel, for the registry and for its token realm on another host (as docker does)', async () => {
    const home = tempHome()
    mkdirSync(join(home, '.config', 'containers', 'certs.d', tlsName), {recursive: true})
    copyFileSync(pki.caFile, join(home, '.config', 'containers', 'certs.d', tlsName, 'ca.crt'))
    const mark = proxy.markLog()
    // ping answers the registry's challenge anonymously: a token from token.test, over TLS too.
    const result = await runCli(['--json', 'ping', tlsName], {env: {HOME: home, HTTPS_PROXY: proxy.openUrl}})
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.include({final_status_code: 200})
    await proxyLog(mark, [tlsName, `${TOKEN_HOST}:${tokenServer.port}`])
    const without = await runCli(['ping', tlsName], {env: {HTTPS_PROXY: proxy.openUrl}})
    expect(without.code).to.equal(1)
    expect(without.stderr).to.include('TLS: unable to verify the first certificate')
  })

  it('pings and reads through HTTPS_PROXY, spelt in lower case, without proxy auth', async () => {
    const mark = proxy.markLog()
    const ping = await runCli(['--json', 'ping', tlsName, '--ca-file', pki.caFile], {env: {https_proxy: proxy.openUrl}})
    expect(ping.code, ping.stderr).to.equal(0)
    expect(JSON.parse(ping.stdout)).to.deep.include({reachable: true, status_code: 401})
    const entries = await proxyLog(mark, [tlsName])
    expect(entries.find((e) => e.target === tlsName)).to.deep.include({method: 'CONNECT', user: '-'})
  })

  it('names the 407 when the proxy wants credentials, and when it rejects them, never showing them', async () => {
    const bare = `http://127.0.0.1:${proxy.authedPort}`
    const wrong = `http://${proxy.user}:not-the-password-42@127.0.0.1:${proxy.authedPort}`
    for (const [url, words] of [
      [bare, 'the proxy wants credentials'],
      [wrong, 'the proxy rejected the credentials in the proxy URL'],
    ] as const) {
      for (const args of [
        ['ping', tlsName, '--ca-file', pki.caFile],
        ['tag', 'list', `${plainName}/proxied/app`, '--insecure'],
      ]) {
        const result = await runCli(args, {env: {HTTPS_PROXY: url, HTTP_PROXY: url}})
        expect(result.code, result.stderr).to.equal(1)
        const lines = result.stderr.trimEnd().split('\n')
        expect(lines, result.stderr).to.have.length(1)
        expect(lines[0]).to.match(/^Error: /)
        expect(lines[0]).to.include(`proxy http://${url === bare ? '' : '***:***@'}127.0.0.1:${proxy.authedPort}`)
        expect(lines[0]).to.include('407')
        expect(lines[0]).to.include(words)
        expectNoStackTrace(result)
        expectNoSecrets(result, ['not-the-password-42'])
      }
    }
  })

  it('says when the proxy cannot be reached, with its credentials masked', async () => {
    const port = await freePort()
    const result = await runCli(['--json', 'ping', tlsName, '--ca-file', pki.caFile], {env: {HTTPS_PROXY: `http://u:hunter2-proxy@127.0.0.1:${port}`}})
    expect(result.code).to.equal(1)
    const output = JSON.parse(result.stdout)
    expect(output.status).to.equal('error')
    expect(output.error).to.include(`cannot reach proxy http://***:***@127.0.0.1:${port}: ECONNREFUSED`)
    expectNoSecrets(result, ['hunter2-proxy'])
  })

  it('goes direct for hosts in NO_PROXY, and for loopback registries whatever NO_PROXY says', async () => {
    const mark = proxy.markLog()
    // registry.test resolves only at the proxy: direct, it is an unknown name.
    for (const noProxy of ['registry.test', '.test', '*', `registry.test:${tlsRegistry.port}`]) {
      const result = await runCli(['ping', tlsName, '--ca-file', pki.caFile], {env: {HTTPS_PROXY: proxy.openUrl, NO_PROXY: noProxy}})
      expect(result.code, noProxy).to.equal(1)
      expect(result.stderr, noProxy).to.include('ENOTFOUND')
    }

    // Another port is not covered by an entry with a port.
    const otherPort = await runCli(['ping', tlsName, '--ca-file', pki.caFile], {env: {HTTPS_PROXY: proxy.openUrl, no_proxy: `registry.test:1`}})
    expect(otherPort.code, otherPort.stderr).to.equal(0)
    // A dead proxy is never asked about a loopback registry.
    const dead = `http://127.0.0.1:${await freePort()}`
    for (const host of [plainRegistry.host, `localhost:${plainRegistry.port}`]) {
      const loopback = await runCli(['tag', 'list', `${host}/proxied/app`, '-u', 'alice', '-p', alice.password], {env: {HTTPS_PROXY: dead, HTTP_PROXY: dead}})
      expect(loopback.code, loopback.stderr).to.equal(0)
      expect(loopback.stdout.split('\n')).to.include('oci')
    }

    await proxyLog(mark, [tlsName])
    expect(proxy.requests(mark).filter((e) => e.target.startsWith(REGISTRY_HOST))).to.have.length(1)
  })

  it('keeps the address guard through a proxy: a realm at an internal IP literal is refused before anything is sent', async () => {
    // 0.0.0.0 is internal to the guard but not loopback, so it would go through the proxy (and
    // reach this host: nothing leaves the machine even if the guard broke).
    const registry = await startRegistry({
      auth: {kind: 'token', realm: `https://0.0.0.0:${tokenServer.port}/token`, tokenServer},
      tls: {caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile},
    })
    try {
      tokenServer.reset()
      const result = await runCli(['auth', 'login', `${REGISTRY_HOST}:${registry.port}`, '-u', 'alice', '-p', alice.password, '--ca-file', pki.caFile], {
        env: {DOCKER_CONFIG: emptyConfig(), HTTPS_PROXY: proxy.openUrl},
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.include(`the registry's token realm 0.0.0.0:${tokenServer.port} is a loopback, private or link-local address`)
      expect(tokenServer.requests).to.have.length(0)
    } finally {
      await registry.close()
    }
  })

  describe('a realm name, judged where regshape can resolve it (DNS stood in for)', () => {
    async function login(resolve: Resolver) {
      const client = await Transport.create({caFile: pki.caFile, proxy: proxySettingsFromEnv({HTTPS_PROXY: proxy.openUrl}), resolve, timeoutMs: 10_000})
      try {
        return await client.request(parseRegistry(tlsName), {method: 'GET', path: '/v2/'}, async () => ({password: alice.password, username: 'alice'}))
      } finally {
        client.close()
      }
    }

    it('refuses a realm whose name resolves here to an internal address, though the proxy would connect', async () => {
      tokenServer.reset()
      const asked: string[] = []
      const error = await login(async (name) => {
        asked.push(name)
        if (name === TOKEN_HOST) return [{address: '10.9.9.9', family: 4}]
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), {code: 'ENOTFOUND'})
      }).then(
        () => undefined,
        (error_: Error) => error_,
      )
      expect(error?.message).to.equal(
        `the registry's token realm token.test:${tokenServer.port} (10.9.9.9) is a loopback, private or link-local address other than the registry's own host; refusing to use it`,
      )
      expect(asked).to.include(TOKEN_HOST)
      expect(tokenServer.requests).to.have.length(0)
    })

    it('leaves a name that does not resolve here to the proxy', async () => {
      tokenServer.reset()
      const response = await login(async (name) => {
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), {code: 'ENOTFOUND'})
      })
      expect(response.status).to.equal(200)
      expect(tokenServer.requests).to.have.length(1)
    })
  })

  it('refuses a proxy variable that is not an http:// proxy URL, without echoing it', async () => {
    for (const [value, words] of [
      ['socks5://u:s3cret-socks@127.0.0.1:1080', 'HTTPS_PROXY names a socks5 proxy (socks5://***:***@127.0.0.1:1080); regshape speaks to http:// proxies only'],
      ['http://u:s3cret-socks@[bad', 'HTTPS_PROXY is not a valid proxy URL'],
    ]) {
      const result = await runCli(['ping', tlsName], {env: {HTTPS_PROXY: value}})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: ${words}\n`)
      expectNoSecrets(result, ['s3cret-socks'])
    }
  })
})
