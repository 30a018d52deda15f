import {finished} from 'node:stream/promises'

import type {Tracer} from '../../telemetry/tracer.js'
import type {Exchange, Next, Reply, Stage} from '../pipeline.js'

/**
 * The first stage: a registry request is named by its operation label, method and path
 * (`registry blob.get GET /v2/…`), the name --time-methods shows. A buffered request is timed to
 * its answer; a streamed one to its body's last byte, though the caller gets the answer at its
 * headers. Absolute URLs (token realms) are timed where they are asked for (the auth stage).
 */
export class OperationStage implements Stage {
  readonly name = 'operation'

  constructor(private readonly tracer: Tracer) {}

  handle(exchange: Exchange, next: Next): Promise<Reply> {
    const target = exchange.registry
    if (!target) return next(exchange)
    const name = `registry ${exchange.operation ? `${exchange.operation} ` : ''}${exchange.method} ${target.path}`
    if (!exchange.streaming) return this.tracer.method(name, () => next(exchange))
    return new Promise((resolvePromise, rejectPromise) => {
      this.tracer
        .method(name, async () => {
          const reply = await next(exchange)
          resolvePromise(reply)
          await finished(reply.body)
        })
        // After the headers, the caller sees a failure through the body; this one is the timing's.
        .catch(rejectPromise)
    })
  }
}
