import type {Readable} from 'node:stream'

import type {RegistryRef} from '../reference/registry.js'
import type {CredentialsProvider} from './auth.js'
import type {Challenge} from './challenge.js'
import type {HttpExchange} from '../telemetry/tracer.js'
import type {AddressGuard, HttpMethod, RequestBody} from './http.js'

/**
 * The transport is one pipeline of stages, each a file of ./stages/ with one job, and this is the
 * one place that says in which order a request meets them (go-containerregistry's chain of
 * RoundTrippers, declared once in its options.go):
 *
 *   operation → auth → scheme → break → retry → redirect → telemetry → wire
 *
 * - operation: names the request (`registry blob.get GET /v2/…`) and times it for --time-methods,
 *   a streamed body to its last byte.
 * - auth: answers the registry's 401 challenge (Basic, or a Bearer token from the realm, cached
 *   per scope); a known challenge is answered before sending.
 * - scheme: turns a registry path into a URL: HTTPS, or plain HTTP where the user said so or an
 *   insecure or loopback registry does not speak TLS (probed once per process).
 * - break: break mode's rules change the request on its way out (after the Authorization was
 *   added), and report what came back.
 * - retry: 429, 502-504 and broken connections, for requests safe to repeat; each attempt has
 *   its own deadline, and a buffered answer is read whole inside its attempt.
 * - redirect: follows Location hops, never carrying credentials or a body to another origin.
 * - telemetry: what --debug-calls shows of each hop, secrets masked.
 * - wire: one HTTP exchange: TLS (--ca-file, certs.d), proxies, the address guard with pinned
 *   DNS, timeouts, and the response body as a stream.
 *
 * Every request of the program goes in at the top: registry API calls, token requests (a token
 * realm is an absolute URL that auth and scheme let through) and upload sessions on another host.
 */
export const STAGE_ORDER = ['operation', 'auth', 'scheme', 'break', 'retry', 'redirect', 'telemetry', 'wire'] as const

export type StageName = (typeof STAGE_ORDER)[number]

/** The timing of one attempt (a request and its redirects), set by the retry stage. */
export interface Clock {
  /** No connection, redirect or (streaming) response headers after this (a performance clock reading, ms). */
  deadline: number
  /** After the headers, the deadline gives way to an idle timeout between chunks. */
  streaming: boolean
  timeoutMs: number
}

/** A registry API request: the scheme stage makes its URL, the auth stage its Authorization. */
export interface RegistryTarget {
  /** An Authorization to send as it is, with no challenge handling (sendToRegistry). */
  authorization?: {header: string}
  /** Asked only once the registry wants credentials; without it no challenge is answered. */
  credentials?: CredentialsProvider
  /** Path under the registry root, starting with /v2/. */
  path: string
  ref: RegistryRef
  /** Token scope for Bearer registries, e.g. `repository:library/alpine:pull`. */
  scope?: string
}

/** What the wire reports to the telemetry stage about one hop, as it happens. */
export interface WireObserver {
  /** Bytes of an answer's body to keep for --debug-calls (0: none). */
  captureBytes(status: number, headers: Record<string, string[]>): number
  /** The headers as they went out, the HTTP client's own (Host, User-Agent) included. */
  sent(headers: Record<string, string>): void
  bytesSent(bytes: number): void
  /** The answer's headers. */
  answered(answer: {headers: Record<string, string[]>; status: number; statusText: string}): void
  /** The body's end, failure or drop; or, with no answer at all, the failure. `bulk`: the bulk reader's reads. */
  finished(outcome: {bulk?: {largest: number; reads: number}; bytes: number; captured: Buffer; error?: Error}): void
}

/** One request on its way down the pipeline. Stages hand a changed copy down, never mutate. */
export interface Exchange {
  body?: RequestBody
  /** Length of a streamed body (Content-Length); without it the body goes chunked. */
  contentLength?: number
  guard?: AddressGuard
  headers: Record<string, string>
  /** Cap on a buffered answer's body (4 MiB by default); a streamed one has none. */
  maxBodyBytes?: number
  method: HttpMethod
  /** What the request is for (`blob.get`, `token`, …): telemetry names it, break mode matches it. */
  operation?: string
  /** A registry API request; absent for an absolute URL. */
  registry?: RegistryTarget
  /** The request goes on with a body that broke (a Range request): shown by telemetry. */
  resume?: HttpExchange['resume']
  /** The body streams to the caller (blobs), or is read whole within maxBodyBytes (JSON). */
  streaming: boolean
  /** The absolute URL: given (a token realm, an upload Location elsewhere) or made by the scheme stage. */
  url?: string
  // Set on the way down:
  /** retry: this attempt's deadline. */
  clock?: Clock
  /** redirect: 0 for the first request of an attempt, then one more for each Location followed. */
  hop?: number
  /** retry: which attempt this is, after what (on the first hop of a retry). */
  retry?: HttpExchange['retry']
  /** telemetry: told what the wire sees. */
  observer?: WireObserver
}

/** An answer on its way up: headers read, body still streaming unless `bytes` holds it. */
export interface Reply {
  /** auth: the scheme of the Authorization that was sent, if any. */
  authScheme?: string
  body: Readable
  /** The whole body of a buffered exchange (read by the retry stage, inside the attempt). */
  bytes?: Buffer
  /** auth: the challenge answered (learnt from this request's 401 or an earlier one). */
  challenge?: Challenge
  /** auth: whether the registry asked for credentials, in this request or earlier in this process. */
  challenged?: boolean
  /**
   * auth: the registry refused the token sent with a one-shot body; a new token is cached, but the
   * request was not sent again (its body is spent).
   */
  renewed?: boolean
  headers: Record<string, string[]>
  startedAt: number
  status: number
  statusText: string
  url: string
}

export type Next = (exchange: Exchange) => Promise<Reply>

export interface Stage {
  readonly name: StageName
  handle(exchange: Exchange, next: Next): Promise<Reply>
}

export class Pipeline {
  constructor(private readonly stages: readonly Stage[]) {
    const names = stages.map((stage) => stage.name).join(' → ')
    if (names !== STAGE_ORDER.join(' → ')) throw new Error(`the transport's stages are ${names}, not ${STAGE_ORDER.join(' → ')}`)
  }

  /** Sends an exchange down the stages from `from` (the top by default) to the wire. */
  send(exchange: Exchange, from: StageName = STAGE_ORDER[0]): Promise<Reply> {
    return this.next(STAGE_ORDER.indexOf(from))(exchange)
  }

  private next(index: number): Next {
    return (exchange) => {
      const stage = this.stages[index]
      if (!stage) return Promise.reject(new Error('no stage answered the request'))
      return stage.handle(exchange, this.next(index + 1))
    }
  }
}
