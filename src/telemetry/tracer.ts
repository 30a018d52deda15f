
/**
 * What the transport, the credential helpers and workflows report to telemetry: types, and the
 * no-op tracer they report to when no telemetry flag is given. With no such flag the telemetry
 * implementation (./telemetry.ts) is never imported.
 */

/** One finished (or failed) exchange, as telemetry sees it. Secrets are already masked. */
export interface HttpExchange {
  bytesReceived: number
  bytesSent: number
  durationMs: number
  error?: string
  method: string
  operation?: string
  /** Text bodies (JSON, forms, text), secret fields masked and long ones cut; absent otherwise. */
  requestBody?: string
  /** The headers as sent, the client's own (Host, User-Agent, Accept-Encoding) included. */
  requestHeaders: Record<string, string>
  responseBody?: string
  responseHeaders: Record<string, string[]>
  /** Present when this exchange is a retry: which one, after what, and how long it waited. */
  retry?: {after: string; attempt: number; of: number; waitedMs: number}
  /** The wire's bulk reader served the body (blobs): how many socket reads it took, and the largest. */
  bulk?: {largest: number; reads: number}
  /** The rate limit the answer announced (Docker Hub's RateLimit-Limit and RateLimit-Remaining), in words. */
  rateLimit?: string
  /** Present when this exchange resumes a body that broke: from which byte, after what, which resume of how many. */
  resume?: {after: string; attempt: number; from: number; of: number}
  status?: number
  statusText?: string
  url: string
}

/** One run of a credential helper, with the stdin payload's secret already masked. */
export interface HelperCall {
  action: string
  durationMs: number
  error?: string
  exitCode: null | number
  helper: string
  /** What was piped to the helper, `Secret` masked. */
  input: string
  outputBytes: number
}

export interface Tracer {
  /**
   * Whether exchanges are recorded at all: the transport keeps the first bytes of answers for
   * --debug-calls only then. Absent means yes.
   */
  readonly active?: boolean
  /** A finished HTTP exchange (secrets masked by the transport). */
  http(exchange: HttpExchange): void
  /** A finished credential-helper run (secret masked by the helper client). */
  helper(call: HelperCall): void
  /** A service-level operation (--time-methods). */
  method<T>(name: string, operation: () => Promise<T>): Promise<T>
  /** A step of the current workflow (--time-scenarios); steps nest. */
  step<T>(name: string, operation: () => Promise<T>): Promise<T>
}

/**
 * The tracer of a run without telemetry flags: it records nothing and runs what it is given, so
 * the code that reports to a tracer never asks whether there is one.
 */
export const NO_TRACER: Tracer = {
  active: false,
  http() {},
  helper() {},
  method: (_name, operation) => operation(),
  step: (_name, operation) => operation(),
}
