import type {Exchange, Next, Reply, Stage} from '../pipeline.js'

import {ProtocolError} from '../../errors.js'
import {discard} from '../body.js'
import {redactUrl} from '../redact.js'

const MAX_REDIRECTS = 5
/** Request headers that hold credentials: never sent on to another origin. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization'])

/**
 * Location hops, within the attempt's one deadline. Credentials are for the origin they were sent
 * to, never for where it points (an HTTPS to HTTP redirect is another origin too): object storage
 * gets a blob GET without them, and a request with a body (the refresh-token POST) is never resent
 * elsewhere. Every hop meets the address guard again, in the wire.
 */
export class RedirectStage implements Stage {
  readonly name = 'redirect'

  async handle(exchange: Exchange, next: Next): Promise<Reply> {
    let current: Exchange = {...exchange, hop: 0}
    for (let hop = 0; ; hop++) {
      const reply = await next(hop === 0 ? current : {...current, resume: undefined, retry: undefined})
      const location = reply.headers.location?.[0]
      if (reply.status < 300 || reply.status >= 400 || reply.status === 304 || !location) return reply
      await discard(reply.body, reply.headers['content-length']?.[0])
      const url = current.url as string
      if (hop >= MAX_REDIRECTS) throw new ProtocolError(`too many redirects (more than ${MAX_REDIRECTS}) from ${redactUrl(exchange.url as string)}`)
      let target: URL
      try {
        target = new URL(location, url)
      } catch {
        throw new ProtocolError(`${redactUrl(url)} redirects to something that is not a URL`)
      }

      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw new ProtocolError(`${redactUrl(url)} redirects to a ${target.protocol.replace(/:$/, '')} URL; only http and https are followed`)
      }

      // Credentials regshape sends never ride in a URL; ones a server puts there are not followed.
      target.username = ''
      target.password = ''
      const from = new URL(url)
      const headers = {...current.headers}
      if (target.origin !== from.origin) {
        if (current.body !== undefined) {
          throw new ProtocolError(
            `${from.host} redirects a ${current.method} request to another origin (${target.origin}); a request body, which may carry credentials, is never resent elsewhere`,
          )
        }

        for (const name of Object.keys(headers)) if (CREDENTIAL_HEADERS.has(name.toLowerCase())) delete headers[name]
      }

      const keepsMethod = reply.status === 307 || reply.status === 308
      current = {
        ...current,
        body: keepsMethod ? current.body : undefined,
        contentLength: keepsMethod ? current.contentLength : undefined,
        headers,
        hop: hop + 1,
        method: keepsMethod || current.method === 'HEAD' ? current.method : 'GET',
        url: target.toString(),
      }
    }
  }
}
