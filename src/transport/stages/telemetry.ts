import type {Tracer} from '../../telemetry/tracer.js'
import type {Exchange, Next, Reply, Stage, WireObserver} from '../pipeline.js'

import {scrubSecrets} from '../../util/secrets.js'
import {rememberGrantSecrets} from '../auth.js'
import {isStreamBody} from '../body.js'
import {describeRateLimit, parseRateLimit} from '../ratelimit.js'
import {describeBody, redactHeaders, redactUrl} from '../redact.js'

/** Of a streamed error answer, what --debug-calls may show. */
const STREAM_CAPTURE_BYTES = 64 * 1024

/**
 * What --debug-calls and --time-methods see of each hop: the request as it went out (the HTTP
 * client's own headers included), the answer, the bytes each way, the time, and which retry it
 * was. Secrets are masked here, before the tracer gets anything: by their place (Authorization,
 * token fields, signature parameters) and wherever a server echoes one the run holds.
 */
export class TelemetryStage implements Stage {
  readonly name = 'telemetry'

  constructor(private readonly tracer: Tracer) {}

  handle(exchange: Exchange, next: Next): Promise<Reply> {
    if (this.tracer.active === false) return next(exchange)
    const started = performance.now()
    const streamBody = isStreamBody(exchange.body)
    let requestHeaders: Record<string, string> = {...exchange.headers}
    if (streamBody && exchange.contentLength !== undefined) requestHeaders['content-length'] = String(exchange.contentLength)
    let bytesSent = 0
    let answer: {headers: Record<string, string[]>; status: number; statusText: string} | undefined
    const url = exchange.url as string
    const observer: WireObserver = {
      answered: (answered) => {
        answer = answered
      },
      bytesSent: (bytes) => {
        bytesSent = bytes
      },
      captureBytes: (status, headers) =>
        !exchange.streaming ? Number.POSITIVE_INFINITY : status >= 300 && isTextual(headers['content-type']?.[0]) ? STREAM_CAPTURE_BYTES : 0,
      finished: ({bulk, bytes, captured, error}) => {
        const requestType = Object.entries(requestHeaders).find(([name]) => name.toLowerCase() === 'content-type')?.[1]
        // A token server's answer is shown before the auth layer reads it: its tokens are learnt
        // first, so headers of the same answer that echo them are masked too.
        if (exchange.operation === 'token' && answer?.status === 200) rememberGrantSecrets(captured)
        const rateLimit = answer && parseRateLimit(answer.headers)
        this.tracer.http({
          bulk,
          bytesReceived: bytes,
          bytesSent,
          durationMs: performance.now() - started,
          error: error === undefined ? undefined : scrubSecrets(error.message),
          method: exchange.method,
          operation: exchange.operation,
          requestBody:
            exchange.body === undefined
              ? undefined
              : streamBody
                ? `<streamed body${exchange.contentLength === undefined ? '' : ` of ${exchange.contentLength} bytes`}>`
                : describeBody(exchange.body as Buffer | string, requestType),
          requestHeaders: redactHeaders(requestHeaders),
          responseBody: answer && captured.length > 0 ? describeBody(captured, answer.headers['content-type']?.[0]) : undefined,
          responseHeaders: redactHeaders(answer?.headers ?? {}),
          rateLimit: rateLimit && scrubSecrets(describeRateLimit(rateLimit)),
          resume: exchange.resume,
          retry: exchange.retry,
          status: answer?.status,
          // A reason phrase is the server's own text too: it may echo what it was sent.
          statusText: answer && scrubSecrets(answer.statusText),
          url: redactUrl(url),
        })
      },
      sent: (headers) => {
        requestHeaders = headers
      },
    }
    return next({...exchange, observer})
  }
}

/** Kinds of body telemetry may show (as redact.describeBody judges them). */
function isTextual(contentType: string | undefined): boolean {
  const type = (contentType ?? '').toLowerCase()
  return type === '' || type.includes('json') || type.startsWith('text/')
}
