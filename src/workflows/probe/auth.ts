import type {Challenge} from '../../transport/challenge.js'
import type {HttpResponse} from '../../transport/http.js'

import {randomBytes} from 'node:crypto'

import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {CLIENT_ID, realmGuard, rememberGrantSecrets} from '../../transport/auth.js'
import {parseChallenges} from '../../transport/challenge.js'
import {type Level, type Outcome, SPEC, type SpecRef, fail, judge, pass, skip} from './case.js'
import type {ProbeCase, ProbeContext} from './context.js'

/**
 * Auth: the challenge (scheme, realm, service, scope), anonymous tokens, `expires_in`, and a
 * token for one repository refused on another. A registry that asks for no credentials has
 * nothing here to test: every case is then a skip. Token requests go through the transport like
 * any other, and every token they bring back is masked in every output.
 */

const auth = (name: string, level: Level, spec: SpecRef, request: string, expected: string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({area: 'auth', expected, level, name, request, run, spec, writes: false})

/** What a token server answered, parsed, its tokens masked from now on. */
interface TokenAnswer {
  body?: {access_token?: unknown; expires_in?: unknown; token?: unknown}
  response: HttpResponse
}

async function askToken(context: ProbeContext, challenge: Challenge & {realm: URL}, scope: string, withCredentials: boolean): Promise<TokenAnswer> {
  const url = new URL(challenge.realm)
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service)
  url.searchParams.set('scope', scope)
  const headers: Record<string, string> = {}
  let method: 'GET' | 'POST' = 'GET'
  let body: string | undefined
  if (withCredentials) {
    const credentials = await context.settings.credentials()
    if (credentials?.username && credentials.password !== undefined) {
      url.searchParams.set('account', credentials.username)
      headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`
    } else if (credentials?.identityToken) {
      // The OAuth2 form of the token spec, as an identity token holder asks.
      method = 'POST'
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams({client_id: CLIENT_ID, grant_type: 'refresh_token', refresh_token: credentials.identityToken, scope, service: challenge.params.service ?? ''}).toString()
    } else {
      skip('no username and password (or identity token) for this registry to ask a token with')
    }
  }

  const response = await context.access.transport.send({body, guard: realmGuard(context.access.registry), headers, maxBodyBytes: 1024 * 1024, method, operation: 'token', url: url.toString()})
  return {body: rememberGrantSecrets(response.body) as TokenAnswer['body'], response}
}

function tokenOf(answer: TokenAnswer): string | undefined {
  const token = answer.body?.token ?? answer.body?.access_token
  return typeof token === 'string' && token !== '' ? token : undefined
}

function got(response: HttpResponse): {status: number} {
  return {status: response.status}
}

export const AUTH: ProbeCase[] = [
  auth('auth-challenge', 'MUST', SPEC.challenge, 'GET of /v2/ and of the tag list without credentials', '401 and a challenge: Basic realm, or Bearer realm, service and the repository\'s scope', async (context) => {
    const challenge = await context.challenge()
    const ping = await context.unauthenticated()
    if (ping.status !== 401) fail(`GET /v2/ without credentials answered ${ping.status}`, ping)
    if (!challenge.params.realm) fail(`the ${challenge.scheme} challenge names no realm`, ping)
    if (challenge.scheme !== 'bearer') return pass(ping, `${challenge.scheme} realm="${challenge.params.realm}"`)
    if (!challenge.params.service) fail('the Bearer challenge names no service', ping)
    const read = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [{action: 'remove', name: 'no credentials', target: 'auth'}])
    const bearer = parseChallenges(read.headers['www-authenticate']).find((c) => c.scheme === 'bearer')
    const wanted = repositoryScope(context.repository, ['pull'])
    if (read.status !== 401 || !bearer) fail(`the tag list without credentials answered ${read.status} without a Bearer challenge`, read)
    if (!(bearer.params.scope ?? '').split(' ').includes(wanted)) fail(`the repository's challenge names scope ${JSON.stringify(bearer.params.scope ?? '')}, not ${wanted}`, read)
    return pass(read, `Bearer realm="${challenge.params.realm}" service="${challenge.params.service}" scope="${bearer.params.scope}"`)
  }),
  auth('auth-anonymous-token', 'MAY', SPEC.token, 'GET of the realm with service and scope, without credentials', '200 and a token (its rights may be none)', async (context) => {
    const challenge = await context.bearer()
    const answer = await askToken(context, challenge, repositoryScope(context.repository, ['pull']), false)
    if (answer.response.status !== 200) fail(`the token server answered ${answer.response.status} to an anonymous request`, undefined)
    if (!tokenOf(answer)) fail('the 200 holds no token')
    return {got: got(answer.response), verdict: 'pass'}
  }),
  auth('auth-token-expires-in', 'SHOULD', SPEC.token, 'GET of the realm with the user\'s credentials: the answer\'s expires_in', 'expires_in absent (60 s) or at least 60', async (context) => {
    const challenge = await context.bearer()
    const answer = await askToken(context, challenge, repositoryScope(context.repository, ['pull']), true)
    if (answer.response.status !== 200) return {detail: `the token server answered ${answer.response.status}`, got: got(answer.response), verdict: 'fail'}
    if (!tokenOf(answer)) return {detail: 'the 200 holds no token', got: got(answer.response), verdict: 'fail'}
    const expiresIn = answer.body?.expires_in
    if (expiresIn === undefined) return {detail: 'no expires_in: 60 s', got: got(answer.response), verdict: 'pass'}
    if (typeof expiresIn !== 'number' || expiresIn < 60) return {detail: `expires_in is ${JSON.stringify(expiresIn)}`, got: got(answer.response), verdict: 'fail'}
    return {detail: `expires_in ${expiresIn}`, got: got(answer.response), verdict: 'pass'}
  }),
  auth('auth-token-other-repository', 'MUST', SPEC.rights, 'GET of another repository\'s tag list with a token for this one', '401/403', async (context) => {
    const challenge = await context.bearer()
    const answer = await askToken(context, challenge, repositoryScope(context.repository, ['pull']), true)
    const token = tokenOf(answer)
    if (answer.response.status !== 200 || !token) return {detail: `could not get a token for ${context.repository}: HTTP ${answer.response.status}`, got: got(answer.response), verdict: 'fail'}
    const other = `${context.repository}-other-${randomBytes(4).toString('hex')}`
    const response = await context.access.transport.sendToRegistry(context.access.registry, {method: 'GET', operation: 'tag.list', path: urls.tags(other)}, {header: `Bearer ${token}`})
    return judge({...response, challenged: true}, {statuses: [401, 403]})
  }),
]
