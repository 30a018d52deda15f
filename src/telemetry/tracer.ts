import type {HttpExchange} from '../transport/http.js'

/**
 * What services report to telemetry. This file holds types only, so it compiles to nothing that is
 * loaded at run time: services call `tracer ? tracer.method(name, fn) : fn()`, and with no
 * telemetry flag the telemetry implementation is never imported.
 */

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
  /** A finished HTTP exchange (secrets masked by the transport). */
  http(exchange: HttpExchange): void
  /** A finished credential-helper run (secret masked by the helper client). */
  helper(call: HelperCall): void
  /** A service-level operation (--time-methods). */
  method<T>(name: string, operation: () => Promise<T>): Promise<T>
  /** A step of the current workflow (--time-scenarios); steps nest. */
  step<T>(name: string, operation: () => Promise<T>): Promise<T>
}
