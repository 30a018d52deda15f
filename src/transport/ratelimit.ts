/**
 * Rate limits a registry announces on its answers, as Docker Hub does: `RateLimit-Limit: 100;w=21600`
 * (pulls allowed per window of w seconds), `RateLimit-Remaining: 76;w=21600` (pulls left in it),
 * and `Docker-RateLimit-Source` (what the limit counts: an IP address or an account). The headers
 * follow the IETF RateLimit fields draft; Docker Hub sends them on manifest GETs and HEADs, and
 * counts only the GETs.
 */

export interface RateLimit {
  /** Requests (pulls) allowed per window. */
  limit?: number
  /** Requests left in the current window. */
  remaining?: number
  /** What the limit is counted against (Docker-RateLimit-Source). */
  source?: string
  /** The window, in seconds. */
  windowSeconds?: number
}

/** The rate limit an answer's headers announce, or undefined when they announce none. */
export function parseRateLimit(headers: Record<string, string[] | undefined>): RateLimit | undefined {
  const limit = quota(headers['ratelimit-limit']?.[0])
  const remaining = quota(headers['ratelimit-remaining']?.[0])
  if (!limit && !remaining) return undefined
  const source = headers['docker-ratelimit-source']?.[0]?.trim()
  return {
    limit: limit?.count,
    remaining: remaining?.count,
    source: source ? source.slice(0, 200) : undefined,
    windowSeconds: limit?.window ?? remaining?.window,
  }
}

/** `76;w=21600` (or `76`): the count and its window. */
function quota(value: string | undefined): {count: number; window?: number} | undefined {
  const match = /^\s*(\d{1,12})\s*(?:;\s*w\s*=\s*(\d{1,12}))?/.exec(value ?? '')
  return match ? {count: Number(match[1]), window: match[2] === undefined ? undefined : Number(match[2])} : undefined
}

/** A rate limit in words: `76 of 100 pulls left in a window of 21600 s`. */
export function describeRateLimit(limit: RateLimit): string {
  const left = limit.remaining === undefined ? 'unknown' : String(limit.remaining)
  const of = limit.limit === undefined ? '' : ` of ${limit.limit}`
  const window = limit.windowSeconds === undefined ? '' : ` in a window of ${limit.windowSeconds} s`
  return `${left}${of} pulls left${window}${limit.source ? ` (counted for ${limit.source})` : ''}`
}
