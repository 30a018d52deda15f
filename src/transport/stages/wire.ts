import type {Got} from 'got'

import {Agent as HttpAgent} from 'node:http'
import {Agent as HttpsAgent} from 'node:https'
import {isIP} from 'node:net'
import {Readable} from 'node:stream'
import {rootCertificates} from 'node:tls'

import type {AddressGuard} from '../http.js'
import type {Clock, Exchange, Next, Reply, Stage} from '../pipeline.js'

import {ProtocolError, RegshapeError} from '../../errors.js'
import {type ResolvedAddress, type Resolver, bareHost, checkLiteral, checkResolved, isAllowedHost} from '../addresses.js'
import {ResponseBody, isStreamBody} from '../body.js'
import {CertsDirectories} from '../certs-d.js'
import {ProxyAgents, type ProxySettings, forwardRefusal, proxyFor} from '../proxy.js'
import {type RawBody, RawPool, rawGet} from '../raw-http.js'
import {redactUrl} from '../redact.js'
import {TransportError, toNetworkError} from '../tls.js'

const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024

export interface WireOptions {
  /** --ca-file's bundle beside the system roots, when given. */
  certificateAuthority?: string[]
  certsDirs?: string[]
  insecure?: boolean
  proxy?: ProxySettings
  resolve?: Resolver
  timeoutMs: number
  userAgent?: string
}

const systemResolve: Resolver = async (hostname) => {
  const {lookup} = await import('node:dns/promises')
  return lookup(hostname, {all: true})
}

/**
 * The last stage: one HTTP exchange (got, over keep-alive agents), resolved at the response
 * headers, its body streaming through ResponseBody (the cap of a buffered answer, the stall
 * timeout of a streamed one). Here are TLS (--ca-file, certs.d per host, client certificates),
 * proxies (CONNECT tunnels, forwarding), the address guard (a literal judged before connecting, a
 * name judged as it resolves, and the connection made to exactly the addresses judged), the
 * attempt's deadline, and failures in one line (./tls.ts).
 *
 * A streamed GET without a body (a blob) goes through the bulk reader instead (../raw-http.ts):
 * the same settings, the same deadline, idle timeout and errors, but read in large buffers.
 */
export class WireStage implements Stage {
  readonly name = 'wire'
  private readonly agents = {http: new HttpAgent({keepAlive: true}), https: new HttpsAgent({keepAlive: true})}
  private readonly certsDirs?: CertsDirectories
  private readonly got: Got
  private readonly proxyAgents: ProxyAgents
  /** The bulk reader's keep-alive sockets. */
  private readonly rawPool = new RawPool()
  /** One-shot request bodies already handed to a socket: they cannot be sent twice. */
  private readonly spentBodies = new WeakSet<Readable>()

  constructor(
    baseGot: Got,
    private readonly options: WireOptions,
  ) {
    this.proxyAgents = new ProxyAgents(options.timeoutMs)
    if (options.certsDirs?.length) this.certsDirs = new CertsDirectories(options.certsDirs)
    this.got = baseGot.extend({
      agent: this.agents,
      cache: false,
      decompress: true,
      followRedirect: false,
      headers: {'user-agent': options.userAgent ?? 'regshape'},
      https: {certificateAuthority: options.certificateAuthority, rejectUnauthorized: !options.insecure},
      retry: {limit: 0},
      throwHttpErrors: false,
    })
  }

  /** Closes idle keep-alive connections so the process can exit at once. */
  close(): void {
    this.agents.http.destroy()
    this.agents.https.destroy()
    this.proxyAgents.destroy()
    this.rawPool.close()
  }

  async handle(exchange: Exchange, _next: Next): Promise<Reply> {
    const clock: Clock = exchange.clock ?? {deadline: performance.now() + this.options.timeoutMs, streaming: exchange.streaming, timeoutMs: this.options.timeoutMs}
    const hop = exchange.hop ?? 0
    const {observer} = exchange
    const requestUrl = exchange.url as string
    const started = performance.now()
    if (clock.deadline - started <= 0) throw new TransportError(`no answer from ${redactUrl(requestUrl)} within the timeout (--timeout)`, 'ETIMEDOUT', false)
    const {guard} = exchange
    const url = new URL(requestUrl)
    // A guarded URL off the registry's own host connects afresh (agent false), never on a pooled
    // socket, so the address check in the lookup below sees every connection it makes.
    const guarded = guard && !isAllowedHost(url, guard) ? guard : undefined
    const proxy = proxyFor(this.options.proxy, url)
    if (guarded) checkLiteral(url, guarded, hop)
    if (guarded && proxy) await this.checkBeforeProxy(url, guarded, hop)
    // A token realm is reached with the registry's TLS settings, as docker and containers/image
    // reach it with the registry's client; any other URL with its own host's.
    const hostTls = url.protocol === 'https:' ? this.tlsFor(guard?.registry ?? url.host) : undefined
    if (exchange.streaming && exchange.method === 'GET' && exchange.body === undefined) return this.bulk(exchange, clock, {guarded, hop, hostTls, proxy, url})
    const streamBody = isStreamBody(exchange.body)
    const requestHeaders: Record<string, string> = {...exchange.headers}
    if (streamBody && exchange.contentLength !== undefined) requestHeaders['content-length'] = String(exchange.contentLength)
    const body = this.bodyToSend(exchange)
    observer?.bytesSent(typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.byteLength(body) : 0)

    return new Promise<Reply>((resolvePromise, rejectPromise) => {
      let answered = false
      let responseBody: ResponseBody | undefined
      let source: ReturnType<Got['stream']> | undefined
      const fail = (error: Error) => {
        if (answered) return
        answered = true
        clearTimeout(timer)
        source?.destroy()
        observer?.finished({bytes: 0, captured: Buffer.alloc(0), error})
        rejectPromise(error)
      }

      const onDeadline = () => {
        const error = new TransportError(`no answer from ${redactUrl(requestUrl)} within the timeout (--timeout)`, 'ETIMEDOUT', false)
        if (responseBody) responseBody.destroy(error)
        else fail(error)
      }

      let timer = setTimeout(onDeadline, clock.deadline - started)
      try {
        source = this.got.stream(requestUrl, {
          ...(proxy ? {agent: this.proxyAgents.for(proxy)} : guarded ? {agent: {http: false, https: false}} : {}),
          body,
          ...(hostTls ? {https: {certificate: hostTls.certificate, certificateAuthority: hostTls.certificateAuthority, key: hostTls.key, rejectUnauthorized: hostTls.rejectUnauthorized}} : {}),
          // Node's own lookup unless a guard must judge the answer or tests stand in for DNS. Through
          // a proxy, the proxy resolves the target; this lookup would only find the proxy itself.
          dnsLookup: !proxy && (guarded || this.options.resolve) ? (this.lookup(hop, url.port, guarded) as never) : undefined,
          headers: requestHeaders,
          method: exchange.method,
        })
      } catch (error) {
        fail(this.failure(error, requestUrl, hostTls))
        return
      }

      // The headers as they went out, got's own included, for --debug-calls.
      if (observer) {
        source.once('request', (outgoing: {getHeaders(): Record<string, number | string | string[] | undefined>}) => {
          observer.sent(Object.fromEntries(Object.entries(outgoing.getHeaders()).map(([name, value]) => [name, String(value)])))
        })
      }

      source.on('uploadProgress', ({transferred}: {transferred: number}) => {
        observer?.bytesSent(transferred)
        // An upload that moves is waited for; --timeout bounds each wait, not its length.
        if (streamBody && !answered) {
          clock.deadline = Math.max(clock.deadline, performance.now() + clock.timeoutMs)
          clearTimeout(timer)
          timer = setTimeout(onDeadline, clock.deadline - performance.now())
        }
      })
      source.on('error', (error: unknown) => fail(this.failure(error, requestUrl, hostTls)))
      source.once('response', (incoming: {rawHeaders: string[]; statusCode: number; statusMessage?: string}) => {
        if (answered) return
        answered = true
        // A stream's deadline ends at the headers; from here each wait for data has its own.
        if (clock.streaming) clearTimeout(timer)
        const headers = groupHeaders(incoming.rawHeaders)
        const status = incoming.statusCode
        const statusText = incoming.statusMessage ?? ''
        // A forwarding proxy's own refusal (plain HTTP): not the registry's answer. (Over HTTPS it
        // comes as the CONNECT tunnel's refusal, from the agent.)
        if (proxy && status === 407 && url.protocol === 'http:') {
          answered = false
          fail(forwardRefusal(proxy, url))
          return
        }

        observer?.answered({headers, status, statusText})
        responseBody = new ResponseBody(source!, {
          captureBytes: observer?.captureBytes(status, headers) ?? 0,
          idleMs: clock.streaming ? clock.timeoutMs : undefined,
          maxBytes: clock.streaming ? undefined : (exchange.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES),
          onFinish: (outcome) => {
            clearTimeout(timer)
            observer?.finished(outcome)
          },
          sourceError: (error) => overrun(error, url, headers) ?? this.failure(error, requestUrl, hostTls),
          stalled: () =>
            new TransportError(`the transfer from ${redactUrl(requestUrl)} stalled: no data for ${formatSeconds(clock.timeoutMs)} (--timeout)`, 'ETIMEDOUT', false),
          tooLarge: (maxBytes) => new ProtocolError(`response from ${redactUrl(requestUrl)} is larger than ${maxBytes} bytes`, {kind: 'size-limit'}),
        })
        resolvePromise({body: responseBody, headers, startedAt: started, status, statusText, url: requestUrl})
      })
    })
  }

  /**
   * A blob GET through the bulk reader (../raw-http.ts), with what handle() does around got: the
   * attempt's deadline to the headers, then the idle timeout, the observer told of each step, a
   * forwarding proxy's refusal told apart, failures in one line.
   */
  private bulk(
    exchange: Exchange,
    clock: Clock,
    at: {guarded?: AddressGuard; hop: number; hostTls?: ReturnType<WireStage['tlsFor']>; proxy?: URL; url: URL},
  ): Promise<Reply> {
    const {guarded, hop, hostTls, proxy, url} = at
    const {observer} = exchange
    const requestUrl = exchange.url as string
    const started = performance.now()
    observer?.bytesSent(0)
    return new Promise<Reply>((resolvePromise, rejectPromise) => {
      let settled = false
      let body: RawBody | undefined
      // Set once the request is on its way; a failure before that has nothing to abandon.
      const attempt: {abandon?: () => void} = {}
      const fail = (error: Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        attempt.abandon?.()
        observer?.finished({bytes: 0, captured: Buffer.alloc(0), error})
        rejectPromise(error)
      }

      const timer = setTimeout(() => {
        const error = new TransportError(`no answer from ${redactUrl(requestUrl)} within the timeout (--timeout)`, 'ETIMEDOUT', false)
        if (body) body.destroy(error)
        else fail(error)
      }, clock.deadline - started)
      const tls = url.protocol === 'https:' ? {ca: hostTls ? hostTls.certificateAuthority : this.options.certificateAuthority, cert: hostTls?.certificate, key: hostTls?.key, rejectUnauthorized: !this.options.insecure} : undefined
      attempt.abandon = rawGet(
        this.rawPool,
        {
          lookup: !proxy && (guarded || this.options.resolve) ? (this.lookup(hop, url.port, guarded) as never) : undefined,
          pooled: !guarded,
          proxy,
          tls,
          tlsKey: hostTls?.directory ?? '',
          tunnelTimeoutMs: this.options.timeoutMs,
          url,
        },
        {'user-agent': this.options.userAgent ?? 'regshape', ...exchange.headers},
        {
          answered: (head) => ({
            captureBytes: observer?.captureBytes(head.status, head.headers) ?? 0,
            idleMs: clock.timeoutMs,
            onFinish: (outcome) => {
              clearTimeout(timer)
              if (body) observer?.finished(outcome)
            },
            stalled: () =>
              new TransportError(`the transfer from ${redactUrl(requestUrl)} stalled: no data for ${formatSeconds(clock.timeoutMs)} (--timeout)`, 'ETIMEDOUT', false),
          }),
          bodyError: (error, head) => overrun(error, url, head.headers) ?? this.failure(error, requestUrl, hostTls),
          failed: (error) => fail(this.failure(error, requestUrl, hostTls)),
          resolved: (head, rawBody) => {
            const refused =
              settled
                ? undefined
                : proxy && head.status === 407 && url.protocol === 'http:'
                  ? forwardRefusal(proxy, url)
                  : head.status < 300 && (head.headers['content-encoding'] ?? []).some((coding) => !/^\s*identity\s*$/i.test(coding))
                    ? new ProtocolError(`${url.host} sent the body encoded (Content-Encoding: ${head.headers['content-encoding']?.join(', ')}), which regshape did not ask for`)
                    : undefined
            if (settled || refused) {
              rawBody.markDropped()
              rawBody.destroy()
              if (refused) fail(refused)
              return
            }

            settled = true
            clearTimeout(timer)
            body = rawBody
            observer?.answered(head)
            resolvePromise({body: rawBody, headers: head.headers, startedAt: started, status: head.status, statusText: head.statusText, url: requestUrl})
          },
          sent: (headers) => observer?.sent(headers),
        },
      )
    })
  }

  /** What got sends as the body: a factory is called for this attempt, a one-shot stream is spent. */
  private bodyToSend(exchange: Exchange): Buffer | Readable | string | undefined {
    const {body} = exchange
    if (typeof body === 'function') return body()
    if (body instanceof Readable) {
      if (this.spentBodies.has(body)) {
        throw new ProtocolError(`the body of ${exchange.method} ${redactUrl(exchange.url as string)} was a one-shot stream, already sent: it cannot be sent again`)
      }

      this.spentBodies.add(body)
      return body
    }

    // got's stream API waits for a body to be written to any other method: an empty one ends it.
    if (body === undefined && exchange.method !== 'GET' && exchange.method !== 'HEAD') return ''
    return body
  }

  /** A failure of got or the socket as one of regshape's errors, one line, no secret. */
  private failure(error: unknown, url: string, hostTls?: {certificate?: string; directory?: string}): Error {
    if (error instanceof RegshapeError) return error
    const cause = (error as {cause?: unknown}).cause
    if (cause instanceof RegshapeError) return cause
    return toNetworkError(error, url, hostTls)
  }

  /**
   * TLS settings of a host from its certs.d directory, if it has one: its CAs trusted
   * beside the system roots and --ca-file, its client certificate presented. Undefined leaves the
   * client's own settings.
   */
  private tlsFor(hostPort: string) {
    const host = this.certsDirs?.forHost(hostPort)
    if (!host || (host.ca.length === 0 && host.cert === undefined)) return undefined
    const {certificateAuthority} = this.options
    return {
      certificate: host.cert,
      directory: host.directory,
      certificateAuthority: host.ca.length > 0 ? [...(certificateAuthority ?? rootCertificates), ...host.ca] : certificateAuthority,
      key: host.key,
      rejectUnauthorized: !this.options.insecure,
    }
  }

  /**
   * The address guard, for a URL that goes through a proxy. The proxy resolves the name and
   * connects, so the address cannot be pinned here; what regshape can see, it still judges: an IP
   * literal or localhost name (checked before), and the addresses the name resolves to here, if
   * it resolves here at all. A name only the proxy can resolve is the proxy's to judge.
   */
  private async checkBeforeProxy(url: URL, guard: AddressGuard, hop: number): Promise<void> {
    const hostname = bareHost(url.hostname)
    if (isIP(hostname) !== 0 || hostname === 'localhost' || hostname.endsWith('.localhost')) return
    const resolve = this.options.resolve ?? systemResolve
    const addresses = await resolve(hostname).catch(() => undefined)
    if (addresses && addresses.length > 0) await checkResolved(hostname, addresses, guard, hop, resolve, url.port)
  }

  /**
   * The lookup sockets use (got's dnsLookup, Node's `lookup`): one resolution, judged by the
   * address guard when there is one, and the very addresses it judged are the ones connected to.
   */
  private lookup(hop: number, port: string, guard: AddressGuard | undefined) {
    const resolve = this.options.resolve ?? systemResolve
    return (
      hostname: string,
      options: {all?: boolean; family?: number | string},
      callback: (error: Error | null, address: ResolvedAddress[] | string, family?: number) => void,
    ): void => {
      const wanted = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0
      const answer = (async () => {
        const addresses = (await resolve(hostname)).filter((a) => wanted === 0 || a.family === wanted)
        if (guard) await checkResolved(hostname, addresses, guard, hop, resolve, port)
        if (addresses.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {code: 'ENOTFOUND', hostname})
        return addresses
      })()
      // Called outside the promise, so an exception in the socket code is not taken for a DNS failure.
      answer.then(
        (addresses) => process.nextTick(() => (options.all ? callback(null, addresses) : callback(null, addresses[0].address, addresses[0].family))),
        (error: Error) => process.nextTick(() => callback(error, options.all ? [] : '')),
      )
    }
  }
}

/**
 * A parse error once the headers are read, with the body framed by Content-Length: the only bytes
 * left to parse are those the server sent beyond that length. Node only says "Parse Error:
 * Expected HTTP/", which sends people looking in the wrong place.
 */
function overrun(error: unknown, url: URL, headers: Record<string, string[]>): TransportError | undefined {
  const code = (error as {code?: unknown})?.code
  const length = headers['content-length']?.[0]
  if (typeof code !== 'string' || !code.startsWith('HPE_') || length === undefined) return undefined
  return new TransportError(`${url.host} sent more bytes than the Content-Length it announced (${length}); the answer is broken`, code, false, {cause: error})
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`
}

function groupHeaders(raw: string[]): Record<string, string[]> {
  const headers: Record<string, string[]> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    ;(headers[name] ??= []).push(raw[i + 1])
  }

  return headers
}
