import type {RegistryRef} from '../reference/registry.js'
import type {Credentials} from '../transport/auth.js'
import type {Transport} from '../transport/transport.js'

import {terminalSafe} from '../util/text.js'
import {isRepositoryPath} from '../reference/image.js'
import {AuthenticationError, InputError, ProtocolError} from '../errors.js'

/**
 * The login check: `GET /v2/` without credentials, then the challenge, then the authenticated retry.
 * Only "401 without credentials, 200 with them" proves the credentials were checked; a registry that
 * answers 200 to anyone proves nothing, and the caller is told so.
 */

export interface VerificationResult {
  /** False when the registry never asked for credentials. */
  verified: boolean
}

export async function verifyCredentials(client: Transport, ref: RegistryRef, credentials: Credentials): Promise<VerificationResult> {
  const response = await client.request(ref, {method: 'GET', path: '/v2/'}, async () => credentials)
  if (response.status === 200) return {verified: response.challenged}
  if (response.status === 401) {
    if (!response.challenged) {
      throw new ProtocolError(`${client.registryUrl(ref, '/v2/')} answered 401 without a WWW-Authenticate challenge`)
    }

    if (response.challenge?.scheme === 'basic' && credentials.identityToken) {
      throw new ProtocolError('the registry uses Basic authentication; an identity token needs a registry with a Bearer token server')
    }

    throw new AuthenticationError('authentication rejected')
  }

  throw new ProtocolError(`${client.registryUrl(ref, '/v2/')} answered HTTP ${response.status}${response.status === 404 ? '; is this an OCI registry?' : ''}`)
}

export type Action = 'pull' | 'push'

export interface ScopeCheck {
  /** Actions confirmed granted. */
  granted: Action[]
  repository: string
  requested: Action[]
  /** Actions that could not be checked either way (push, without a JWT to read). */
  unknown: Action[]
}

export function parseRepository(name: string): string {
  if (!isRepositoryPath(name)) {
    throw new InputError(`invalid repository name "${terminalSafe(name)}": lower-case path components such as team/app`)
  }

  return name
}

/**
 * Which of `requested` the credentials are granted on a repository (the spec's open question on
 * token scope). A Bearer token that is a JWT says so in its `access` claim; otherwise a read of the
 * repository's tag list shows whether pull is allowed, and push stays unknown (checking it would
 * mean writing to the registry).
 */
export async function checkScope(
  client: Transport,
  ref: RegistryRef,
  credentials: Credentials,
  repository: string,
  requested: Action[],
): Promise<ScopeCheck> {
  const scope = `repository:${repository}:${requested.join(',')}`
  const challenge = client.auth.knownChallenge(ref)
  if (challenge?.scheme === 'bearer') {
    const grant = await client.auth.token(challenge, ref, scope, credentials)
    const claimed = jwtActions(grant.token, repository)
    if (claimed) {
      return {granted: requested.filter((action) => claimed.has(action) || claimed.has('*')), repository, requested, unknown: []}
    }
  }

  const probe = await client.request(ref, {method: 'GET', path: `/v2/${repository}/tags/list`, scope}, async () => credentials)
  // 404 (NAME_UNKNOWN) means we were allowed to ask: the repository just does not exist yet.
  const pull = probe.status === 200 || probe.status === 404
  return {
    granted: pull && requested.includes('pull') ? ['pull'] : [],
    repository,
    requested,
    unknown: requested.filter((action) => action === 'push'),
  }
}

/** The actions a distribution JWT grants on a repository; undefined if the token is no JWT. */
function jwtActions(token: string, repository: string): Set<string> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
  } catch {
    return undefined
  }

  const access = (claims as {access?: unknown})?.access
  if (!Array.isArray(access)) return undefined
  const actions = new Set<string>()
  for (const entry of access as Array<{actions?: unknown; name?: unknown; type?: unknown}>) {
    if (entry?.type === 'repository' && entry.name === repository && Array.isArray(entry.actions)) {
      for (const action of entry.actions) if (typeof action === 'string') actions.add(action)
    }
  }

  return actions
}
