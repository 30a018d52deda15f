/**
 * When a failed request is tried again (registry.md §1, "Retries"): 429, 502, 503, 504 and
 * connection resets, for requests that are safe to repeat, with exponential backoff and full
 * jitter, honouring Retry-After (seconds or an HTTP date) up to a ceiling. 401, 403 and 404 are
 * answers, not accidents, and are never retried.
 */

export interface RetryPolicy {
  /** Delay before the first retry, in ms (then doubled each time). */
  baseDelayMs: number
  /** No single wait is longer than this, Retry-After included. */
  maxDelayMs: number
  /** Retries after the first attempt (`--retries`, default 3; 0 disables). */
  retries: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {baseDelayMs: 200, maxDelayMs: 30_000, retries: 3}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504])
/**
 * Connections that broke under a request. Not ECONNREFUSED (nothing listens: an answer, and `ping`
 * of a stopped registry should say so at once) nor ETIMEDOUT (--timeout is the user's bound on a
 * wait: retrying would multiply it by --retries + 1).
 */
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET'])
/**
 * A body that broke mid-way (a reset, an early end, a stall of --timeout): another request from
 * the byte where it stopped may get past it. Not a refused connection (nothing listens), nor
 * anything about the bytes themselves.
 */
const BREAK_CODES = new Set(['ECONNABORTED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET'])

export function isBreak(error: unknown): boolean {
  const code = (error as {code?: unknown})?.code
  return typeof code === 'string' && BREAK_CODES.has(code)
}

/** Methods that change nothing, or change it the same way twice. POST and PATCH are not among them. */
const IDEMPOTENT = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PUT'])

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status)
}

export function isRetryableError(error: unknown): boolean {
  const code = (error as {code?: unknown})?.code
  return typeof code === 'string' && RETRYABLE_CODES.has(code)
}

/**
 * Whether a request may be sent again. A request whose body was a stream that has been read
 * cannot be (the bytes are gone), whatever its method: the caller says so with `replayable`.
 */
export function mayRetry(method: string, replayable: boolean): boolean {
  return replayable && IDEMPOTENT.has(method.toUpperCase())
}

/** ms to wait from a Retry-After value (delta-seconds or an HTTP date); undefined if absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The wait before retry number `attempt` (1-based). */
export function retryDelayMs(attempt: number, policy: RetryPolicy, retryAfter?: number, random = Math.random): number {
  if (retryAfter !== undefined) return Math.min(retryAfter, policy.maxDelayMs)
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  // Full jitter (AWS architecture blog): parallel transfers hitting the same 503 spread out.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
