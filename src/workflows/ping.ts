import type {RegistryRef} from '../reference/registry.js'
import type {ResolvedCredentials} from '../credentials/resolve.js'
import type {Challenge} from '../transport/challenge.js'
import type {Transport} from '../transport/transport.js'

import {AuthenticationError, ProtocolError} from '../errors.js'
import {header} from '../transport/http.js'

/**
 * `ping`: is this a registry, what does it ask for, and do our credentials pass? One
 * unauthenticated `GET /v2/` (timed: the round trip), then, if the registry asks, the same request
 * answered with whatever the resolution chain yields.
 */

export type CredentialOutcome =
  /** The registry asked, and the resolved credentials (or an anonymous token) were accepted. */
  | 'accepted'
  /** The registry asked for credentials and none are stored or given. */
  | 'missing'
  /** /v2/ is open to anyone. */
  | 'not-required'
  /** The registry or its token server refused them. */
  | 'rejected'

export interface PingResult {
  apiVersion?: string
  challenge?: Challenge
  /** What the resolution chain gave; absent when the registry did not ask. */
  credentials?: ResolvedCredentials
  /** Final status of /v2/ (after answering the challenge). */
  finalStatus: number
  outcome: CredentialOutcome
  /** Round trip of the first, unauthenticated request. */
  roundTripMs: number
  /** Status of the unauthenticated /v2/. */
  status: number
  url: string
}

export async function pingRegistry(
  client: Transport,
  ref: RegistryRef,
  resolve: () => Promise<ResolvedCredentials>,
): Promise<PingResult> {
  const probe = await client.sendToRegistry(ref, {method: 'GET', path: '/v2/'})
  const roundTripMs = probe.durationMs
  const url = client.registryUrl(ref, '/v2/')
  const apiVersion = header(probe, 'docker-distribution-api-version')
  const base = {apiVersion, roundTripMs, status: probe.status, url}
  if (probe.status === 200) return {...base, finalStatus: 200, outcome: 'not-required'}
  if (probe.status !== 401) throw new ProtocolError(`${url} answered HTTP ${probe.status}: this is not an OCI registry`)
  const challenge = client.auth.learnChallenge(ref, probe)
  if (!challenge) throw new ProtocolError(`${url} answered 401 without a WWW-Authenticate challenge: this is not an OCI registry`)

  const resolved = await resolve()
  if (challenge.scheme === 'basic' && !resolved.credentials) return {...base, challenge, credentials: resolved, finalStatus: 401, outcome: 'missing'}
  try {
    const final = await client.request(ref, {method: 'GET', path: '/v2/'}, async () => resolved.credentials)
    const outcome: CredentialOutcome = final.status === 200 ? 'accepted' : resolved.credentials ? 'rejected' : 'missing'
    return {...base, apiVersion: apiVersion ?? header(final, 'docker-distribution-api-version'), challenge, credentials: resolved, finalStatus: final.status, outcome}
  } catch (error) {
    if (!(error instanceof AuthenticationError)) throw error
    return {...base, challenge, credentials: resolved, finalStatus: 401, outcome: resolved.credentials ? 'rejected' : 'missing'}
  }
}
