import type {Tracer} from '../../telemetry/tracer.js'
import type {HttpExchange} from '../../telemetry/tracer.js'
import type {Exchange, Next, Reply, Stage} from '../pipeline.js'

import {collect, discard, isReplayable} from '../body.js'
import {redactUrl} from '../redact.js'
import {type RetryPolicy, isRetryableError, isRetryableStatus, mayRetry, retryAfterMs, retryDelayMs} from '../retry.js'

/**
 * One request with its retries (registry.md §1, ../retry.ts): 429, 502, 503, 504 and broken
 * connections, for requests safe to repeat (idempotent, with a body that can be sent again),
 * backing off exponentially with jitter or as Retry-After says (capped). Each attempt has its own
 * deadline (--timeout), and a buffered answer is read whole inside its attempt, so a connection
 * that breaks in the middle of a JSON body is retried too.
 *
 * A 429 with Retry-After is about the host, not the one request: every request to that host
 * waits until the time it gave (HostPauses), so a sync of many images pauses as a whole
 * instead of each request meeting its own 429.
 */
export class RetryStage implements Stage {
  readonly name = 'retry'
  private readonly pauses = new HostPauses()

  constructor(
    private readonly policy: RetryPolicy,
    private readonly timeoutMs: number,
    private readonly tracer: Tracer,
    /** Told of each wait on a 429 before it starts: the user sees why nothing moves. */
    private readonly onRateLimited?: (wait: RateLimitedWait) => void,
  ) {}

  async handle(exchange: Exchange, next: Next): Promise<Reply> {
    const {policy} = this
    let retry: HttpExchange['retry']
    for (let attempt = 1; ; attempt++) {
      const repeatable = attempt <= policy.retries && mayRetry(exchange.method, isReplayable(exchange.body))
      let reason: string
      let waitMs: number
      await this.pauses.wait(exchange.url)
      try {
        const clock = {deadline: performance.now() + this.timeoutMs, streaming: exchange.streaming, timeoutMs: this.timeoutMs}
        const reply = await next({...exchange, clock, retry})
        const asked = reply.status === 429 ? retryAfterMs(reply.headers['retry-after']?.[0]) : undefined
        if (asked !== undefined) this.pauses.pause(exchange.url, Math.min(asked, policy.maxDelayMs))
        if (!repeatable || !isRetryableStatus(reply.status)) return exchange.streaming ? reply : {...reply, bytes: await collect(reply.body)}
        reason = `HTTP ${reply.status}`
        waitMs = retryDelayMs(attempt, policy, retryAfterMs(reply.headers['retry-after']?.[0]))
        if (reply.status === 429) this.rateLimited(exchange, reply, waitMs, attempt)
        await discard(reply.body, reply.headers['content-length']?.[0])
      } catch (error) {
        if (!repeatable || !isRetryableError(error)) throw error
        reason = (error as {code: string}).code
        waitMs = retryDelayMs(attempt, policy)
      }

      const what = `${exchange.operation ?? exchange.method} ${redactUrl(exchange.url ?? '').replace(/\?.*$/, '')}`
      await this.tracer.method(`retry ${what} after ${reason} (${attempt} of ${policy.retries})`, () => new Promise<void>((resolvePromise) => setTimeout(resolvePromise, waitMs)))
      retry = {after: reason, attempt: attempt + 1, of: policy.retries + 1, waitedMs: waitMs}
    }
  }

  private rateLimited(exchange: Exchange, reply: Reply, waitMs: number, attempt: number): void {
    if (!this.onRateLimited) return
    const retryAfter = reply.headers['retry-after']?.[0]
    this.onRateLimited({
      attempt,
      of: this.policy.retries,
      operation: exchange.operation,
      request: `${exchange.method} ${redactUrl(exchange.url ?? '').replace(/\?.*$/, '')}`,
      retryAfter: retryAfter === undefined ? undefined : retryAfter.slice(0, 64),
      waitMs,
    })
  }
}

/** A wait on a 429 (Too Many Requests), as the retry stage reports it. */
export interface RateLimitedWait {
  /** Which retry follows the wait, of how many. */
  attempt: number
  of: number
  operation?: string
  /** `GET https://host/v2/…`, without query or secrets. */
  request: string
  retryAfter?: string
  waitMs: number
}

/**
 * Hosts that asked (429 with Retry-After) for a pause, and until when: a request to one of them
 * waits before it is sent. A later 429 may lengthen a pause, never shorten it.
 */
export class HostPauses {
  private readonly until = new Map<string, number>()

  pause(url: string | undefined, waitMs: number): void {
    const host = hostOf(url)
    if (host === undefined) return
    this.until.set(host, Math.max(this.until.get(host) ?? 0, performance.now() + waitMs))
  }

  async wait(url: string | undefined): Promise<void> {
    const host = hostOf(url)
    if (host === undefined) return
    for (let end = this.until.get(host); end !== undefined && end > performance.now(); end = this.until.get(host)) {
      await new Promise<void>((resolvePromise) => setTimeout(resolvePromise, end - performance.now()))
    }
  }
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}
