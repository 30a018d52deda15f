import {expect} from 'chai'

import {repositoryScope} from '../../../src/reference/scope.js'
import {parseRegistry} from '../../../src/reference/registry.js'
import {AuthenticationError} from '../../../src/errors.js'
import type {HttpExchange} from '../../../src/telemetry/tracer.js'
import {Transport} from '../../../src/transport/transport.js'
import {tokenRegistry, USERS} from '../../fixtures/servers.js'
import {rejection} from './helpers.js'

const {alice, reader} = USERS

/** Token handling against the real token registry; the token server's log is the witness. */
describe('transport: tokens per scope, fetched once', () => {
  const clients: Transport[] = []
  afterEach(() => {
    for (const c of clients.splice(0)) c.close()
  })

  async function client(exchanges?: HttpExchange[]): Promise<Transport> {
    const tracer = exchanges && {
      helper() {},
      http: (exchange: HttpExchange) => exchanges.push(exchange),
      method: <T>(_name: string, operation: () => Promise<T>) => operation(),
      step: <T>(_name: string, operation: () => Promise<T>) => operation(),
    }
    const created = await Transport.create({tracer})
    clients.push(created)
    return created
  }

  it('fetches one token for 5 parallel requests needing the same scope', async () => {
    const registry = await tokenRegistry()
    const c = await client()
    const ref = parseRegistry(registry.host)
    const credentials = async () => ({password: alice.password, username: alice.username})
    // On a fresh client (all five meet the 401), then with the challenge known (all five ask for
    // the token in the same tick, before sending).
    for (const repository of ['transport/parallel', 'transport/parallel-known']) {
      const scope = repositoryScope(repository, ['pull'])
      const before = registry.tokenServer.requests.length
      const responses = await Promise.all(
        Array.from({length: 5}, () => c.request(ref, {method: 'GET', operation: 'tag.list', path: `/v2/${repository}/tags/list`, scope}, credentials)),
      )
      // 404 NAME_UNKNOWN: authorised, the repository just does not exist.
      expect(responses.map((r) => r.status)).to.deep.equal([404, 404, 404, 404, 404])
      const fetched = registry.tokenServer.requests.slice(before)
      expect(fetched.map((r) => r.scopes), repository).to.deep.equal([[scope]])
    }
  })

  it('gets the token of a new scope before sending once the challenge is known: no 401 round trip', async () => {
    const registry = await tokenRegistry()
    const exchanges: HttpExchange[] = []
    const c = await client(exchanges)
    const ref = parseRegistry(registry.host)
    const credentials = async () => ({password: reader.password, username: reader.username})
    await c.request(ref, {method: 'GET', operation: 'ping', path: '/v2/'}, credentials)
    exchanges.length = 0
    const scope = repositoryScope('transport/known', ['pull'])
    const response = await c.request(ref, {method: 'GET', operation: 'tag.list', path: '/v2/transport/known/tags/list', scope}, credentials)
    expect(response.status).to.equal(404)
    expect(exchanges.map((e) => `${e.operation} ${new URL(e.url).pathname} ${e.status}`)).to.deep.equal([
      'token /token 200',
      'tag.list /v2/transport/known/tags/list 404',
    ])
    expect(new URL(exchanges[0].url).searchParams.getAll('scope')).to.deep.equal([scope])
  })

  it('does not keep a failed token fetch: parallel callers share the failure, the next call asks again', async () => {
    const registry = await tokenRegistry()
    const c = await client()
    const ref = parseRegistry(registry.host)
    const wrong = async () => ({password: 'not-the-password', username: reader.username})
    const scope = repositoryScope('transport/denied', ['pull'])
    const ask = () => c.request(ref, {method: 'GET', path: '/v2/transport/denied/tags/list', scope}, wrong)
    // The challenge known first, so the three ask for the token at the same moment.
    await c.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)
    const before = registry.tokenServer.requests.length
    const errors = await Promise.all([rejection(ask()), rejection(ask()), rejection(ask())])
    for (const error of errors) expect(error).to.be.instanceOf(AuthenticationError)
    expect(registry.tokenServer.requests.length - before).to.equal(1)
    await rejection(ask())
    expect(registry.tokenServer.requests.length - before).to.equal(2)
  })
})
