import type {Got} from 'got'

import {Agent as HttpAgent} from 'node:http'
import {Agent as HttpsAgent} from 'node:https'
import {readFileSync} from 'node:fs'
import {Readable} from 'node:stream'
import {finished} from 'node:stream/promises'
import {rootCertificates} from 'node:tls'

import type {BreakStage} from '../break/session.js'
import {type RegistryRef, splitEndpoint} from '../reference/registry.js'

import {InputError, NetworkError, ProtocolError, RegshapeError, describeError} from '../errors.js'
import {isIP} from 'node:net'

import {type ResolvedAddress, type Resolver, bareHost, checkLiteral, checkResolved, isAllowedHost, registryGuard} from './addresses.js'
import {AuthMiddleware, type CredentialsProvider, rememberGrantSecrets} from './auth.js'
import {CertsDirectories} from './certs-d.js'
import {ResponseBody, collect, discard, isReplayable, isStreamBody, readCapped} from './body.js'
import type {Challenge} from './challenge.js'
import type {Tracer} from '../telemetry/tracer.js'
import type {AddressGuard, HttpExchange, HttpMethod, HttpRequest, HttpResponse, RequestBody} from './http.js'
import {ProxyAgents, type ProxySettings, forwardRefusal, proxyFor} from './proxy.js'
import {scrubSecrets} from '../util/secrets.js'
import {describeBody, redactHeaders, redactUrl} from './redact.js'
import {DEFAULT_RETRY_POLICY, type RetryPolicy, isRetryableError, isRetryableStatus, mayRetry, retryAfterMs, retryDelayMs} from './retry.js'

/**
 * RegistryClient: the one door through which every HTTP request of regshape goes. It owns TLS
 * settings, keep-alive connections, timeouts, redirects, the HTTPS→HTTP fallback for local
 * registries, authentication (through AuthMiddleware) and what telemetry gets to see.
 */

export interface RegistryClientOptions {
  /**
   * Break mode (--break): rules that change requests on their way out, after authentication. The
   * cross-origin rules of redirects and the masking of secrets apply to what they produce.
   */
  breakStage?: BreakStage
  /** PEM bundle trusted in addition to the system roots (--ca-file). */
  caFile?: string
  /**
   * Where per-host TLS directories are looked for (certs-d.ts: certsDirRoots), first existing
   * `<root>/<host[:port]>` wins; none by default.
   */
  certsDirs?: string[]
  /** Skip TLS verification and allow plain HTTP (--insecure). */
  insecure?: boolean
  /** HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as read from the environment (proxy.ts). */
  proxy?: ProxySettings
  /** Name resolution (dns.lookup by default); tests stand in for DNS with it. */
  resolve?: Resolver
  /** Retries after the first attempt (--retries; default 3, 0 disables). */
  retries?: number
  /** The backoff's timing, for tests that cannot wait for the real one. */
  retryPolicy?: Partial<Omit<RetryPolicy, 'retries'>>
  /**
   * --timeout. request(): one deadline from connecting to the last byte of the last redirect.
   * stream(): one deadline from connecting to the response headers (redirects included), then the
   * longest wait for each next chunk; a transfer that keeps moving is never cut.
   */
  timeoutMs?: number
  /** Telemetry; absent unless a telemetry flag is given. */
  tracer?: Tracer
  userAgent?: string
}

export interface RegistryRequest {
  /**
   * Bytes, or a stream. A factory (`() => Readable`, called for each attempt) can be sent again on
   * a retry or a same-origin 307; a Readable given as is cannot, so such a request is never
   * retried, and fails rather than being resent when a registry asks for credentials after
   * reading it.
   */
  body?: RequestBody
  /** Length of a streamed body (Content-Length); without it the body goes chunked. */
  contentLength?: number
  headers?: Record<string, string>
  /** Cap on a response body read by request() (4 MiB by default); stream() has none. */
  maxBodyBytes?: number
  method: HttpMethod
  /**
   * What the request is for: `tag.list`, `manifest.get`, `blob.get`, `catalog.list`,
   * `referrers.list`, `ping`... Named in --time-methods and --debug-calls; break mode will match it.
   */
  operation?: string
  /** Path under the registry root, starting with /v2/. */
  path: string
  /** Token scope for Bearer registries, e.g. `repository:library/alpine:pull`. */
  scope?: string
}

export interface RegistryResponse extends HttpResponse {
  /** The scheme of the Authorization that was sent, if any. */
  authScheme?: string
  /** The challenge regshape answered (learnt from this request's 401 or an earlier one). */
  challenge?: Challenge
  /** Whether the registry asked for credentials, in this request or earlier in this process. */
  challenged: boolean
}

/**
 * A response whose body is still on the wire. The caller must read `body` to its end or destroy
 * it, whatever the status (an error's JSON: readCapped). A stall of --timeout while reading fails
 * the stream with a one-line TransportError.
 */
export interface RegistryStreamResponse {
  authScheme?: string
  body: Readable
  challenged: boolean
  headers: Record<string, string[]>
  status: number
  statusText: string
  url: string
}

export {readCapped} from './body.js'

/** A response as it arrives: headers read, body not (yet). */
interface OpenResponse {
  body: Readable
  /** The whole body, once read (request(), send()). */
  bytes?: Buffer
  endedAt?: number
  headers: Record<string, string[]>
  startedAt: number
  status: number
  statusText: string
  url: string
}

/** The timing of one attempt (a request and its redirects). */
interface Clock {
  /** No connection, redirect or (stream()) response headers after this. */
  deadline: number
  /** After the headers, the deadline gives way to an idle timeout between chunks. */
  streaming: boolean
  timeoutMs: number
}

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
/** Of a streamed error answer, what --debug-calls may show. */
const STREAM_CAPTURE_BYTES = 64 * 1024
const MAX_REDIRECTS = 5
/**
 * How long the TLS probe of an insecure or loopback registry waits for a handshake. A TLS server
 * answers a ClientHello in milliseconds; one that stays silent is taken for plain HTTP.
 */
const PROBE_TIMEOUT_MS = 2000
/** Request headers that hold credentials: never sent on to another origin. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization'])

const systemResolve: Resolver = async (hostname) => {
  const {lookup} = await import('node:dns/promises')
  return lookup(hostname, {all: true})
}

export class RegistryClient {
  readonly auth: AuthMiddleware
  private readonly agents: {http: HttpAgent; https: HttpsAgent}
  /** --ca-file's bundle beside the system roots, when given. */
  private readonly certificateAuthority?: string[]
  private readonly certsDirs?: CertsDirectories
  private readonly proxyAgents: ProxyAgents
  private readonly got: Got
  private readonly retryPolicy: RetryPolicy
  /** Scheme that worked for each endpoint, so the fallback probe happens once per process. */
  private readonly schemes = new Map<string, 'http' | 'https'>()
  /** One-shot request bodies already handed to a socket: they cannot be sent twice. */
  private readonly spentBodies = new WeakSet<Readable>()

  private constructor(
    private readonly baseGot: Got,
    private readonly options: RegistryClientOptions,
  ) {
    this.agents = {http: new HttpAgent({keepAlive: true}), https: new HttpsAgent({keepAlive: true})}
    this.proxyAgents = new ProxyAgents(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    let certificateAuthority: string[] | undefined
    if (options.certsDirs?.length) this.certsDirs = new CertsDirectories(options.certsDirs)
    if (options.caFile) {
      try {
        // Added to the system roots, as docker's certs.d does, rather than replacing them.
        certificateAuthority = [...rootCertificates, readFileSync(options.caFile, 'utf8')]
      } catch (error) {
        throw new InputError(`cannot read --ca-file ${options.caFile}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
      }
    }

    this.got = baseGot.extend({
      agent: this.agents,
      cache: false,
      decompress: true,
      followRedirect: false,
      headers: {'user-agent': options.userAgent ?? 'regshape'},
      https: {certificateAuthority, rejectUnauthorized: !options.insecure},
      retry: {limit: 0},
      throwHttpErrors: false,
    })
    this.certificateAuthority = certificateAuthority
    this.retryPolicy = {...DEFAULT_RETRY_POLICY, ...options.retryPolicy, retries: options.retries ?? DEFAULT_RETRY_POLICY.retries}
    this.auth = new AuthMiddleware((request) => this.send(request), (ref) => this.schemeOf(ref), options.tracer)
  }

  /** got is imported on first use: commands that never touch the network never pay for it. */
  static async create(options: RegistryClientOptions = {}): Promise<RegistryClient> {
    const {default: got} = await import('got')
    return new RegistryClient(got, options)
  }

  /**
   * A request to a registry's API, its response body read whole (capped: JSON). Sent without
   * credentials unless this process already knows the registry's challenge; on a 401 challenge,
   * credentials are fetched from `credentials` and the request is sent once more.
   */
  async request(ref: RegistryRef, request: RegistryRequest, credentials: CredentialsProvider): Promise<RegistryResponse> {
    const {tracer} = this.options
    const operation = async (): Promise<RegistryResponse> => {
      const {response, ...auth} = await this.authenticated(ref, request, credentials, false)
      return {...toHttpResponse(response), ...auth}
    }

    return tracer ? tracer.method(methodName(request), operation) : operation()
  }

  /**
   * The same request with its response body as a stream (blobs): authentication, retries and
   * redirects as request(), nothing buffered. --time-methods times it to the body's last byte.
   */
  async stream(ref: RegistryRef, request: RegistryRequest, credentials: CredentialsProvider): Promise<RegistryStreamResponse> {
    const open = async (): Promise<RegistryStreamResponse> => {
      const {authScheme, challenged, response} = await this.authenticated(ref, request, credentials, true)
      const {body, headers, status, statusText, url} = response
      return {authScheme, body, challenged, headers, status, statusText, url}
    }

    const {tracer} = this.options
    if (!tracer) return open()
    return new Promise((resolvePromise, rejectPromise) => {
      tracer
        .method(methodName(request), async () => {
          const response = await open()
          resolvePromise(response)
          await finished(response.body)
        })
        // After the headers, the caller sees a failure through the body; this one is the timing's.
        .catch(rejectPromise)
    })
  }

  private async authenticated(
    ref: RegistryRef,
    request: RegistryRequest,
    credentials: CredentialsProvider,
    streaming: boolean,
  ): Promise<{authScheme?: string; challenge?: Challenge; challenged: boolean; response: OpenResponse}> {
    const step = <T>(name: string, operation: () => Promise<T>) => (this.options.tracer ? this.options.tracer.step(name, operation) : operation())
    const known = this.auth.knownChallenge(ref)
    // A known challenge: the token for this request's scope is fetched before sending, so a new
    // scope costs no 401 round trip.
    const preemptive = known ? await step('credentials', async () => this.auth.authorize(known, ref, request.scope ?? known.params.scope, await credentials())) : undefined
    const first = await step(request.path === '/v2/' ? 'ping' : 'request', () => this.openRegistry(ref, request, preemptive, streaming))
    // A streamed 401's error JSON is read now, so the exchange ends (and shows in --debug-calls)
    // before the token request; the caller still gets it as a stream if it is the answer.
    if (streaming && first.status === 401) first.body = Readable.from([await readCapped(first.body, STREAM_CAPTURE_BYTES)])
    if (first.status !== 401) return {authScheme: preemptive?.scheme, challenge: known, challenged: Boolean(known), response: first}
    // A cached token the registry no longer takes (expired, revoked, wrong scope) is not reused.
    if (preemptive) this.auth.forgetToken(preemptive)
    const answer = await step('challenge', async () => {
      const challenge = this.auth.learnChallenge(ref, first)
      return challenge && {challenge, credentials: await credentials()}
    })
    if (!answer) return {challenge: undefined, challenged: false, response: first}
    const {challenge} = answer
    const authorization = await step(challenge.scheme === 'bearer' ? 'token' : 'credentials', () =>
      this.auth.authorize(challenge, ref, request.scope ?? challenge.params.scope, answer.credentials),
    )
    if (!authorization) return {challenge, challenged: true, response: first}
    await discard(first.body, first.headers['content-length']?.[0])
    const retried = await step('retry', () => this.openRegistry(ref, request, authorization, streaming))
    return {authScheme: authorization.scheme, challenge, challenged: true, response: retried}
  }

  /** The URL a registry path resolves to, with the scheme this process settled on. */
  registryUrl(ref: RegistryRef, path: string): string {
    return `${this.schemeOf(ref)}://${ref.endpoint}${path}`
  }

  /** The scheme this process settled on for a registry, or will try first. */
  private schemeOf(ref: RegistryRef): 'http' | 'https' {
    return this.schemes.get(ref.endpoint) ?? ref.scheme ?? 'https'
  }

  /**
   * Every HTTP exchange of the program, registry and token server alike, passes through here
   * (buffered: the body is read whole, within its cap).
   */
  async send(request: HttpRequest): Promise<HttpResponse> {
    return toHttpResponse(await this.exchange(request, false))
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  /** A client with the same settings and nothing learnt: no cached challenges, tokens or connections. */
  fork(): RegistryClient {
    return new RegistryClient(this.baseGot, this.options)
  }

  /** Closes idle keep-alive connections so the process can exit at once. */
  close(): void {
    this.agents.http.destroy()
    this.agents.https.destroy()
    this.proxyAgents.destroy()
  }

  /**
   * One request to a registry path with exactly the Authorization given (none by default): no
   * challenge handling. The HTTPS-to-HTTP fallback still applies.
   */
  async sendToRegistry(ref: RegistryRef, request: RegistryRequest, authorization?: {header: string}): Promise<HttpResponse> {
    return toHttpResponse(await this.openRegistry(ref, request, authorization, false))
  }

  private async openRegistry(ref: RegistryRef, request: RegistryRequest, authorization: undefined | {header: string}, streaming: boolean): Promise<OpenResponse> {
    const headers = {...request.headers}
    if (authorization) headers.authorization = authorization.header
    const send = () =>
      this.exchange(
        {
          body: request.body,
          contentLength: request.contentLength,
          guard: registryGuard(ref),
          headers,
          maxBodyBytes: request.maxBodyBytes,
          method: request.method,
          operation: request.operation,
          url: this.registryUrl(ref, request.path),
        },
        streaming,
      )
    if (this.schemes.has(ref.endpoint)) return send()
    if (ref.scheme) {
      // The user said which: no probe, no fallback.
      if (ref.scheme === 'http' && !(this.options.insecure || isLoopback(ref.endpoint))) {
        throw new InputError(`plain HTTP to ${ref.endpoint} needs --insecure: credentials would cross the network unencrypted`)
      }

      this.schemes.set(ref.endpoint, ref.scheme)
      return send()
    }

    const lenient = this.options.insecure || isLoopback(ref.endpoint)
    // The probe connects directly; through a proxy, the HTTPS attempt below tells the same thing
    // (a tunnel to a plain-HTTP server fails its handshake, and the fallback follows).
    if (lenient && !proxyFor(this.options.proxy, new URL(`https://${ref.endpoint}/`))) {
      const {tracer} = this.options
      const probe = () => speaksTls(ref.endpoint, Math.min(PROBE_TIMEOUT_MS, this.timeoutMs))
      const answer = await (tracer ? tracer.method(`tls probe ${ref.endpoint}`, probe) : probe())
      if (answer !== undefined) {
        this.schemes.set(ref.endpoint, answer ? 'https' : 'http')
        return send()
      }
    }

    try {
      const response = await send()
      this.schemes.set(ref.endpoint, 'https')
      return response
    } catch (error) {
      // Docker's rule for insecure and local registries: if the server does not speak TLS at all,
      // talk plain HTTP to it. A certificate that fails verification is never a reason to fall back.
      if (!lenient || !(error instanceof TransportError) || !error.notTls) throw error
      this.schemes.set(ref.endpoint, 'http')
      return send()
    }
  }

  /**
   * One request with its retries (registry.md §1): 429, 502, 503, 504 and broken connections,
   * for requests safe to repeat (idempotent, with a body that can be sent again), backing off
   * exponentially with jitter or as Retry-After says (capped). Each attempt has its own deadline.
   */
  private async exchange(request: HttpRequest, streaming: boolean): Promise<OpenResponse> {
    const stage = this.options.breakStage
    if (!stage) return this.attempts(request, streaming)
    // Break mode's one place: every exchange, registry and token server alike, after the
    // Authorization was added and before retries, redirects and telemetry see the request.
    const {mutations, request: mutated} = stage.apply(request)
    if (mutations.length === 0) return this.attempts(request, streaming)
    let response: OpenResponse
    try {
      response = await this.attempts(mutated, streaming)
    } catch (error) {
      stage.record({error: error instanceof Error ? error.message : describeError(error), mutations, request: mutated})
      throw error
    }

    // A streamed error answer is read (capped) for its OCI code, then handed on as read.
    if (streaming && response.status >= 400) {
      const bytes = await readCapped(response.body, STREAM_CAPTURE_BYTES)
      response.body = Readable.from([bytes])
      response.bytes = bytes
    }

    stage.record({body: response.bytes, mutations, request: mutated, status: response.status})
    return response
  }

  /** One request with its retries. */
  private async attempts(request: HttpRequest, streaming: boolean): Promise<OpenResponse> {
    const policy = this.retryPolicy
    let retry: HttpExchange['retry']
    for (let attempt = 1; ; attempt++) {
      const repeatable = attempt <= policy.retries && mayRetry(request.method, isReplayable(request.body))
      let reason: string
      let waitMs: number
      try {
        const response = await this.follow(request, streaming, retry)
        if (!repeatable || !isRetryableStatus(response.status)) return response
        reason = `HTTP ${response.status}`
        waitMs = retryDelayMs(attempt, policy, retryAfterMs(response.headers['retry-after']?.[0]))
        await discard(response.body, response.headers['content-length']?.[0])
      } catch (error) {
        if (!repeatable || !isRetryableError(error)) throw error
        reason = (error as {code: string}).code
        waitMs = retryDelayMs(attempt, policy)
      }

      const wait = () => new Promise<void>((resolvePromise) => setTimeout(resolvePromise, waitMs))
      const {tracer} = this.options
      const what = `${request.operation ?? request.method} ${redactUrl(request.url).replace(/\?.*$/, '')}`
      await (tracer ? tracer.method(`retry ${what} after ${reason} (${attempt} of ${policy.retries})`, wait) : wait())
      retry = {after: reason, attempt: attempt + 1, of: policy.retries + 1, waitedMs: waitMs}
    }
  }

  /** One attempt: the request and its redirects, under one deadline. */
  private async follow(request: HttpRequest, streaming: boolean, retry: HttpExchange['retry']): Promise<OpenResponse> {
    const clock: Clock = {deadline: performance.now() + this.timeoutMs, streaming, timeoutMs: this.timeoutMs}
    let current = request
    for (let hop = 0; ; hop++) {
      const response = await this.openHop(current, hop, clock, hop === 0 ? retry : undefined)
      const location = response.headers.location?.[0]
      if (response.status < 300 || response.status >= 400 || response.status === 304 || !location) {
        if (!streaming) {
          response.bytes = await collect(response.body)
          response.endedAt = performance.now()
        }

        return response
      }

      await discard(response.body, response.headers['content-length']?.[0])
      if (hop >= MAX_REDIRECTS) throw new ProtocolError(`too many redirects (more than ${MAX_REDIRECTS}) from ${redactUrl(request.url)}`)
      let target: URL
      try {
        target = new URL(location, current.url)
      } catch {
        throw new ProtocolError(`${redactUrl(current.url)} redirects to something that is not a URL`)
      }

      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw new ProtocolError(`${redactUrl(current.url)} redirects to a ${target.protocol.replace(/:$/, '')} URL; only http and https are followed`)
      }

      // Credentials regshape sends never ride in a URL; ones a server puts there are not followed.
      target.username = ''
      target.password = ''
      const from = new URL(current.url)
      const headers = {...current.headers}
      // Credentials are for the origin they were sent to, never for where it points us (an HTTPS
      // to HTTP redirect is another origin too): object storage gets a blob GET without them.
      if (target.origin !== from.origin) {
        if (current.body !== undefined) {
          throw new ProtocolError(
            `${from.host} redirects a ${current.method} request to another origin (${target.origin}); a request body, which may carry credentials, is never resent elsewhere`,
          )
        }

        for (const name of Object.keys(headers)) if (CREDENTIAL_HEADERS.has(name.toLowerCase())) delete headers[name]
      }

      const keepsMethod = response.status === 307 || response.status === 308
      current = {
        ...current,
        body: keepsMethod ? current.body : undefined,
        contentLength: keepsMethod ? current.contentLength : undefined,
        headers,
        method: keepsMethod || current.method === 'HEAD' ? current.method : 'GET',
        url: target.toString(),
      }
    }
  }

  /** What got sends as the body: a factory is called for this attempt, a one-shot stream is spent. */
  private bodyToSend(request: HttpRequest): Buffer | Readable | string | undefined {
    const {body} = request
    if (typeof body === 'function') return body()
    if (body instanceof Readable) {
      if (this.spentBodies.has(body)) {
        throw new ProtocolError(`the body of ${request.method} ${redactUrl(request.url)} was a one-shot stream, already sent: it cannot be sent again`)
      }

      this.spentBodies.add(body)
      return body
    }

    // got's stream API waits for a body to be written to any other method: an empty one ends it.
    if (body === undefined && request.method !== 'GET' && request.method !== 'HEAD') return ''
    return body
  }

  /** One HTTP exchange, resolved at the response headers; its body streams through ResponseBody. */
  private async openHop(request: HttpRequest, hop: number, clock: Clock, retry: HttpExchange['retry']): Promise<OpenResponse> {
    const started = performance.now()
    if (clock.deadline - started <= 0) throw new TransportError(`no answer from ${redactUrl(request.url)} within the timeout (--timeout)`, 'ETIMEDOUT', false)
    const {guard} = request
    const url = new URL(request.url)
    // A guarded URL off the registry's own host connects afresh (agent false), never on a pooled
    // socket, so the address check in the lookup below sees every connection it makes.
    const guarded = guard && !isAllowedHost(url, guard) ? guard : undefined
    const proxy = proxyFor(this.options.proxy, url)
    if (guarded) checkLiteral(url, guarded, hop)
    if (guarded && proxy) await this.checkBeforeProxy(url, guarded, hop)
    // A token realm is reached with the registry's TLS settings, as docker and containers/image
    // reach it with the registry's client; any other URL with its own host's.
    const hostTls = url.protocol === 'https:' ? this.tlsFor(guard?.registry ?? url.host) : undefined
    const streamBody = isStreamBody(request.body)
    let requestHeaders: Record<string, string> = {...request.headers}
    if (streamBody && request.contentLength !== undefined) requestHeaders['content-length'] = String(request.contentLength)
    const body = this.bodyToSend(request)
    let bytesSent = typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.byteLength(body) : 0
    const {tracer} = this.options
    const report = (outcome: {bytesReceived: number; error?: string; response?: {captured: Buffer; headers: Record<string, string[]>; status: number; statusText: string}}) => {
      if (!tracer) return
      const requestType = Object.entries(requestHeaders).find(([name]) => name.toLowerCase() === 'content-type')?.[1]
      const {response} = outcome
      // A token server's answer is shown before the auth layer reads it: its tokens are learnt
      // first, so headers of the same answer that echo them are masked too.
      if (request.operation === 'token' && response && response.status === 200) rememberGrantSecrets(response.captured)
      tracer.http({
        bytesReceived: outcome.bytesReceived,
        bytesSent,
        durationMs: performance.now() - started,
        error: outcome.error === undefined ? undefined : scrubSecrets(outcome.error),
        method: request.method,
        operation: request.operation,
        requestBody:
          request.body === undefined
            ? undefined
            : streamBody
              ? `<streamed body${request.contentLength === undefined ? '' : ` of ${request.contentLength} bytes`}>`
              : describeBody(request.body as Buffer | string, requestType),
        requestHeaders: redactHeaders(requestHeaders),
        responseBody: response && response.captured.length > 0 ? describeBody(response.captured, response.headers['content-type']?.[0]) : undefined,
        responseHeaders: redactHeaders(response?.headers ?? {}),
        retry,
        status: response?.status,
        // A reason phrase is the server's own text too: it may echo what it was sent.
        statusText: response && scrubSecrets(response.statusText),
        url: redactUrl(request.url),
      })
    }

    return new Promise<OpenResponse>((resolvePromise, rejectPromise) => {
      let answered = false
      let responseBody: ResponseBody | undefined
      let source: ReturnType<Got['stream']> | undefined
      const fail = (error: Error) => {
        if (answered) return
        answered = true
        clearTimeout(timer)
        source?.destroy()
        report({bytesReceived: 0, error: error.message})
        rejectPromise(error)
      }

      const onDeadline = () => {
        const error = new TransportError(`no answer from ${redactUrl(request.url)} within the timeout (--timeout)`, 'ETIMEDOUT', false)
        if (responseBody) responseBody.destroy(error)
        else fail(error)
      }

      let timer = setTimeout(onDeadline, clock.deadline - started)
      try {
        source = this.got.stream(request.url, {
          ...(proxy ? {agent: this.proxyAgents.for(proxy)} : guarded ? {agent: {http: false, https: false}} : {}),
          body,
          ...(hostTls ? {https: {certificate: hostTls.certificate, certificateAuthority: hostTls.certificateAuthority, key: hostTls.key, rejectUnauthorized: hostTls.rejectUnauthorized}} : {}),
          // Node's own lookup unless a guard must judge the answer or tests stand in for DNS. Through
          // a proxy, the proxy resolves the target; this lookup would only find the proxy itself.
          dnsLookup: !proxy && (guarded || this.options.resolve) ? (this.lookup(hop, url.port, guarded) as never) : undefined,
          headers: requestHeaders,
          method: request.method,
        })
      } catch (error) {
        fail(this.failure(error, request.url, hostTls))
        return
      }

      // The headers as they went out, got's own included, for --debug-calls.
      if (tracer) {
        source.once('request', (outgoing: {getHeaders(): Record<string, number | string | string[] | undefined>}) => {
          requestHeaders = Object.fromEntries(Object.entries(outgoing.getHeaders()).map(([name, value]) => [name, String(value)]))
        })
      }

      source.on('uploadProgress', ({transferred}: {transferred: number}) => {
        bytesSent = transferred
        // An upload that moves is waited for; --timeout bounds each wait, not its length.
        if (streamBody && !answered) {
          clock.deadline = Math.max(clock.deadline, performance.now() + clock.timeoutMs)
          clearTimeout(timer)
          timer = setTimeout(onDeadline, clock.deadline - performance.now())
        }
      })
      source.on('error', (error: unknown) => fail(this.failure(error, request.url, hostTls)))
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

        const captureBytes = !tracer ? 0 : clock.streaming ? (status >= 300 && isTextual(headers['content-type']?.[0]) ? STREAM_CAPTURE_BYTES : 0) : Number.POSITIVE_INFINITY
        responseBody = new ResponseBody(source!, {
          captureBytes,
          idleMs: clock.streaming ? clock.timeoutMs : undefined,
          maxBytes: clock.streaming ? undefined : (request.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES),
          onFinish: ({bytes, captured, error}) => {
            clearTimeout(timer)
            report({bytesReceived: bytes, error: error?.message, response: {captured, headers, status, statusText}})
          },
          sourceError: (error) => overrun(error, url, headers) ?? this.failure(error, request.url, hostTls),
          stalled: () =>
            new TransportError(`the transfer from ${redactUrl(request.url)} stalled: no data for ${formatSeconds(clock.timeoutMs)} (--timeout)`, 'ETIMEDOUT', false),
          tooLarge: (maxBytes) => new ProtocolError(`response from ${redactUrl(request.url)} is larger than ${maxBytes} bytes`),
        })
        resolvePromise({body: responseBody, headers, startedAt: started, status, statusText, url: request.url})
      })
    })
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
    return {
      certificate: host.cert,
      directory: host.directory,
      certificateAuthority: host.ca.length > 0 ? [...(this.certificateAuthority ?? rootCertificates), ...host.ca] : this.certificateAuthority,
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

/** --time-methods' name for a registry request: `registry blob.get GET /v2/…`. */
function methodName(request: RegistryRequest): string {
  return `registry ${request.operation ? `${request.operation} ` : ''}${request.method} ${request.path}`
}

function toHttpResponse(response: OpenResponse): HttpResponse {
  const {bytes = Buffer.alloc(0), endedAt = performance.now(), headers, startedAt, status, statusText, url} = response
  return {body: bytes, durationMs: endedAt - startedAt, headers, status, statusText, url}
}

/** Kinds of body telemetry may show (as redact.describeBody judges them). */
function isTextual(contentType: string | undefined): boolean {
  const type = (contentType ?? '').toLowerCase()
  return type === '' || type.includes('json') || type.startsWith('text/')
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

/**
 * Whether the server at an insecure or loopback endpoint speaks TLS, learnt from its answer to a
 * ClientHello. The probe's TLS context trusts nothing (`ca: []`), so Node does not build its
 * root-certificate store for it (30-40 ms); it verifies nothing either, and sends nothing but the
 * handshake. The real request, over HTTPS, then verifies as always.
 *
 * false: the TCP connection opened but no handshake came back, whether the server answered in
 * plain HTTP, reset the connection or kept silent for `timeoutMs`; like skopeo with
 * --tls-verify=false and docker for its insecure registries (loopback ones by default), that
 * means plain HTTP. undefined: no connection at all (refused, unreachable, unknown host), so the
 * caller's ordinary attempt reports what went wrong.
 */
async function speaksTls(endpoint: string, timeoutMs: number): Promise<boolean | undefined> {
  const tls = await import('node:tls')
  const {host, port = 443} = splitEndpoint(endpoint)
  return new Promise((resolvePromise) => {
    let connected = false
    const socket = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      secureContext: tls.createSecureContext({ca: []}),
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
    })
    const timer = setTimeout(() => settle(connected ? false : undefined), timeoutMs)
    function settle(answer: boolean | undefined): void {
      clearTimeout(timer)
      socket.destroy()
      resolvePromise(answer)
    }

    socket.once('connect', () => {
      connected = true
    })
    socket.once('secureConnect', () => settle(true))
    socket.once('error', (error: NodeJS.ErrnoException) => settle(connected || isNotTls(error) ? false : undefined))
  })
}

function isNotTls(error: {code?: string; message?: string}): boolean {
  return error.code === 'EPROTO' || error.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/.test(error.message ?? '')
}

export function isLoopback(endpoint: string): boolean {
  const {host} = splitEndpoint(endpoint)
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

export class TransportError extends NetworkError {
  constructor(
    message: string,
    readonly code: string | undefined,
    /** The server answered, but not with TLS: it speaks plain HTTP. */
    readonly notTls: boolean,
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
  }
}

const TRUST_HINT = 'use --ca-file or a certs.d ca.crt to trust its CA, or --insecure to skip verification'

/**
 * TLS failures in regshape's own words, by OpenSSL's verify code. Node's text is not used for
 * these: newer Node versions append their own advice ("try running Node.js with --use-system-ca"),
 * which names a Node flag a regshape user cannot pass.
 */
const TLS_FAILURES: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  DEPTH_ZERO_SELF_SIGNED_CERT: `self-signed certificate (${TRUST_HINT})`,
  SELF_SIGNED_CERT_IN_CHAIN: `self-signed certificate in certificate chain (${TRUST_HINT})`,
  UNABLE_TO_GET_ISSUER_CERT: `unable to get issuer certificate (${TRUST_HINT})`,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: `unable to get local issuer certificate (${TRUST_HINT})`,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: `unable to verify the first certificate (${TRUST_HINT})`,
}

/** Node's own advice, in whatever words a Node version adds it to an error's text. */
const NODE_ADVICE = /;?\s*(?:if [^;]*?,\s*)?try (?:running|using) Node(?:\.js)? with --[\w-]+.*$/i

/** A TLS alert about the client's certificate (alert names differ between OpenSSL versions). */
const CLIENT_CERT_ALERT = /_ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/

function toNetworkError(error: unknown, url: string, hostTls?: {certificate?: string; directory?: string}): TransportError {
  const err = error as {code?: string; message?: string; name?: string}
  const code = err.code
  let message = (err.message ?? describeError(error)).split('\n')[0].replace(NODE_ADVICE, '')
  const notTls = isNotTls(err)
  const alert = code ? CLIENT_CERT_ALERT.exec(code) : null
  const host = new URL(url).host
  if (notTls) message = `${host} does not speak TLS (${code ?? 'EPROTO'})`
  else if (err.name === 'TimeoutError') message = `no answer from ${redactUrl(url)} within the timeout (--timeout)`
  else if (code && TLS_FAILURES[code]) message = `TLS: ${TLS_FAILURES[code]}`
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') message = `TLS: ${message} (the certificate does not name this host)`
  else if (alert) {
    const what = alert[1].toLowerCase().replaceAll('_', ' ')
    message =
      hostTls?.certificate === undefined
        ? `TLS: ${host} refused the handshake (alert: ${what}): it wants a client certificate; put client.cert and client.key in ~/.config/containers/certs.d/${host}/`
        : `TLS: ${host} refused the client certificate from ${hostTls.directory} (alert: ${what})`
  }

  return new TransportError(message, code, notTls, {cause: error})
}
