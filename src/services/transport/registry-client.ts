import type {Got} from 'got'

import {Agent as HttpAgent} from 'node:http'
import {Agent as HttpsAgent} from 'node:https'
import {readFileSync} from 'node:fs'
import {rootCertificates} from 'node:tls'

import {type RegistryRef, splitEndpoint} from '../credentials/registry-name.js'

import {InputError, NetworkError, ProtocolError, describeError} from '../errors.js'
import {type ResolvedAddress, type Resolver, checkLiteral, checkResolved, isAllowedHost, InternalAddressError} from './addresses.js'
import {AuthMiddleware, type CredentialsProvider} from './auth.js'
import type {Challenge} from './challenge.js'
import type {Tracer} from '../telemetry/tracer.js'
import type {AddressGuard, HttpMethod, HttpRequest, HttpResponse} from './http.js'
import {describeBody, redactHeaders, redactUrl} from './redact.js'

/**
 * RegistryClient: the one door through which every HTTP request of regshape goes. It owns TLS
 * settings, keep-alive connections, timeouts, redirects, the HTTPS→HTTP fallback for local
 * registries, authentication (through AuthMiddleware) and what telemetry gets to see.
 */

export interface RegistryClientOptions {
  /** PEM bundle trusted in addition to the system roots (--ca-file). */
  caFile?: string
  /** Skip TLS verification and allow plain HTTP (--insecure). */
  insecure?: boolean
  /** Telemetry; absent unless a telemetry flag is given. */
  tracer?: Tracer
  /** Per request, connect to last byte of the last redirect. */
  timeoutMs?: number
  /** Name resolution (dns.lookup by default); tests stand in for DNS with it. */
  resolve?: Resolver
  userAgent?: string
}

export interface RegistryRequest {
  body?: string
  headers?: Record<string, string>
  maxBodyBytes?: number
  method: HttpMethod
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

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
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
  private readonly got: Got
  /** Scheme that worked for each endpoint, so the fallback probe happens once per process. */
  private readonly schemes = new Map<string, 'http' | 'https'>()

  private constructor(
    private readonly baseGot: Got,
    private readonly options: RegistryClientOptions,
  ) {
    this.agents = {http: new HttpAgent({keepAlive: true}), https: new HttpsAgent({keepAlive: true})}
    let certificateAuthority: string[] | undefined
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
    this.auth = new AuthMiddleware((request) => this.send(request), (ref) => this.schemeOf(ref), options.tracer)
  }

  /** got is imported on first use: commands that never touch the network never pay for it. */
  static async create(options: RegistryClientOptions = {}): Promise<RegistryClient> {
    const {default: got} = await import('got')
    return new RegistryClient(got, options)
  }

  /**
   * A request to a registry's API. Sent without credentials unless this process already knows the
   * registry's challenge; on a 401 challenge, credentials are fetched from `credentials` and the
   * request is retried once.
   */
  async request(ref: RegistryRef, request: RegistryRequest, credentials: CredentialsProvider): Promise<RegistryResponse> {
    const {tracer} = this.options
    const operation = () => this.authenticatedRequest(ref, request, credentials)
    return tracer ? tracer.method(`registry ${request.method} ${request.path}`, operation) : operation()
  }

  private async authenticatedRequest(ref: RegistryRef, request: RegistryRequest, credentials: CredentialsProvider): Promise<RegistryResponse> {
    const step = <T>(name: string, operation: () => Promise<T>) => (this.options.tracer ? this.options.tracer.step(name, operation) : operation())
    const known = this.auth.knownChallenge(ref)
    const preemptive = known ? await step('credentials', async () => this.auth.authorize(known, ref, request.scope ?? known.params.scope, await credentials())) : undefined
    const first = await step(request.path === '/v2/' ? 'ping' : 'request', () => this.sendToRegistry(ref, request, preemptive))
    if (first.status !== 401) return {...first, authScheme: preemptive?.scheme, challenge: known, challenged: Boolean(known)}
    // A cached token the registry no longer takes (expired, revoked, wrong scope) is not reused.
    if (preemptive) this.auth.forgetTokens(ref)
    const answer = await step('challenge', async () => {
      const challenge = this.auth.learnChallenge(ref, first)
      return challenge && {challenge, credentials: await credentials()}
    })
    if (!answer) return {...first, challenge: undefined, challenged: false}
    const {challenge} = answer
    const authorization = await step(challenge.scheme === 'bearer' ? 'token' : 'credentials', () =>
      this.auth.authorize(challenge, ref, request.scope ?? challenge.params.scope, answer.credentials),
    )
    if (!authorization) return {...first, challenge, challenged: true}
    const retried = await step('retry', () => this.sendToRegistry(ref, request, authorization))
    return {...retried, authScheme: authorization.scheme, challenge, challenged: true}
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
   * Every HTTP exchange of the program, registry and token server alike, passes through here.
   * One deadline (--timeout) covers the request and all its redirects, so a chain of slow hops
   * cannot stretch it.
   */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const deadline = performance.now() + this.timeoutMs
    let current = request
    for (let hop = 0; ; hop++) {
      const response = await this.sendOnce(current, hop, deadline)
      const location = response.headers.location?.[0]
      if (response.status < 300 || response.status >= 400 || response.status === 304 || !location) return response
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
      // to HTTP redirect is another origin too).
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
        headers,
        method: keepsMethod || current.method === 'HEAD' ? current.method : 'GET',
        url: target.toString(),
      }
    }
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
  }

  /**
   * One request to a registry path with exactly the Authorization given (none by default): no
   * challenge handling. The HTTPS-to-HTTP fallback still applies.
   */
  async sendToRegistry(ref: RegistryRef, request: RegistryRequest, authorization?: {header: string}): Promise<HttpResponse> {
    const headers = {...request.headers}
    if (authorization) headers.authorization = authorization.header
    const build = (): HttpRequest => ({
      body: request.body,
      headers,
      maxBodyBytes: request.maxBodyBytes,
      method: request.method,
      url: this.registryUrl(ref, request.path),
    })
    if (this.schemes.has(ref.endpoint)) return this.send(build())
    if (ref.scheme) {
      // The user said which: no probe, no fallback.
      if (ref.scheme === 'http' && !(this.options.insecure || isLoopback(ref.endpoint))) {
        throw new InputError(`plain HTTP to ${ref.endpoint} needs --insecure: credentials would cross the network unencrypted`)
      }

      this.schemes.set(ref.endpoint, ref.scheme)
      return this.send(build())
    }

    const lenient = this.options.insecure || isLoopback(ref.endpoint)
    if (lenient) {
      const {tracer} = this.options
      const probe = () => speaksTls(ref.endpoint, Math.min(PROBE_TIMEOUT_MS, this.timeoutMs))
      const answer = await (tracer ? tracer.method(`tls probe ${ref.endpoint}`, probe) : probe())
      if (answer !== undefined) {
        this.schemes.set(ref.endpoint, answer ? 'https' : 'http')
        return this.send(build())
      }
    }

    try {
      const response = await this.send(build())
      this.schemes.set(ref.endpoint, 'https')
      return response
    } catch (error) {
      // Docker's rule for insecure and local registries: if the server does not speak TLS at all,
      // talk plain HTTP to it. A certificate that fails verification is never a reason to fall back.
      if (!lenient || !(error instanceof TransportError) || !error.notTls) throw error
      this.schemes.set(ref.endpoint, 'http')
      return this.send(build())
    }
  }

  private async sendOnce(request: HttpRequest, hop: number, deadline: number): Promise<HttpResponse> {
    const started = performance.now()
    const remainingMs = deadline - started
    if (remainingMs <= 0) throw new TransportError(`no answer from ${redactUrl(request.url)} within the timeout (--timeout)`, 'ETIMEDOUT', false)
    const {guard} = request
    const url = new URL(request.url)
    // A guarded URL off the registry's own host connects afresh (agent false), never on a pooled
    // socket, so the address check in the lookup below sees every connection it makes.
    const guarded = guard && !isAllowedHost(url, guard) ? guard : undefined
    if (guarded) checkLiteral(url, guarded, hop)
    const maxBodyBytes = request.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    let requestHeaders: Record<string, string> = {...request.headers}
    let bytesReceived = 0
    const chunks: Buffer[] = []
    let responseSeen: undefined | {headers: Record<string, string[]>; status: number; statusText: string}
    const observe = (error?: string) => {
      const {tracer} = this.options
      if (!tracer) return
      const requestType = Object.entries(requestHeaders).find(([name]) => name.toLowerCase() === 'content-type')?.[1]
      tracer.http({
        bytesReceived,
        bytesSent: request.body ? Buffer.byteLength(request.body) : 0,
        durationMs: performance.now() - started,
        error,
        method: request.method,
        requestBody: request.body === undefined ? undefined : describeBody(request.body, requestType),
        requestHeaders: redactHeaders(requestHeaders),
        responseBody: bytesReceived > 0 ? describeBody(Buffer.concat(chunks), responseSeen?.headers['content-type']?.[0]) : undefined,
        responseHeaders: redactHeaders(responseSeen?.headers ?? {}),
        status: responseSeen?.status,
        statusText: responseSeen?.statusText,
        url: redactUrl(request.url),
      })
    }

    try {
      const response = await new Promise<HttpResponse>((resolvePromise, rejectPromise) => {
        const stream = this.got.stream(request.url, {
          ...(guarded ? {agent: {http: false, https: false}} : {}),
          body: request.body,
          // Node's own lookup unless a guard must judge the answer or tests stand in for DNS.
          dnsLookup: guarded || this.options.resolve ? (this.lookup(hop, url.port, guarded) as never) : undefined,
          headers: requestHeaders,
          method: request.method,
          timeout: {request: remainingMs},
        })
        // The headers as they went out, got's own included, for --debug-calls.
        if (this.options.tracer) {
          stream.once('request', (outgoing: {getHeaders(): Record<string, number | string | string[] | undefined>}) => {
            requestHeaders = Object.fromEntries(Object.entries(outgoing.getHeaders()).map(([name, value]) => [name, String(value)]))
          })
        }

        stream.on('response', (incoming: {rawHeaders: string[]; statusCode: number; statusMessage?: string}) => {
          responseSeen = {headers: groupHeaders(incoming.rawHeaders), status: incoming.statusCode, statusText: incoming.statusMessage ?? ''}
        })
        stream.on('data', (chunk: Buffer) => {
          bytesReceived += chunk.length
          if (bytesReceived > maxBodyBytes) {
            stream.destroy(new ProtocolError(`response from ${redactUrl(request.url)} is larger than ${maxBodyBytes} bytes`))
            return
          }

          chunks.push(chunk)
        })
        stream.on('error', rejectPromise)
        stream.on('end', () => {
          if (!responseSeen) {
            rejectPromise(new ProtocolError(`no response from ${redactUrl(request.url)}`))
            return
          }

          resolvePromise({...responseSeen, body: Buffer.concat(chunks), durationMs: performance.now() - started, url: request.url})
        })
      })
      observe()
      return response
    } catch (error) {
      const cause = (error as {cause?: unknown}).cause
      const failure = error instanceof ProtocolError ? error : cause instanceof InternalAddressError ? cause : toNetworkError(error, request.url)
      observe(failure.message)
      throw failure
    }
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

const TLS_HINTS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'use --ca-file to trust it, or --insecure to skip verification',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate does not name this host',
  SELF_SIGNED_CERT_IN_CHAIN: 'use --ca-file to trust its CA, or --insecure to skip verification',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'use --ca-file to trust its CA, or --insecure to skip verification',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'use --ca-file to trust its CA, or --insecure to skip verification',
}

function toNetworkError(error: unknown, url: string): TransportError {
  const err = error as {code?: string; message?: string; name?: string}
  const code = err.code
  let message = (err.message ?? describeError(error)).split('\n')[0]
  const notTls = isNotTls(err)
  if (notTls) message = `${new URL(url).host} does not speak TLS (${code ?? 'EPROTO'})`
  else if (err.name === 'TimeoutError') message = `no answer from ${redactUrl(url)} within the timeout (--timeout)`
  else if (code && TLS_HINTS[code]) message = `TLS: ${message} (${TLS_HINTS[code]})`
  return new TransportError(message, code, notTls, {cause: error})
}
