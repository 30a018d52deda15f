import {NO_TRACER, type Tracer} from '../telemetry/tracer.js'

import {CredentialHelperError} from '../errors.js'
import {rememberCredentials} from '../util/secrets.js'
import {emptyObject} from './config-json.js'
import {type AuthEntry, type DockerConfigData, DockerConfigFile, authEntryWith, decodeAuth, encodeAuth, own} from './docker-config.js'
import {CredentialHelperClient, type HelperClientOptions} from './helper-client.js'
import {type RegistryRef, normalizeStoredKey, storedKeyMatches} from '../reference/registry.js'

/**
 * Where a registry's credentials live and how to get, store and erase them, with Docker's store
 * selection: `credHelpers[key]`, else `credsStore`, else the `auths` section of config.json.
 */

export type StoreLocation =
  | {helper: string; kind: 'helper'; via: 'credHelpers' | 'credsStore'}
  | {kind: 'file'; path: string}

export interface StoredCredentials {
  identityToken?: string
  password?: string
  registryToken?: string
  username?: string
}

/** The username Docker's helpers use to mark a stored identity (refresh) token. */
export const IDENTITY_TOKEN_USERNAME = '<token>'

/**
 * What a login stores: a username and password, or an identity (OAuth2 refresh) token, with the
 * username it was issued to when known.
 */
export type NewCredentials = {identityToken: string; username?: string} | {password: string; username: string}

export function selectStore(data: DockerConfigData, key: string, path: string): StoreLocation {
  const perRegistry = own(data.credHelpers, key)
  // As docker's getConfiguredCredentialStore: an entry that exists decides, and `""` is the way
  // to keep one registry in the file while credsStore holds the others.
  if (perRegistry !== undefined) return perRegistry === '' ? {kind: 'file', path} : {helper: perRegistry, kind: 'helper', via: 'credHelpers'}
  if (data.credsStore) return {helper: data.credsStore, kind: 'helper', via: 'credsStore'}
  return {kind: 'file', path}
}

export function describeLocation(location: StoreLocation): string {
  return location.kind === 'file' ? location.path : `docker-credential-${location.helper}`
}

export interface CredentialStoreOptions {
  helperOptions?: Omit<HelperClientOptions, 'configuredBy'>
  tracer?: Tracer
}

export class CredentialStore {
  private located?: DockerConfigData

  constructor(
    readonly configFile: DockerConfigFile,
    private readonly options: CredentialStoreOptions = {},
  ) {}

  /**
   * Fails early on a config that cannot be used, before anything is sent to a registry. The data
   * read is kept for the store() that follows (which re-reads under the lock before writing).
   */
  async locate(ref: RegistryRef): Promise<StoreLocation> {
    const {data} = await this.configFile.load()
    this.located = data
    return selectStore(data, ref.key, this.configFile.path)
  }

  helper(location: StoreLocation & {kind: 'helper'}): CredentialHelperClient {
    const configuredBy = location.via === 'credsStore' ? `credsStore in ${this.configFile.path}` : `a credHelpers entry in ${this.configFile.path}`
    const options = {...this.options.helperOptions, configuredBy, tracer: this.options.tracer}
    return new CredentialHelperClient(location.helper, options)
  }

  /**
   * Stores credentials under the canonical key. With a helper, the secret goes to the helper
   * (an identity token with Docker's `<token>` username) and the file gets Docker's empty marker
   * entry; without one, base64 `user:password` goes into `auths`, or `identitytoken` beside
   * docker's `auth: base64("user:")` (containers/image, skopeo and podman ignore an identity token
   * that has no decodable `auth` beside it; docker refuses an `auth` with an empty username, so
   * without one the helpers' `<token>` stands in).
   */
  async store(ref: RegistryRef, credentials: NewCredentials): Promise<StoreLocation> {
    const data = this.located ?? (await this.step('load config', () => this.configFile.load())).data
    this.located = undefined
    const location = await this.step('select store', async () => selectStore(data, ref.key, this.configFile.path))
    let fields: AuthEntry
    if (location.kind === 'helper') {
      const secret =
        'identityToken' in credentials
          ? {secret: credentials.identityToken, username: IDENTITY_TOKEN_USERNAME}
          : {secret: credentials.password, username: credentials.username}
      await this.step('store', () => this.helper(location).store(ref.key, secret))
      // Docker's marker: the entry exists, the secret lives in the helper.
      fields = {}
    } else {
      fields =
        'identityToken' in credentials
          ? {auth: encodeAuth(credentials.username ?? IDENTITY_TOKEN_USERNAME, ''), identitytoken: credentials.identityToken}
          : {auth: encodeAuth(credentials.username, credentials.password)}
    }

    await this.configFile.update((latest) => {
      latest.auths ??= emptyObject()
      latest.auths[ref.key] = authEntryWith(own(latest.auths, ref.key), fields)
    }, data)
    return location
  }

  /** Looks up stored credentials: the canonical key first, then legacy spellings of the same host. */
  async get(ref: RegistryRef): Promise<{credentials?: StoredCredentials; location: StoreLocation; storedKey?: string}> {
    const {data} = await this.configFile.load()
    const location = selectStore(data, ref.key, this.configFile.path)
    if (location.kind === 'helper') {
      const found = await this.helper(location).get(ref.key)
      if (!found) return {location}
      const credentials: StoredCredentials =
        found.username === IDENTITY_TOKEN_USERNAME ? {identityToken: found.secret} : {password: found.secret, username: found.username}
      // The helper client knows the Secret; the `user:secret` pair a registry may echo in base64 too.
      rememberCredentials(credentials)
      return {credentials, location, storedKey: ref.key}
    }

    const match = findEntry(data, ref)
    if (!match) return {location}
    const credentials = credentialsFromEntry(match.entry)
    return credentials ? {credentials, location, storedKey: match.key} : {location}
  }

  /**
   * A refresh token the token server rotated, stored in place of the one spent, in the entry or
   * helper that held it. Only where the store held `spent` for the registry: a token given to
   * `auth login` is stored by the login itself. Whether anything was written.
   */
  async replaceIdentityToken(ref: RegistryRef, spent: string, replacement: string): Promise<boolean> {
    const found = await this.get(ref)
    if (found.credentials?.identityToken !== spent) return false
    if (found.location.kind === 'helper') {
      await this.helper(found.location).store(found.storedKey ?? ref.key, {secret: replacement, username: IDENTITY_TOKEN_USERNAME})
      return true
    }

    const key = found.storedKey as string
    const {changed} = await this.configFile.update((latest) => {
      const entry = own(latest.auths, key)
      // Re-read under the lock: another process may have rotated or replaced it meanwhile.
      if (entry?.identitytoken === spent) entry.identitytoken = replacement
    })
    return changed
  }

  /**
   * Erases the canonical key and every legacy spelling of it from the selected store, and the
   * matching `auths` entries (Docker's helper markers included). `removed` says whether anything was there.
   */
  async erase(ref: RegistryRef): Promise<{location: StoreLocation; removed: boolean}> {
    const {data} = await this.step('load config', () => this.configFile.load())
    const location = await this.step('select store', async () => selectStore(data, ref.key, this.configFile.path))
    const matching = (auths: Record<string, AuthEntry>) => Object.keys(auths).filter((key) => storedKeyMatches(key, ref))
    const removed = await this.step('erase', async () => {
      const fromHelper = location.kind === 'helper' && (await this.eraseFromHelper(this.helper(location), ref))
      // A helper's empty marker is not a login of its own; a file entry with credentials is.
      const fromFile = matching(data.auths ?? {}).some((key) => location.kind === 'file' || credentialsFromEntry((data.auths as Record<string, AuthEntry>)[key]))
      return fromHelper || fromFile
    })
    await this.configFile.update((latest) => {
      for (const key of matching(latest.auths ?? {})) delete (latest.auths as Record<string, AuthEntry>)[key]
    }, data)
    return {location, removed}
  }

  private step<T>(name: string, operation: () => Promise<T>): Promise<T> {
    return (this.options.tracer ?? NO_TRACER).step(name, operation)
  }

  private async eraseFromHelper(helper: CredentialHelperClient, ref: RegistryRef): Promise<boolean> {
    // `list` tells exactly which spellings the helper holds, so nothing is erased blindly and
    // "not found" needs no guessing. Helpers without `list` get the canonical key erased directly.
    let keys: string[]
    try {
      keys = Object.keys(await helper.list()).filter((key) => storedKeyMatches(key, ref))
    } catch (error) {
      if (!(error instanceof CredentialHelperError) || error.reason !== 'failed') throw error
      return (await helper.erase(ref.key)) === 'erased'
    }

    for (const key of keys) await helper.erase(key)
    return keys.length > 0
  }
}

/** The auths entry holding credentials for `ref`: the canonical key first, then legacy spellings. */
export function findEntry(data: DockerConfigData, ref: RegistryRef): undefined | {entry: AuthEntry; key: string} {
  const auths = data.auths ?? {}
  const exact = own(auths, ref.key)
  if (exact && credentialsFromEntry(exact)) return {entry: exact, key: ref.key}
  for (const [key, entry] of Object.entries(auths)) {
    if (key !== ref.key && normalizeStoredKey(key) === ref.key && credentialsFromEntry(entry)) return {entry, key}
  }

  return undefined
}

/** What an `auths` entry holds; undefined for Docker's empty helper marker or an undecodable entry. */
export function credentialsFromEntry(entry: AuthEntry): StoredCredentials | undefined {
  const credentials: StoredCredentials = {}
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = decodeAuth(entry.auth)
    if (decoded) Object.assign(credentials, decoded)
  } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    Object.assign(credentials, {password: entry.password, username: entry.username})
  }

  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') credentials.identityToken = entry.identitytoken
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') credentials.registryToken = entry.registrytoken
  // Read, they are held: a registry may echo them, so every output is scrubbed of them from now on.
  rememberCredentials(credentials)
  return Object.keys(credentials).length > 0 ? credentials : undefined
}
