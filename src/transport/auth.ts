import {createHash} from 'node:crypto'

import {type RegistryRef, splitEndpoint} from '../reference/registry.js'

import {AuthenticationError, ProtocolError} from '../errors.js'
import {rememberCredentials, rememberSecret} from '../util/secrets.js'
import {type Challenge, parseChallenges} from './challenge.js'
import {NO_TRACER, type Tracer} from '../telemetry/tracer.js'
import {checkLiteral} from './addresses.js'
import type {AddressGuard, HttpRequest, HttpResponse} from './http.js'

/**
 * AuthMiddleware answers a registry's 401 challenge: Basic with the username and password, or
 * Bearer with a token from the realm the challenge names (distribution's token spec, and its OAuth2
 * form for refresh tokens). Tokens are cached per registry and scope for the life of the process.
 */

export interface Credentials {
  /** An OAuth2 refresh token (Docker's `identitytoken`). */
  identityToken?: string
  password?: string
  /** A ready-made Bearer token (Docker's `registrytoken`). */
  registryToken?: string
  username?: string
}

/** Called only once a registry actually asks for credentials; undefined means anonymous. */
export type CredentialsProvider = () => Promise<Credentials | undefined>

/**
 * Where a library user's credentials come from: a function from a registry to its credentials,
 * asked only when the registry asks for them (credentials/chain.ts: dockerChain()).
 */
export type CredentialsFor = (registry: RegistryRef) => Promise<Credentials | undefined>

export interface Authorization {
  header: string
  scheme: 'basic' | 'bearer'
  /** The cache entry a Bearer token came from, so a token the registry refuses is dropped alone. */
  tokenKey?: string
}

export interface TokenGrant {
  expiresAt: number
  refreshToken?: string
  token: string
}

/** The OAuth2 client id regshape presents to token servers. */
export const CLIENT_ID = 'regshape'
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024
/** A token's lifetime when its server does not say (distribution's token spec). */
const DEFAULT_TOKEN_LIFETIME_S = 60

type Send = (request: HttpRequest) => Promise<HttpResponse>

/**
 * Told when a token server answered a refresh grant with a new refresh token (it rotates them):
 * `spent` was presented and may now be revoked; `credentials.identityToken` already holds the new one.
 */
export type RefreshTokenRotated = (ref: RegistryRef, spent: string, credentials: Credentials) => Promise<void>

export class AuthMiddleware {
  private readonly challenges = new Map<string, Challenge>()
  /**
   * Per registry, realm, service, scope and credentials: the grant, or the fetch of it in flight,
   * which concurrent requests needing the same token share (one fetch; a failed one is not kept).
   */
  private readonly tokens = new Map<string, {grant?: TokenGrant; pending?: Promise<TokenGrant>}>()
  /**
   * Per identity token holder, the last refresh grant: they run one at a time, each presenting the
   * refresh token the one before left, because a token server that rotates them revokes the one
   * presented (two grants in parallel with one token: the second is refused).
   */
  private readonly refreshing = new WeakMap<Credentials, Promise<unknown>>()
  /** Where a rotated refresh token goes to be stored (the services factory sets it). */
  onRefreshTokenRotated?: RefreshTokenRotated

  constructor(
    private readonly send: Send,
    /** The scheme a registry was reached on: an HTTPS registry's realm must be HTTPS too. */
    private readonly schemeOf: (ref: RegistryRef) => 'http' | 'https',
    private readonly tracer: Tracer = NO_TRACER,
  ) {}

  /**
   * Reads a 401's challenges, picks the one regshape answers (Bearer first, as docker does: the
   * password then never goes to the registry itself) and remembers it for the registry.
   */
  learnChallenge(ref: RegistryRef, response: Pick<HttpResponse, 'headers'>): Challenge | undefined {
    const challenges = parseChallenges(response.headers['www-authenticate'])
    if (challenges.length === 0) return undefined
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic')
    if (!chosen) {
      throw new ProtocolError(`the registry asks for an unsupported authentication scheme (${challenges.map((c) => c.scheme).join(', ')})`)
    }

    this.challenges.set(ref.endpoint, chosen)
    return chosen
  }

  /** Drops the cached tokens of a registry. */
  forgetTokens(ref: RegistryRef): void {
    for (const key of this.tokens.keys()) if (key.startsWith(`${ref.endpoint}\n`)) this.tokens.delete(key)
  }

  /**
   * Drops the token an Authorization carried, if the cache still holds that very token (a
   * concurrent request may already have replaced it): other scopes' tokens stay.
   */
  forgetToken(authorization: Authorization): void {
    const {tokenKey} = authorization
    if (tokenKey === undefined) return
    const entry = this.tokens.get(tokenKey)
    if (entry?.grant && authorization.header === `Bearer ${entry.grant.token}`) this.tokens.delete(tokenKey)
  }

  /** The challenge this process learnt for a registry, if any. */
  knownChallenge(ref: RegistryRef): Challenge | undefined {
    return this.challenges.get(ref.endpoint)
  }

  /** The Authorization answering `challenge` with `credentials`; undefined when they cannot answer it. */
  async authorize(
    challenge: Challenge,
    ref: RegistryRef,
    scope: string | undefined,
    credentials: Credentials | undefined,
  ): Promise<Authorization | undefined> {
    // Whatever their source (a plugin's provider included), credentials that may go on the wire
    // are masked in every output from here on: a server may echo them back.
    rememberCredentials(credentials)
    if (challenge.scheme === 'basic') {
      if (!credentials?.username || credentials.password === undefined) return undefined
      return {header: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`, scheme: 'basic'}
    }

    if (credentials?.registryToken) return {header: `Bearer ${credentials.registryToken}`, scheme: 'bearer'}
    const grant = await this.token(challenge, ref, scope, credentials)
    return {header: `Bearer ${grant.token}`, scheme: 'bearer', tokenKey: this.cacheKey(challenge, ref, scope, credentials)}
  }

  private cacheKey(challenge: Challenge, ref: RegistryRef, scope: string | undefined, credentials: Credentials | undefined): string {
    // Different credentials for one registry (auth status --verify) must never share a token.
    return [ref.endpoint, challenge.params.realm ?? '', challenge.params.service ?? '', scope ?? '', credentialFingerprint(credentials)].join('\n')
  }

  /** A Bearer token for `scope`, from the cache or the realm. */
  async token(challenge: Challenge, ref: RegistryRef, scope: string | undefined, credentials: Credentials | undefined): Promise<TokenGrant> {
    rememberCredentials(credentials)
    const realm = realmOf(challenge)
    checkRealm(realm, ref, this.schemeOf(ref))
    const service = challenge.params.service
    const cacheKey = this.cacheKey(challenge, ref, scope, credentials)
    const cached = this.tokens.get(cacheKey)
    if (cached?.grant && cached.grant.expiresAt > Date.now()) return cached.grant
    if (cached?.pending) return cached.pending
    const fetch = () =>
      credentials?.identityToken
        ? this.refreshInTurn(ref, realm, service, scope, credentials)
        : this.getToken(realm, service, scope, credentials, realmGuard(ref))
    const pending = this.tracer.method(`token ${realm.host}${scope ? ` ${scope}` : ''}`, fetch).then(
      (grant) => {
        if (this.tokens.get(cacheKey)?.pending === pending) this.tokens.set(cacheKey, {grant})
        // After a rotation the credentials fingerprint differently: the grant is theirs too.
        const rotatedKey = this.cacheKey(challenge, ref, scope, credentials)
        if (rotatedKey !== cacheKey && !this.tokens.has(rotatedKey)) this.tokens.set(rotatedKey, {grant})
        return grant
      },
      (error: unknown) => {
        // The next request tries again: a refused password or an unreachable realm is not remembered.
        if (this.tokens.get(cacheKey)?.pending === pending) this.tokens.delete(cacheKey)
        throw error
      },
    )
    this.tokens.set(cacheKey, {pending})
    return pending
  }

  /** distribution's token spec: GET realm?service&scope&account, with Basic credentials if we have them. */
  private async getToken(
    realm: URL,
    service: string | undefined,
    scope: string | undefined,
    credentials: Credentials | undefined,
    guard: AddressGuard,
  ): Promise<TokenGrant> {
    const url = new URL(realm)
    if (service) url.searchParams.set('service', service)
    // Several scopes, space-separated as in the OAuth2 form, go as one `scope` parameter each.
    if (scope) for (const part of scope.split(' ')) url.searchParams.append('scope', part)
    const headers: Record<string, string> = {}
    const withPassword = Boolean(credentials?.username && credentials.password !== undefined)
    if (withPassword) {
      url.searchParams.set('account', credentials!.username!)
      headers.authorization = `Basic ${Buffer.from(`${credentials!.username}:${credentials!.password}`, 'utf8').toString('base64')}`
    }

    // A GET with no body: retried like any other on 429/5xx/resets.
    const response = await this.send({guard, headers, maxBodyBytes: MAX_TOKEN_RESPONSE_BYTES, method: 'GET', operation: 'token', url: url.toString()})
    return parseTokenResponse(response, url, withPassword)
  }

  /**
   * The refresh grant for an identity token holder, after any other of theirs in flight, with
   * the refresh token as it then stands. A new refresh token in the answer replaces the old one in
   * `credentials` (as docker's token handler keeps it) and is handed on to be stored.
   */
  private refreshInTurn(ref: RegistryRef, realm: URL, service: string | undefined, scope: string | undefined, credentials: Credentials): Promise<TokenGrant> {
    const previous = this.refreshing.get(credentials) ?? Promise.resolve()
    const turn = previous
      .catch(() => {})
      .then(async () => {
        const presented = credentials.identityToken as string
        const grant = await this.refreshGrant(realm, service, scope, presented, realmGuard(ref))
        if (grant.refreshToken && grant.refreshToken !== presented) {
          credentials.identityToken = grant.refreshToken
          await this.onRefreshTokenRotated?.(ref, presented, credentials)
        }

        return grant
      })
    this.refreshing.set(credentials, turn)
    return turn
  }

  /** OAuth2 refresh-token grant (distribution's oauth spec), for Docker's identity tokens. */
  async refreshGrant(realm: URL, service: string | undefined, scope: string | undefined, refreshToken: string, guard?: AddressGuard): Promise<TokenGrant> {
    rememberSecret(refreshToken)
    const form = new URLSearchParams({client_id: CLIENT_ID, grant_type: 'refresh_token', refresh_token: refreshToken})
    if (service) form.set('service', service)
    if (scope) form.set('scope', scope)
    // A POST, so never retried: a token server that rotates refresh tokens may have spent this
    // one before the connection broke, and a resend would then be refused or, worse, half-applied.
    const response = await this.send({
      body: form.toString(),
      guard,
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      maxBodyBytes: MAX_TOKEN_RESPONSE_BYTES,
      method: 'POST',
      operation: 'token',
      url: realm.toString(),
    })
    return parseTokenResponse(response, realm, true)
  }
}

function credentialFingerprint(credentials: Credentials | undefined): string {
  if (!credentials) return 'anonymous'
  const secret = credentials.identityToken ?? `${credentials.username ?? ''}:${credentials.password ?? ''}`
  return createHash('sha256').update(secret).digest('base64')
}

function realmOf(challenge: Challenge): URL {
  const realm = challenge.params.realm
  if (!realm) throw new ProtocolError('the registry\'s Bearer challenge names no realm (token server)')
  try {
    const url = new URL(realm)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http')
    return url
  } catch {
    throw new ProtocolError('the registry\'s Bearer challenge has a realm that is not an http(s) URL')
  }
}

/**
 * Where a registry may send us with our credentials (as go-containerregistry's validateRealmURL
 * checks): never from HTTPS down to plain HTTP, and never to a loopback, private or link-local
 * address unless the registry itself lives on that host (a hostile registry must not aim us at a
 * service inside the network). This is the early check, on the realm as written; the transport
 * applies the same guard again to resolved names and to every redirect (realmGuard).
 */
export function checkRealm(realm: URL, ref: RegistryRef, registryScheme: 'http' | 'https'): void {
  if (registryScheme === 'https' && realm.protocol !== 'https:') {
    throw new ProtocolError(`the registry's token realm ${realm.origin} is not HTTPS; credentials for an HTTPS registry are never sent over plain HTTP`)
  }

  checkLiteral(realm, realmGuard(ref), 0)
}

/** The address guard every request to a registry's token realm carries, redirects included. */
export function realmGuard(ref: RegistryRef): AddressGuard {
  return {allowedHost: splitEndpoint(ref.endpoint).host, registry: ref.endpoint, what: 'the registry\'s token realm'}
}

function parseTokenResponse(response: HttpResponse, url: URL, withCredentials: boolean): TokenGrant {
  if (response.status === 401 || response.status === 403) {
    throw new AuthenticationError(withCredentials ? 'authentication rejected' : `the token server ${url.host} refused an anonymous token`)
  }

  if (response.status !== 200) throw new ProtocolError(`the token server ${url.host} answered HTTP ${response.status}`)
  const body = rememberGrantSecrets(response.body)
  if (body === undefined) throw new ProtocolError(`the token server ${url.host} answered with something that is not JSON`)
  const fields = (body ?? {}) as {access_token?: unknown; expires_in?: unknown; refresh_token?: unknown; token?: unknown}
  // The spec says both must be equal when both are present; OAuth2 servers send only access_token.
  const token = typeof fields.access_token === 'string' && fields.access_token ? fields.access_token : fields.token
  if (typeof token !== 'string' || token === '') {
    throw new ProtocolError(`the token server ${url.host} answered without a token`)
  }

  // A lifetime shorter than the spec's 60 s is taken as given, not raised to 60: a token kept past
  // it is refused mid-transfer, and a refused token cannot be answered by sending a streamed body
  // again (moby#33558, harbor#18860).
  const lifetime = typeof fields.expires_in === 'number' && fields.expires_in > 0 ? fields.expires_in : DEFAULT_TOKEN_LIFETIME_S
  return {
    // A little early, so a token is never sent in its last seconds.
    expiresAt: Date.now() + (lifetime - Math.min(5, lifetime / 4)) * 1000,
    refreshToken: typeof fields.refresh_token === 'string' && fields.refresh_token ? fields.refresh_token : undefined,
    token,
  }
}

/**
 * The tokens of a token server's answer, learnt as secrets (every output masks them from now on);
 * the parsed JSON, or undefined when the body is not JSON. The transport calls it too, before it
 * reports the exchange: the answer's own headers may echo them.
 */
export function rememberGrantSecrets(body: Buffer): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }

  const fields = (parsed ?? {}) as Record<string, unknown>
  for (const name of ['access_token', 'token', 'refresh_token']) {
    const value = fields[name]
    if (typeof value === 'string') rememberSecret(value)
  }

  return parsed
}
