import {Readable} from 'node:stream'

import type {BreakStage as BreakRules, HttpRequest} from '../http.js'
import type {Exchange, Next, Reply, Stage} from '../pipeline.js'

import {describeError} from '../../errors.js'
import {readCapped} from '../body.js'

/** Of a streamed error answer, what break mode's report reads for its OCI code. */
const REPORT_CAPTURE_BYTES = 64 * 1024

/**
 * Break mode's one place (--break, docs/break-mode.md): every exchange, registry and token server
 * alike, after the Authorization was added and before retries, redirects and telemetry see it.
 * The rules change the request; what the server answered to the changed request is recorded for
 * the report. The cross-origin rules of redirects and the masking of secrets apply below, to what
 * the rules produce.
 */
export class BreakModeStage implements Stage {
  readonly name = 'break'

  constructor(private readonly rules: BreakRules | undefined) {}

  async handle(exchange: Exchange, next: Next): Promise<Reply> {
    if (!this.rules || exchange.url === undefined) return next(exchange)
    const request: HttpRequest = {...exchange, url: exchange.url}
    const {mutations, request: mutated} = this.rules.apply(request)
    if (mutations.length === 0) return next(exchange)
    const changed: Exchange = {...exchange, ...mutated, headers: mutated.headers ?? {}}
    let reply: Reply
    try {
      reply = await next(changed)
    } catch (error) {
      this.rules.record({error: error instanceof Error ? error.message : describeError(error), mutations, request: mutated})
      throw error
    }

    // A streamed error answer is read (capped) for its OCI code, then handed on as read.
    if (exchange.streaming && reply.status >= 400) {
      const bytes = await readCapped(reply.body, REPORT_CAPTURE_BYTES)
      reply = {...reply, body: Readable.from([bytes]), bytes}
    }

    this.rules.record({body: reply.bytes, mutations, request: mutated, status: reply.status})
    return reply
  }
}
