import type {Credentials} from '../transport/auth.js'

import {CredentialHelperError} from '../errors.js'
import {CHECK_PARALLELISM, mapLimit} from '../util/limit.js'
import type {ContainersAuthFile} from './containers-auth.js'
import {type CredentialStore, type StoreLocation, credentialsFromEntry, findEntry, IDENTITY_TOKEN_USERNAME, selectStore} from './credential-store.js'
import {own} from './docker-config.js'
import {type RegistryRef, normalizeStoredKey, parseRegistry} from '../reference/registry.js'
import {type CredentialKind, credentialKind} from './resolve.js'

/**
 * Every stored login, wherever it lives: `auths` entries, `credHelpers` entries, and what the
 * `credsStore` helper lists. For people and scripts: usernames and places, never secrets.
 */

export interface StoredEntry {
  /** What kind of secret is stored (never the secret). */
  credentialKind: CredentialKind
  /** Set when a helper could not be asked about this entry. */
  error?: string
  /** Whether the resolution chain uses this entry (a file entry behind a helper is not used). */
  inUse: boolean
  /** The key as stored. */
  key: string
  location: StoreLocation
  /** The canonical key the stored key stands for. */
  registry: string
  username?: string
}

export async function listStoredCredentials(store: CredentialStore, containersAuth?: ContainersAuthFile): Promise<StoredEntry[]> {
  const {data} = await store.configFile.load()
  const path = store.configFile.path
  const entries: StoredEntry[] = []

  for (const [key, entry] of Object.entries(data.auths ?? {})) {
    const registry = normalizeStoredKey(key)
    const credentials = credentialsFromEntry(entry)
    // Docker's empty marker entries stand for a helper's entry; that one is listed instead.
    if (registry === undefined || !credentials) continue
    const ref = refOf(registry)
    const inUse = ref !== undefined && selectStore(data, registry, path).kind === 'file' && findEntry(data, ref)?.key === key
    entries.push({credentialKind: credentialKind(credentials), inUse, key, location: {kind: 'file', path}, registry, username: credentials.username})
  }

  // Asked side by side, and a helper that did not answer once is not asked again: a hanging
  // helper costs one --timeout, not one per entry.
  // `""` keeps the registry in the file; its auths entry is listed above.
  const perRegistry = Object.entries(data.credHelpers ?? {}).filter(([key, helper]) => normalizeStoredKey(key) !== undefined && helper !== '')
  const timedOut = new Map<string, CredentialHelperError>()
  const helperEntries = await mapLimit(perRegistry, CHECK_PARALLELISM, async ([key, helper]): Promise<StoredEntry | undefined> => {
    const registry = normalizeStoredKey(key) as string
    const location: StoreLocation = {helper, kind: 'helper', via: 'credHelpers'}
    try {
      const earlier = timedOut.get(helper)
      if (earlier) throw earlier
      const found = await store.helper(location).get(key).catch((error: unknown) => {
        if (error instanceof CredentialHelperError && error.reason === 'timeout') timedOut.set(helper, error)
        throw error
      })
      return found ? {...helperEntry(key, registry, location, found.username), inUse: key === registry} : undefined
    } catch (error) {
      return {...helperEntry(key, registry, location, undefined), error: describeHelperError(error), inUse: key === registry}
    }
  })
  for (const entry of helperEntries) if (entry) entries.push(entry)

  if (data.credsStore) {
    const location: StoreLocation = {helper: data.credsStore, kind: 'helper', via: 'credsStore'}
    let listed: Record<string, string> = {}
    try {
      listed = await store.helper(location).list()
    } catch (error) {
      entries.push({credentialKind: 'password', error: describeHelperError(error), inUse: false, key: '*', location, registry: '*'})
    }

    for (const [key, username] of Object.entries(listed)) {
      const registry = normalizeStoredKey(key)
      if (registry === undefined) continue
      entries.push({...helperEntry(key, registry, location, username), inUse: key === registry && isCredsStore(selectStore(data, registry, path))})
    }
  }

  // The containers auth.json: used for a registry when nothing above is (the chain's last file).
  if (containersAuth) {
    const used = new Set(entries.filter((entry) => entry.inUse).map((entry) => entry.registry))
    for (const {credentials, key, registry} of await containersAuth.entries()) {
      entries.push({credentialKind: credentialKind(credentials), inUse: !used.has(registry), key, location: {kind: 'file', path: containersAuth.path}, registry, username: credentials.username})
      used.add(registry)
    }
  }

  return entries.sort((a, b) => a.registry.localeCompare(b.registry) || Number(b.inUse) - Number(a.inUse) || a.key.localeCompare(b.key))
}

/** The secret behind one listed entry, for verification only. */
export async function credentialsOf(store: CredentialStore, entry: StoredEntry, containersAuth?: ContainersAuthFile): Promise<Credentials | undefined> {
  if (entry.location.kind === 'file' && containersAuth && entry.location.path === containersAuth.path && entry.location.path !== store.configFile.path) {
    return (await containersAuth.entries()).find((stored) => stored.key === entry.key)?.credentials
  }

  if (entry.location.kind === 'file') {
    const {data} = await store.configFile.load()
    const stored = own(data.auths, entry.key)
    return stored ? credentialsFromEntry(stored) : undefined
  }

  const found = await store.helper(entry.location).get(entry.key)
  if (!found) return undefined
  return found.username === IDENTITY_TOKEN_USERNAME ? {identityToken: found.secret} : {password: found.secret, username: found.username}
}

function helperEntry(key: string, registry: string, location: StoreLocation, username: string | undefined): Omit<StoredEntry, 'inUse'> {
  const isToken = username === IDENTITY_TOKEN_USERNAME
  return {credentialKind: isToken ? 'identity-token' : 'password', key, location, registry, username: isToken ? undefined : username}
}

function isCredsStore(location: StoreLocation): boolean {
  return location.kind === 'helper' && location.via === 'credsStore'
}

function refOf(registry: string): RegistryRef | undefined {
  try {
    return parseRegistry(registry)
  } catch {
    return undefined
  }
}

function describeHelperError(error: unknown): string {
  if (error instanceof CredentialHelperError) return error.message
  throw error
}
