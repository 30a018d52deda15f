import type {RegistryRef} from './credentials/registry-name.js'
import type {Credentials} from './transport/auth.js'
import type {RegistryClient} from './transport/registry-client.js'

import {AuthenticationError, ProtocolError} from './errors.js'

/**
 * The login check: `GET /v2/` without credentials, then the challenge, then the authenticated retry.
 * Only "401 without credentials, 200 with them" proves the credentials were checked; a registry that
 * answers 200 to anyone proves nothing, and the caller is told so.
 */

export interface VerificationResult {
  /** basic or bearer: what the registry asked for. */
  scheme?: string
  /** False when the registry never asked for credentials. */
  verified: boolean
}

export async function verifyCredentials(client: RegistryClient, ref: RegistryRef, credentials: Credentials): Promise<VerificationResult> {
  const response = await client.request(ref, {method: 'GET', path: '/v2/'}, async () => credentials)
  if (response.status === 200) return {scheme: response.authScheme, verified: response.challenged}
  if (response.status === 401) {
    if (!response.challenged) {
      throw new ProtocolError(`${client.registryUrl(ref, '/v2/')} answered 401 without a WWW-Authenticate challenge`)
    }

    throw new AuthenticationError('authentication rejected')
  }

  throw new ProtocolError(`${client.registryUrl(ref, '/v2/')} answered HTTP ${response.status}${response.status === 404 ? '; is this an OCI registry?' : ''}`)
}
