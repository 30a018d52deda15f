import {AsyncLocalStorage} from 'node:async_hooks'

import type {HttpExchange} from './tracer.js'
import type {HelperCall, Tracer} from './tracer.js'

import {scrubSecrets, scrubValues} from '../util/secrets.js'

/**
 * The instruments behind --time-methods, --time-scenarios and --debug-calls. Everything goes to
 * stderr, so stdout stays the command's result; under --json each event is one JSON line with a
 * `type` field. This module is imported only when one of the flags is given. The transport hands
 * it exchanges already masked; every line is scrubbed once more as it is written, of the secrets
 * the run holds by then (a token learnt after its exchange was reported, a method name that
 * quotes a URL).
 */

export interface TelemetryOptions {
  calls: boolean
  json: boolean
  methods: boolean
  scenarios: boolean
  /** Where lines go (stderr). */
  write: (line: string) => void
}

interface StepNode {
  ms?: number
  name: string
  ok?: boolean
  steps: StepNode[]
}

const round = (ms: number) => Math.round(ms * 100) / 100

export class Telemetry implements Tracer {
  /** The innermost open step of each asynchronous flow: concurrent steps nest correctly. */
  private readonly current = new AsyncLocalStorage<StepNode>()
  private readonly root?: {node: StepNode; started: number}

  constructor(
    private readonly options: TelemetryOptions,
    scenario?: string,
  ) {
    if (scenario && options.scenarios) {
      const node: StepNode = {name: scenario, steps: []}
      this.root = {node, started: performance.now()}
    }
  }

  /** Ends the workflow started by the constructor and prints its tree (once). */
  finish(ok: boolean): void {
    if (!this.root || this.root.node.ms !== undefined) return
    this.root.node.ms = performance.now() - this.root.started
    this.root.node.ok = ok
    if (this.options.json) {
      this.emit({type: 'scenario', ...toJson(this.root.node)})
    } else {
      for (const line of renderTree(this.root.node, 0)) this.write(line)
    }
  }

  http(exchange: HttpExchange): void {
    if (!this.options.calls) return
    if (this.options.json) {
      this.emit({
        type: 'http',
        method: exchange.method,
        url: exchange.url,
        operation: exchange.operation,
        retry: exchange.retry && {attempt: exchange.retry.attempt, of: exchange.retry.of, after: exchange.retry.after, waited_ms: round(exchange.retry.waitedMs)},
        resume: exchange.resume,
        rate_limit: exchange.rateLimit,
        status: exchange.status ?? null,
        status_text: exchange.statusText ?? null,
        request_headers: exchange.requestHeaders,
        request_body: exchange.requestBody,
        response_headers: exchange.responseHeaders,
        response_body: exchange.responseBody,
        bytes_sent: exchange.bytesSent,
        bytes_received: exchange.bytesReceived,
        bulk_reads: exchange.bulk?.reads,
        ms: round(exchange.durationMs),
        error: exchange.error,
      })
      return
    }

    const lines = [`* ${exchange.method} ${exchange.url}`]
    if (exchange.operation) lines.push(`* operation: ${exchange.operation}`)
    if (exchange.retry) {
      const {after, attempt, of, waitedMs} = exchange.retry
      lines.push(`* attempt ${attempt} of ${of}, after ${after} and a wait of ${waitedMs.toFixed(0)} ms`)
    }

    if (exchange.resume) {
      const {after, attempt, from, of} = exchange.resume
      lines.push(`* resume ${attempt} of ${of}: from byte ${from}, after ${after}`)
    }
    for (const [name, value] of Object.entries(exchange.requestHeaders)) lines.push(`> ${name}: ${value}`)
    if (exchange.requestBody !== undefined) lines.push(`> (body) ${exchange.requestBody}`)
    lines.push('>')
    if (exchange.status === undefined) {
      lines.push(`* failed: ${exchange.error ?? 'no response'}`)
    } else {
      lines.push(`< HTTP ${exchange.status} ${exchange.statusText ?? ''}`.trimEnd())
      for (const [name, values] of Object.entries(exchange.responseHeaders)) for (const value of values) lines.push(`< ${name}: ${value}`)
      if (exchange.responseBody !== undefined) lines.push(`< (body) ${exchange.responseBody}`)
      lines.push('<')
      if (exchange.rateLimit) lines.push(`* rate limit: ${exchange.rateLimit}`)
      if (exchange.error !== undefined) lines.push(`* the body failed: ${exchange.error}`)
    }

    if (exchange.bulk) lines.push(`* bulk reader: ${exchange.bulk.reads} reads, up to ${exchange.bulk.largest} bytes each`)
    lines.push(`* ${exchange.bytesSent} bytes sent, ${exchange.bytesReceived} bytes received in ${exchange.durationMs.toFixed(1)} ms`, '')
    for (const line of lines) this.write(line)
  }

  helper(call: HelperCall): void {
    if (!this.options.calls) return
    if (this.options.json) {
      this.emit({type: 'helper', helper: call.helper, action: call.action, input: call.input, exit_code: call.exitCode, output_bytes: call.outputBytes, ms: round(call.durationMs), error: call.error})
      return
    }

    this.write(`* docker-credential-${call.helper} ${call.action} < ${call.input}`)
    this.write(`* exit ${call.exitCode ?? call.error ?? 'signal'}, ${call.outputBytes} bytes of output in ${call.durationMs.toFixed(1)} ms`)
    this.write('')
  }

  async method<T>(name: string, operation: () => Promise<T>): Promise<T> {
    if (!this.options.methods) return operation()
    const started = performance.now()
    let ok = false
    try {
      const result = await operation()
      ok = true
      return result
    } finally {
      const ms = performance.now() - started
      if (this.options.json) this.emit({type: 'method', name, ms: round(ms), ok})
      else this.write(`[method] ${name} ${ms.toFixed(1)} ms${ok ? '' : ' (failed)'}`)
    }
  }

  async step<T>(name: string, operation: () => Promise<T>): Promise<T> {
    const parent = this.current.getStore() ?? this.root?.node
    if (!parent) return operation()
    const node: StepNode = {name, steps: []}
    parent.steps.push(node)
    const started = performance.now()
    try {
      const result = await this.current.run(node, operation)
      node.ok = true
      return result
    } catch (error) {
      node.ok = false
      throw error
    } finally {
      node.ms = performance.now() - started
    }
  }

  /** One JSON event; its values scrubbed, so the line still parses whatever a secret holds. */
  private emit(event: Record<string, unknown>): void {
    this.options.write(JSON.stringify(scrubValues(event)))
  }

  private write(line: string): void {
    this.options.write(scrubSecrets(line))
  }
}

function renderTree(node: StepNode, depth: number): string[] {
  const label = `${'  '.repeat(depth)}${node.name}`
  const line = `[scenario] ${label} ${(node.ms ?? 0).toFixed(1)} ms${node.ok === false ? ' (failed)' : ''}`
  return [line, ...node.steps.flatMap((child) => renderTree(child, depth + 1))]
}

function toJson(node: StepNode): Record<string, unknown> {
  return {name: node.name, ms: round(node.ms ?? 0), ok: node.ok ?? false, steps: node.steps.map((step) => toJson(step))}
}
