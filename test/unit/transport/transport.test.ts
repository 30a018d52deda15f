import {expect} from 'chai'

import {parseRegistry} from '../../../src/reference/registry.js'
import {AuthenticationError} from '../../../src/errors.js'
import type {HttpExchange} from '../../../src/telemetry/tracer.js'
import {Transport} from '../../../src/transport/transport.js'
import {basicRegistry, openRegistry, tokenRegistry, tokenTlsRegistry, USERS} from '../../fixtures/servers.js'
import {startHostile} from '../../helpers/hostile.js'

const {alice, reader} = USERS

describe('Transport and AuthMiddleware against the real registries', () => {
  let clients: Transport[] = []
  async function client(options: Parameters<typeof Transport.create>[0] = {}): Promise<Transport> {
    const created = await Transport.create(options)
    clients.push(created)
    return created
  }

  afterEach(() => {
    for (const c of clients) c.close()
    clients = []
  })

  it('caches a Bearer token per registry and scope for the life of the client', async () => {
    const registry = await tokenRegistry()
    const ref = parseRegistry(registry.host)
    const c = await client()
    const credentials = async () => ({password: alice.password, username: alice.username})
    const before = registry.tokenServer.requests.length
    const first = await c.request(ref, {method: 'GET', path: '/v2/'}, credentials)
    const second = await c.request(ref, {method: 'GET', path: '/v2/'}, credentials)
    expect([first.status, second.status]).to.deep.equal([200, 200])
    expect(first.challenged).to.equal(true)
    expect(registry.tokenServer.requests.length - before, 'token fetches for one scope').to.equal(1)

    const scoped = await c.request(ref, {method: 'GET', path: '/v2/alice/app/tags/list', scope: 'repository:alice/app:pull'}, credentials)
    expect(scoped.status).to.equal(404) // authorised; the repository just does not exist
    expect(registry.tokenServer.requests.length - before, 'a new scope needs a new token').to.equal(2)
    await c.request(ref, {method: 'GET', path: '/v2/alice/app/tags/list', scope: 'repository:alice/app:pull'}, credentials)
    expect(registry.tokenServer.requests.length - before).to.equal(2)
  })

  it('fetches an anonymous token when there are no credentials', async () => {
    const registry = await tokenRegistry()
    const c = await client()
    const before = registry.tokenServer.requests.length
    const response = await c.request(parseRegistry(registry.host), {method: 'GET', path: '/v2/'}, async () => undefined)
    expect(response.status).to.equal(200)
    expect(response.authScheme).to.equal('bearer')
    const [tokenRequest] = registry.tokenServer.requests.slice(before)
    expect(tokenRequest).to.include({authorization: 'none', status: 200})
    expect(tokenRequest.query).not.to.have.property('account')
  })

  it('answers a Basic challenge only when it has credentials', async () => {
    const registry = await basicRegistry()
    const c = await client()
    const ref = parseRegistry(registry.host)
    const anonymous = await c.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)
    expect(anonymous.status).to.equal(401)
    const authenticated = await c.request(ref, {method: 'GET', path: '/v2/'}, async () => ({password: alice.password, username: 'alice'}))
    expect(authenticated).to.include({authScheme: 'basic', challenged: true, status: 200})
  })

  it('does not fall back to an anonymous token when the credentials are rejected', async () => {
    const registry = await tokenRegistry()
    const c = await client()
    try {
      await c.request(parseRegistry(registry.host), {method: 'GET', path: '/v2/'}, async () => ({password: 'wrong', username: reader.username}))
      expect.fail('should have thrown')
    } catch (error) {
      expect(error).to.be.instanceOf(AuthenticationError)
      expect((error as Error).message).to.equal('authentication rejected')
    }
  })

  it('reports exchanges to the tracer with secrets masked, token-server calls included', async () => {
    const registry = await tokenTlsRegistry()
    const exchanges: HttpExchange[] = []
    const tracer = {helper() {}, http: (exchange: HttpExchange) => exchanges.push(exchange), method: <T>(_name: string, operation: () => Promise<T>) => operation(), step: <T>(_name: string, operation: () => Promise<T>) => operation()}
    const c = await client({caFile: registry.caFile, tracer})
    await c.request(parseRegistry(registry.host), {method: 'GET', path: '/v2/'}, async () => ({password: alice.password, username: 'alice'}))
    expect(exchanges.map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status}`)).to.deep.equal(['GET /v2/ 401', 'GET /token 200', 'GET /v2/ 200'])
    const text = JSON.stringify(exchanges)
    expect(text).not.to.include(alice.password)
    for (const token of registry.tokenServer.issuedTokens) expect(text).not.to.include(token)
    expect(exchanges[1].requestHeaders.authorization).to.equal('Basic ***')
    expect(exchanges[2].requestHeaders.authorization).to.equal('Bearer ***')
  })

  it('drops a cached token the registry stops accepting, and fetches a new one', async () => {
    let issued = 0
    let accepted = ''
    const server = await startHostile((request, response, self) => {
      if (request.url?.startsWith('/token')) {
        issued++
        accepted = `tok-${issued}`
        response.writeHead(200, {'content-type': 'application/json'})
        response.end(JSON.stringify({expires_in: 300, token: accepted}))
      } else if (request.headers.authorization === `Bearer ${accepted}`) {
        response.writeHead(200)
        response.end('{}')
      } else {
        response.writeHead(401, {'www-authenticate': `Bearer realm="${self.origin}/token",service="s"`})
        response.end()
      }
    })
    try {
      const c = await client()
      const ref = parseRegistry(`http://${server.host}`)
      expect((await c.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)).status).to.equal(200)
      accepted = 'revoked' // the registry no longer takes tok-1
      const again = await c.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)
      expect(again.status).to.equal(200)
      expect(issued).to.equal(2)
    } finally {
      await server.close()
    }
  })

  it('talks plain HTTP to a loopback registry that does not speak TLS, found by a handshake probe, and remembers it', async () => {
    const registry = await openRegistry()
    const exchanges: HttpExchange[] = []
    const methods: string[] = []
    const tracer = {
      helper() {},
      http: (exchange: HttpExchange) => exchanges.push(exchange),
      method<T>(name: string, operation: () => Promise<T>) {
        methods.push(name)
        return operation()
      },
      step: <T>(_name: string, operation: () => Promise<T>) => operation(),
    }
    const c = await client({tracer})
    const ref = parseRegistry(registry.host)
    expect(c.registryUrl(ref, '/v2/')).to.equal(`https://${registry.host}/v2/`)
    const response = await c.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)
    expect(response.status).to.equal(200)
    expect(c.registryUrl(ref, '/v2/')).to.equal(`http://${registry.host}/v2/`)
    // No failed HTTPS request: the probe answered first, and only once.
    expect(exchanges.map((e) => e.url)).to.deep.equal([`http://${registry.host}/v2/`])
    await c.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)
    expect(methods.filter((name) => name.startsWith('tls probe'))).to.deep.equal([`tls probe ${registry.host}`])
  })
})
