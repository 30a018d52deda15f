import type {Got} from 'got'
import type {Readable} from 'node:stream'

import {readFileSync} from 'node:fs'
import {rootCertificates} from 'node:tls'

import type {RegistryRef} from '../reference/registry.js'
import type {Resolver} from './addresses.js'
import type {Challenge} from './challenge.js'
import type {BreakStage, HttpMethod, HttpRequest, HttpResponse, RequestBody} from './http.js'

import {InputError, describeError} from '../errors.js'
import {NO_TRACER, type Tracer} from '../telemetry/tracer.js'
import {AuthMiddleware, type CredentialsProvider} from './auth.js'
import {certsDirRoots} from './certs-d.js'
import {type Exchange, Pipeline, type RegistryTarget, type Reply} from './pipeline.js'
import {type ProxySettings, proxySettingsFromEnv} from './proxy.js'
import {DEFAULT_RETRY_POLICY, type RetryPolicy} from './retry.js'
import {AuthStage} from './stages/auth.js'
import {BreakModeStage} from './stages/break.js'
import {OperationStage} from './stages/operation.js'
import {RedirectStage} from './stages/redirect.js'
import {type RateLimitedWait, RetryStage} from './stages/retry.js'
import {SchemeStage} from './stages/scheme.js'
import {TelemetryStage} from './stages/telemetry.js'
import {WireStage} from './stages/wire.js'

/**
 * The one door through which every HTTP request of regshape goes: the pipeline of ./pipeline.ts,
 * built once per run from plain options (no oclif), with the state its stages learn (schemes,
 * challenges, tokens, connections) kept for the life of the transport.
 */

export interface TransportOptions {
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
  /** Told of each wait on a 429 before it starts (the CLI shows it on stderr). */
  onRateLimited?: (wait: RateLimitedWait) => void
  /** The backoff's timing, for tests that cannot wait for the real one. */
  retryPolicy?: Partial<Omit<RetryPolicy, 'retries'>>
  /**
   * --timeout. A buffered request: one deadline from connecting to the last byte of the last
   * redirect. A stream: one deadline from connecting to the response headers (redirects
   * included), then the longest wait for each next chunk; a transfer that keeps moving is never cut.
   */
  timeoutMs?: number
  /** Telemetry; the no-op tracer unless a telemetry flag is given. */
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
  /** Cap on a response body read whole (4 MiB by default); a stream has none. */
  maxBodyBytes?: number
  method: HttpMethod
  /**
   * What the request is for: `tag.list`, `manifest.get`, `blob.get`, `catalog.list`,
   * `referrers.list`, `ping`... Named in --time-methods and --debug-calls; break mode matches it.
   */
  operation?: string
  /** Path under the registry root, starting with /v2/. */
  path: string
  /** Token scope for Bearer registries, e.g. `repository:library/alpine:pull`. */
  scope?: string
  /** The request goes on with a body that broke (a Range request): telemetry shows it. */
  resume?: {after: string; attempt: number; from: number; of: number}
}

export interface RegistryResponse extends HttpResponse {
  /** The scheme of the Authorization that was sent, if any. */
  authScheme?: string
  /** The challenge regshape answered (learnt from this request's 401 or an earlier one). */
  challenge?: Challenge
  /** Whether the registry asked for credentials, in this request or earlier in this process. */
  challenged: boolean
  /**
   * The registry refused the token sent with a one-shot body (it expired on the way): a new one
   * is cached, and the request, whose body is spent, was not sent again.
   */
  renewed?: boolean
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
export {TransportError, isLoopback} from './tls.js'
export type {RateLimitedWait} from './stages/retry.js'

const DEFAULT_TIMEOUT_MS = 30_000

export class Transport {
  /** The challenges and tokens this transport learnt (login checks scopes through it). */
  readonly auth: AuthMiddleware
  private readonly pipeline: Pipeline
  private readonly scheme: SchemeStage
  private readonly wire: WireStage

  private constructor(
    private readonly baseGot: Got,
    private readonly options: TransportOptions,
  ) {
    const tracer = options.tracer ?? NO_TRACER
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    let certificateAuthority: string[] | undefined
    if (options.caFile) {
      try {
        // Added to the system roots, as docker's certs.d does, rather than replacing them.
        certificateAuthority = [...rootCertificates, readFileSync(options.caFile, 'utf8')]
      } catch (error) {
        throw new InputError(`cannot read --ca-file ${options.caFile}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
      }
    }

    this.scheme = new SchemeStage({insecure: options.insecure, proxy: options.proxy, timeoutMs}, tracer)
    this.auth = new AuthMiddleware((request) => this.send(request), (ref) => this.scheme.schemeOf(ref), tracer)
    this.wire = new WireStage(baseGot, {
      certificateAuthority,
      certsDirs: options.certsDirs,
      insecure: options.insecure,
      proxy: options.proxy,
      resolve: options.resolve,
      timeoutMs,
      userAgent: options.userAgent,
    })
    const policy = {...DEFAULT_RETRY_POLICY, ...options.retryPolicy, retries: options.retries ?? DEFAULT_RETRY_POLICY.retries}
    this.pipeline = new Pipeline([
      new OperationStage(tracer),
      new AuthStage(this.auth, tracer),
      this.scheme,
      new BreakModeStage(options.breakStage),
      new RetryStage(policy, timeoutMs, tracer, options.onRateLimited),
      new RedirectStage(),
      new TelemetryStage(tracer),
      this.wire,
    ])
  }

  /** got is imported on first use: commands that never touch the network never pay for it. */
  static async create(options: TransportOptions = {}): Promise<Transport> {
    const {default: got} = await import('got')
    return new Transport(got, options)
  }

  /**
   * A transport with this machine's settings, as the CLI makes it: the certs.d directories and
   * HTTPS_PROXY, HTTP_PROXY and NO_PROXY of `env` (process.env by default); options win.
   */
  static fromEnvironment(options: TransportOptions & {env?: NodeJS.ProcessEnv} = {}): Promise<Transport> {
    const {env = process.env, ...rest} = options
    return Transport.create({certsDirs: certsDirRoots(env), proxy: proxySettingsFromEnv(env), ...rest})
  }

  /**
   * A request to a registry's API, its response body read whole (capped: JSON). Sent without
   * credentials unless this process already knows the registry's challenge; on a 401 challenge,
   * credentials are fetched from `credentials` and the request is sent once more.
   */
  async request(ref: RegistryRef, request: RegistryRequest, credentials: CredentialsProvider): Promise<RegistryResponse> {
    const reply = await this.pipeline.send(registryExchange(ref, request, {credentials}, false))
    return {...toHttpResponse(reply), authScheme: reply.authScheme, challenge: reply.challenge, challenged: reply.challenged ?? false, renewed: reply.renewed}
  }

  /**
   * The same request with its response body as a stream (blobs): authentication, retries and
   * redirects as request(), nothing buffered. --time-methods times it to the body's last byte.
   */
  async stream(ref: RegistryRef, request: RegistryRequest, credentials: CredentialsProvider): Promise<RegistryStreamResponse> {
    const {authScheme, body, challenged, headers, status, statusText, url} = await this.pipeline.send(registryExchange(ref, request, {credentials}, true))
    return {authScheme, body, challenged: challenged ?? false, headers, status, statusText, url}
  }

  /**
   * One request to a registry path with exactly the Authorization given (none by default): no
   * challenge handling. The HTTPS-to-HTTP fallback still applies.
   */
  async sendToRegistry(ref: RegistryRef, request: RegistryRequest, authorization?: {header: string}): Promise<HttpResponse> {
    return toHttpResponse(await this.pipeline.send(registryExchange(ref, request, {authorization}, false), 'scheme'))
  }

  /**
   * A request to an absolute URL (a token realm, an upload Location on another host), its body
   * read whole within its cap. No credentials are added: the caller's headers are all it carries.
   */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const reply = await this.pipeline.send({...request, headers: {...request.headers}, streaming: false})
    return toHttpResponse(reply)
  }

  /** --retries: how many times a request is tried again, and a broken body resumed. */
  get retries(): number {
    return this.options.retries ?? DEFAULT_RETRY_POLICY.retries
  }

  /** The URL a registry path resolves to, with the scheme this process settled on. */
  registryUrl(ref: RegistryRef, path: string): string {
    return this.scheme.registryUrl(ref, path)
  }

  /** A transport with the same settings and nothing learnt: no cached challenges, tokens or connections. */
  fork(): Transport {
    return new Transport(this.baseGot, this.options)
  }

  /** Closes idle keep-alive connections so the process can exit at once. */
  close(): void {
    this.wire.close()
  }
}

function registryExchange(ref: RegistryRef, request: RegistryRequest, auth: Pick<RegistryTarget, 'authorization' | 'credentials'>, streaming: boolean): Exchange {
  const {path, scope, ...http} = request
  return {...http, headers: {...request.headers}, registry: {...auth, path, ref, scope}, streaming}
}

function toHttpResponse(reply: Reply): HttpResponse {
  const {bytes = Buffer.alloc(0), headers, startedAt, status, statusText, url} = reply
  return {body: bytes, durationMs: performance.now() - startedAt, headers, status, statusText, url}
}
