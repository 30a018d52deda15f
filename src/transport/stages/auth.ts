import {Readable} from 'node:stream'

import type {Tracer} from '../../telemetry/tracer.js'
import type {AuthMiddleware, Authorization} from '../auth.js'
import type {Exchange, Next, Reply, Stage} from '../pipeline.js'

import {discard, isReplayable, readCapped} from '../body.js'

/** Of a streamed 401, what is read before the retry with credentials (its error JSON). */
const CHALLENGE_CAPTURE_BYTES = 64 * 1024

/**
 * A registry request is sent without credentials unless this process already knows the
 * registry's challenge; on a 401 challenge, credentials are asked for (only then: a public
 * registry never wakes a credential helper) and the request is sent once more with them. The
 * challenge and tokens themselves are AuthMiddleware's (../auth.ts): Basic, or Bearer tokens from
 * the realm, cached per registry, scope and credentials. Requests without credentials to offer
 * (absolute URLs, or an Authorization given as is) pass through.
 */
export class AuthStage implements Stage {
  readonly name = 'auth'

  constructor(
    readonly middleware: AuthMiddleware,
    private readonly tracer: Tracer,
  ) {}

  async handle(exchange: Exchange, next: Next): Promise<Reply> {
    const target = exchange.registry
    if (!target?.credentials || target.authorization) return next(exchange)
    const {credentials, ref} = target
    const step = <T>(name: string, operation: () => Promise<T>) => this.tracer.step(name, operation)
    const send = (authorization: Authorization | undefined) => next({...exchange, registry: {...target, authorization}})
    const known = this.middleware.knownChallenge(ref)
    // A known challenge: the token for this request's scope is fetched before sending, so a new
    // scope costs no 401 round trip.
    const preemptive = known ? await step('credentials', async () => this.middleware.authorize(known, ref, target.scope ?? known.params.scope, await credentials())) : undefined
    const first = await step(target.path === '/v2/' ? 'ping' : 'request', () => send(preemptive))
    // A streamed 401's error JSON is read now, so the exchange ends (and shows in --debug-calls)
    // before the token request; the caller still gets it as a stream if it is the answer.
    if (exchange.streaming && first.status === 401) first.body = Readable.from([await readCapped(first.body, CHALLENGE_CAPTURE_BYTES)])
    if (first.status !== 401) return {...first, authScheme: preemptive?.scheme, challenge: known, challenged: Boolean(known)}
    // A cached token the registry no longer takes (expired, revoked, wrong scope) is not reused.
    if (preemptive) this.middleware.forgetToken(preemptive)
    const answer = await step('challenge', async () => {
      const challenge = this.middleware.learnChallenge(ref, first)
      return challenge && {challenge, credentials: await credentials()}
    })
    if (!answer) return {...first, challenge: undefined, challenged: false}
    const {challenge} = answer
    const authorization = await step(challenge.scheme === 'bearer' ? 'token' : 'credentials', () =>
      this.middleware.authorize(challenge, ref, target.scope ?? challenge.params.scope, answer.credentials),
    )
    if (!authorization) return {...first, challenge, challenged: true}
    // The very credentials it just refused are not sent again: a wrong password would count twice
    // against registries that lock an account after failed logins. (A refused cached token is
    // another matter: a fresh one is fetched above.)
    if (preemptive && authorization.header === preemptive.header) return {...first, authScheme: preemptive.scheme, challenge, challenged: true}
    // A one-shot body (a blob streamed from its source) went with the refused request and cannot
    // go again: the new token is cached for the caller, who can send the bytes again from their
    // source (an upload asks its session where it stands).
    if (!isReplayable(exchange.body)) return {...first, authScheme: preemptive?.scheme, challenge, challenged: true, renewed: Boolean(preemptive)}
    await discard(first.body, first.headers['content-length']?.[0])
    const retried = await step('retry', () => send(authorization))
    return {...retried, authScheme: authorization.scheme, challenge, challenged: true}
  }
}
