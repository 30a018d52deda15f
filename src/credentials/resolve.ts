import type {Credentials} from '../transport/auth.js'
import type {ContainersAuthFile} from './containers-auth.js'
import type {CredentialStore, StoredCredentials} from './credential-store.js'
import type {RegistryRef} from '../reference/registry.js'

/**
 * The credential resolution chain every command uses (spec: "Credential Resolution"):
 *   1. --username and --password, both given;
 *   2. the helper that credHelpers[key] or credsStore selects (its "not found" means anonymous,
 *      as with docker: the auths section is not consulted behind a configured helper);
 *   3. the auths entry of the config file (canonical key, then legacy spellings);
 *   4. the containers tools' auth.json (podman, skopeo), read only, when 2 and 3 yield nothing:
 *      a login made with podman is found, whether or not Docker's config names a helper;
 *   5. anonymous.
 * A helper that is configured but broken is an error, never a silent anonymous.
 */

export type CredentialSource =
  | {helper: string; kind: 'helper'; via: 'credHelpers' | 'credsStore'}
  | {key: string; kind: 'containers-auth'; path: string}
  | {key: string; kind: 'file'; path: string}
  | {kind: 'anonymous'; reason: 'helper-not-found' | 'nothing-stored'}
  | {kind: 'flags'}

export interface ResolvedCredentials {
  credentials?: Credentials
  source: CredentialSource
}

/** What kind of secret a credential holds, for people: never the secret itself. */
export type CredentialKind = 'identity-token' | 'password' | 'registry-token'

export function credentialKind(credentials: StoredCredentials): CredentialKind {
  if (credentials.registryToken) return 'registry-token'
  if (credentials.identityToken) return 'identity-token'
  return 'password'
}

export function describeSource(source: CredentialSource): string {
  switch (source.kind) {
    case 'anonymous': {
      return source.reason === 'helper-not-found' ? 'anonymous (the credential helper holds nothing for it)' : 'anonymous (nothing stored)'
    }

    case 'containers-auth': {
      return `containers auth file ${source.path}`
    }

    case 'file': {
      return `file ${source.path}`
    }

    case 'flags': {
      return 'command-line flags'
    }

    case 'helper': {
      return `helper docker-credential-${source.helper} (${source.via})`
    }
  }
}

/** The JSON form of a source, the same in every command's output. */
export function sourceJson(source: CredentialSource): Record<string, string> {
  switch (source.kind) {
    case 'anonymous': {
      return {kind: 'anonymous', reason: source.reason}
    }

    case 'containers-auth': {
      return {key: source.key, kind: 'containers-auth', path: source.path}
    }

    case 'file': {
      return {key: source.key, kind: 'file', path: source.path}
    }

    case 'flags': {
      return {kind: 'flags'}
    }

    case 'helper': {
      return {helper: source.helper, kind: 'helper', via: source.via}
    }
  }
}

export interface ExplicitCredentials {
  password?: string
  username?: string
}

export class CredentialResolver {
  private readonly resolved = new Map<string, Promise<ResolvedCredentials>>()

  constructor(
    private readonly store: CredentialStore,
    private readonly explicit: ExplicitCredentials = {},
    /** The containers auth.json, the chain's last file source (containers-auth.ts). */
    private readonly containersAuth?: ContainersAuthFile,
  ) {}

  /** Resolved once per registry key and run: a helper is asked at most once. */
  resolve(ref: RegistryRef): Promise<ResolvedCredentials> {
    let pending = this.resolved.get(ref.key)
    if (!pending) {
      pending = this.resolveUncached(ref)
      this.resolved.set(ref.key, pending)
    }

    return pending
  }

  private async resolveUncached(ref: RegistryRef): Promise<ResolvedCredentials> {
    const {password, username} = this.explicit
    if (username !== undefined && password !== undefined) return {credentials: {password, username}, source: {kind: 'flags'}}
    const found = await this.store.get(ref)
    if (!found.credentials) {
      const fallback = await this.containersAuth?.find(ref)
      if (fallback) return {credentials: fallback.credentials, source: {key: fallback.key, kind: 'containers-auth', path: this.containersAuth!.path}}
      return {source: {kind: 'anonymous', reason: found.location.kind === 'helper' ? 'helper-not-found' : 'nothing-stored'}}
    }

    const source: CredentialSource =
      found.location.kind === 'helper'
        ? {helper: found.location.helper, kind: 'helper', via: found.location.via}
        : {key: found.storedKey as string, kind: 'file', path: found.location.path}
    return {credentials: found.credentials, source}
  }
}
