import {expect} from 'chai'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'

import {parseRegistry} from '../../../src/reference/registry.js'
import type {Tracer} from '../../../src/telemetry/tracer.js'
import type {HttpExchange} from '../../../src/telemetry/tracer.js'
import {Transport, type TransportOptions} from '../../../src/transport/transport.js'
import {isRetryableError} from '../../../src/transport/retry.js'
import {expectNoStackTrace, runCli} from '../../helpers/cli.js'
import {type Handler, type HostileServer, startHostile} from '../../helpers/hostile.js'
import {rejection} from './helpers.js'

/**
 * Retries (registry.md §1). distribution 2.8 never answers 429 or Retry-After and does not reset
 * connections, so every server here is a small node:http one standing for a registry under load
 * (Docker Hub's rate limit, a proxy's 503, a load balancer dropping a connection).
 */
describe('transport: retries', () => {
  const clients: Transport[] = []
  const servers: HostileServer[] = []
  async function setup(handler: Handler, options: TransportOptions = {}) {
    const server = await startHostile(handler)
    servers.push(server)
    const client = await Transport.create({retryPolicy: {baseDelayMs: 20}, ...options})
    clients.push(client)
    return {client, ref: parseRegistry(`http://${server.host}`), server}
  }

  /** The n-th request (1-based) gets `first`, the rest `then`. */
  function sequence(count: number, first: Handler, then: Handler): Handler {
    let seen = 0
    return (request, response, server) => (++seen <= count ? first : then)(request, response, server)
  }

  const ok: Handler = (_request, response) => {
    response.writeHead(200, {'content-type': 'application/json'})
    response.end('{"tags":[]}')
  }

  const status =
    (code: number, headers: Record<string, string> = {}): Handler =>
    (_request, response) => {
      response.writeHead(code, {'content-type': 'application/json', ...headers})
      response.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')
    }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    for (const s of servers.splice(0)) await s.close()
  })

  it('waits as a 429 Retry-After: 1 says, then succeeds; the retry shows in telemetry', async () => {
    // Docker Hub's pull rate limit: 429 with Retry-After.
    const exchanges: HttpExchange[] = []
    const methods: string[] = []
    const tracer: Tracer = {
      helper() {},
      http: (exchange) => exchanges.push(exchange),
      method<T>(name: string, operation: () => Promise<T>) {
        methods.push(name)
        return operation()
      },
      step: (_name, operation) => operation(),
    }
    const {client, ref, server} = await setup(sequence(1, status(429, {'retry-after': '1'}), ok), {tracer})
    const started = Date.now()
    const response = await client.request(ref, {method: 'GET', operation: 'tag.list', path: '/v2/a/tags/list'}, async () => undefined)
    expect(response.status).to.equal(200)
    expect(Date.now() - started).to.be.at.least(950)
    expect(server.requests).to.have.length(2)
    expect(exchanges.map((e) => [e.status, e.retry?.attempt, e.retry?.after])).to.deep.equal([
      [429, undefined, undefined],
      [200, 2, 'HTTP 429'],
    ])
    expect(exchanges[1].retry?.waitedMs).to.equal(1000)
    expect(methods).to.include(`retry tag.list http://${server.host}/v2/a/tags/list after HTTP 429 (1 of 3)`)
  })

  it('a 429 with Retry-After pauses every request to that host, not just the one that met it; another host goes on', async () => {
    // Docker Hub's rate limit is per client, not per request: the first 429 (Retry-After: 1) must
    // hold back the requests sent after it to that host, while a second host is not held.
    const arrivals: Array<{at: number; path: string}> = []
    let limited = false
    const {client, ref} = await setup((request, response, self) => {
      arrivals.push({at: performance.now(), path: request.url ?? ''})
      if (!limited && request.url === '/v2/a/tags/list') {
        limited = true
        status(429, {'retry-after': '1'})(request, response, self)
        return
      }

      ok(request, response, self)
    })
    const other = await startHostile(ok)
    servers.push(other)
    const first = client.request(ref, {method: 'GET', operation: 'tag.list', path: '/v2/a/tags/list'}, async () => undefined)
    while (!limited) await new Promise((resolvePromise) => setTimeout(resolvePromise, 5))
    const limitedAt = arrivals[0].at
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 50))
    const elsewhereStarted = performance.now()
    const [second, elsewhere] = await Promise.all([
      client.request(ref, {method: 'GET', operation: 'tag.list', path: '/v2/b/tags/list'}, async () => undefined),
      client.request(parseRegistry(`http://${other.host}`), {method: 'GET', operation: 'tag.list', path: '/v2/c/tags/list'}, async () => undefined).then((response) => ({elapsed: performance.now() - elsewhereStarted, response})),
    ])
    expect((await first).status).to.equal(200)
    expect(second.status).to.equal(200)
    const secondArrival = arrivals.find((arrival) => arrival.path === '/v2/b/tags/list')
    expect(secondArrival!.at - limitedAt, 'the second request reached the limited host before Retry-After ran out').to.be.at.least(950)
    expect(elsewhere.response.status).to.equal(200)
    expect(elsewhere.elapsed, 'another host waited too').to.be.below(500)
  })

  it('gives up after --retries 2 on a 503 that stays: three attempts, the 503 returned', async () => {
    // A registry behind a proxy whose backend is down.
    const {client, ref, server} = await setup(status(503), {retries: 2})
    const response = await client.request(ref, {method: 'GET', path: '/v2/a/tags/list'}, async () => undefined)
    expect(response.status).to.equal(503)
    expect(server.requests).to.have.length(3)
  })

  it('retries a connection reset in the middle of the headers, then succeeds', async () => {
    // A load balancer that drops a connection it had started to answer on.
    const {client, ref, server} = await setup(
      sequence(
        1,
        (request) => {
          request.socket.write('HTTP/1.1 200 OK\r\nContent-Type: appli')
          request.socket.destroy()
        },
        ok,
      ),
    )
    const response = await client.request(ref, {method: 'GET', path: '/v2/a/tags/list'}, async () => undefined)
    expect(response.status).to.equal(200)
    expect(response.body.toString()).to.equal('{"tags":[]}')
    expect(server.requests).to.have.length(2)
  })

  it('retries a streamed GET on 502 and 504 alike', async () => {
    const {client, ref, server} = await setup(sequence(2, (request, response, self) => status(self.requests.length === 1 ? 502 : 504)(request, response, self), ok))
    const response = await client.stream(ref, {method: 'GET', operation: 'blob.get', path: '/v2/a/blobs/sha256:x'}, async () => undefined)
    expect(response.status).to.equal(200)
    let text = ''
    for await (const chunk of response.body) text += chunk
    expect(text).to.equal('{"tags":[]}')
    expect(server.requests).to.have.length(3)
  })

  for (const code of [401, 403, 404]) {
    it(`never retries a ${code}: exactly one request`, async () => {
      const {client, ref, server} = await setup(status(code))
      const response = await client.request(ref, {method: 'GET', path: '/v2/a/manifests/latest'}, async () => undefined)
      expect(response.status).to.equal(code)
      expect(server.requests).to.have.length(1)
    })
  }

  it('never retries a POST, on a 503 or on a reset', async () => {
    const unavailable = await setup(status(503))
    const response = await unavailable.client.request(unavailable.ref, {method: 'POST', path: '/v2/a/blobs/uploads/'}, async () => undefined)
    expect(response.status).to.equal(503)
    expect(unavailable.server.requests).to.have.length(1)

    const reset = await setup((request) => request.socket.destroy())
    const error = await rejection(reset.client.request(reset.ref, {method: 'POST', path: '/v2/a/blobs/uploads/'}, async () => undefined))
    expect(isRetryableError(error), error.message).to.equal(true)
    expect(reset.server.requests).to.have.length(1)
  })

  it('resends a PUT whose body is a stream factory, whole; never one whose body was a one-shot stream', async () => {
    const received: number[] = []
    const handler: Handler = (request, response) => {
      let length = 0
      request.on('data', (chunk: Buffer) => (length += chunk.length))
      request.on('end', () => {
        received.push(length)
        response.writeHead(received.length === 1 ? 503 : 201)
        response.end()
      })
    }

    const factory = await setup(handler)
    const body = () => Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(50_000, 2)])
    const put = await factory.client.request(factory.ref, {body, contentLength: 150_000, method: 'PUT', path: '/v2/a/blobs/uploads/u?digest=sha256:x'}, async () => undefined)
    expect(put.status).to.equal(201)
    expect(received).to.deep.equal([150_000, 150_000])

    received.length = 0
    const oneShot = await setup(handler)
    const once = await oneShot.client.request(
      oneShot.ref,
      {body: Readable.from([Buffer.alloc(1000)]), contentLength: 1000, method: 'PUT', path: '/v2/a/blobs/uploads/u?digest=sha256:x'},
      async () => undefined,
    )
    expect(once.status).to.equal(503)
    expect(received).to.deep.equal([1000])
  })

  it('never retries a timeout (it would multiply --timeout) nor a refused connection', async () => {
    // A registry that accepts the connection and never answers.
    const {client, ref, server} = await setup(() => {}, {timeoutMs: 500})
    const started = Date.now()
    const error = await rejection(client.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined))
    expect(error.message).to.match(/within the timeout \(--timeout\)$/)
    expect(Date.now() - started).to.be.below(1500)
    expect(server.requests).to.have.length(1)
    expect(isRetryableError(Object.assign(new Error('refused'), {code: 'ECONNREFUSED'}))).to.equal(false)
    expect(isRetryableError(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT'}))).to.equal(false)
  })

  it('--retries 0 disables them', async () => {
    const {client, ref, server} = await setup(status(503), {retries: 0})
    expect((await client.request(ref, {method: 'GET', path: '/v2/'}, async () => undefined)).status).to.equal(503)
    expect(server.requests).to.have.length(1)
  })

  describe('the --retries flag', () => {
    const env = () => ({DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'regshape-dc-'))})

    it('bounds the attempts of a command (ping against a 503: 1 + N requests, one error line)', async () => {
      for (const [retries, before] of [['2', false], ['0', true]] as const) {
        const {server} = await setup(status(503))
        const flag = ['--retries', retries]
        // Shared flags work before the command too.
        const result = await runCli(before ? [...flag, 'ping', server.host] : ['ping', server.host, ...flag], {env: env()})
        expect(result.code, result.stderr).to.equal(1)
        expect(result.stderr.trimEnd().split('\n'), result.stderr).to.have.length(1)
        expect(result.stderr).to.match(/^Error: .*HTTP 503/)
        expectNoStackTrace(result)
        expect(server.requests.filter((r) => r.url === '/v2/')).to.have.length(Number(retries) + 1)
      }
    })

    for (const value of ['-1', 'x', '1.5', '101']) {
      it(`rejects --retries ${value} as a usage error (exit 2)`, async () => {
        const result = await runCli(['auth', 'logout', '-r', 'r.example', '--retries', value], {env: env()})
        expect(result.code).to.equal(2)
        expect(result.stderr).to.equal('Error: --retries expects a whole number from 0 to 100 (see --help)\n')
      })
    }
  })
})
