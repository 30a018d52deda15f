import {Flags} from '@oclif/core'

import type {JsonObject} from '../../command/base-command.js'
import {BreakModeCommand} from '../../command/break-command.js'
import {terminalSafe} from '../../util/text.js'
import {describeLocation, type StoreLocation} from '../../credentials/credential-store.js'
import {credentialsOf, listStoredCredentials, type StoredEntry} from '../../credentials/inventory.js'
import {type RegistryRef, parseRegistry} from '../../reference/registry.js'
import {type CredentialKind, type CredentialSource, describeSource, sourceJson} from '../../credentials/resolve.js'
import {AuthenticationError, CredentialHelperError, DockerConfigError, NetworkError, RegshapeError} from '../../errors.js'
import {CHECK_PARALLELISM, mapLimit} from '../../util/limit.js'
import {verifyCredentials} from '../../workflows/login.js'
import type {Credentials} from '../../transport/auth.js'

/** Every message `auth status` prints. */
const messages = {
  anonymous: 'anonymous',
  invalidEntries: (count: number) => `${count} stored credential${count === 1 ? '' : 's'} did not verify`,
  noEntries: (path: string) => `No stored credentials (config file ${path}).`,
  notUsed: ' (not used)',
  readFailed: (reason: string) => `Could not read stored credentials: ${reason}`,
}

type Verification = {detail?: string; result: 'error' | 'rejected' | 'unreachable' | 'unverified' | 'valid'}

const KIND_LABEL: Record<CredentialKind, string> = {
  'identity-token': '(identity token)',
  password: '',
  'registry-token': '(registry token)',
}

/** Every stored login (without --registry). */
export interface StatusListResult {
  status: 'success'
  config: string
  entries: Array<{
    registry: string
    key: string
    store: StoreLocation
    username: null | string
    credential_kind: CredentialKind
    in_use: boolean
    error: string | undefined
    verification: undefined | Verification
  }>
}

/** What the resolution chain yields for one registry (--registry); the source in its JSON form under --json. */
export interface StatusOneResult {
  status: 'success'
  registry: string
  key: string
  username: null | string
  credential_kind: CredentialKind | null
  source: CredentialSource
  verification: undefined | Verification
}

export type StatusResult = StatusListResult | StatusOneResult

export default class AuthStatus extends BreakModeCommand<typeof AuthStatus, StatusResult> {
  static override description = `Without --registry, lists every stored login: the entries of config.json's "auths" section, its "credHelpers" entries, and what the "credsStore" helper lists, each with where it lives and its username. Entries that the resolution chain would not use (a file entry behind a helper, a legacy spelling behind the canonical key) are marked "not used". Docker Hub's web-login pseudo-entries are not listed.

With --registry, shows what the credential resolution chain yields for that registry and where it comes from: --username/--password, a credential helper, the config file, or anonymous.

--verify runs the real login check (GET /v2/ and the challenge) for each entry and reports valid, rejected, unreachable or unverified (the registry never asked for credentials); the command then exits 1 if any entry did not verify. No secret is ever printed.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --verify',
    '<%= config.bin %> <%= command.id %> -r registry.example.com',
    '<%= config.bin %> --json <%= command.id %> -r registry.example.com --verify',
  ]

  static override flags = {
    registry: Flags.string({char: 'r', description: 'Show what the resolution chain yields for this registry'}),
    verify: Flags.boolean({description: 'Check each credential against its registry'}),
  }

  static override summary = 'Show stored credentials and where each registry\'s credentials come from'

  async run(): Promise<StatusResult> {
    return this.flags.registry === undefined ? this.listAll() : this.showOne(parseRegistry(this.flags.registry))
  }

  protected override renderText(result: StatusResult): string {
    if (!('entries' in result)) {
      const lines: Array<[string, string]> = [
        ['Registry', result.key === result.registry ? result.registry : `${result.registry} (stored as ${result.key})`],
        ['Credentials', result.credential_kind === null ? messages.anonymous : `${result.username ?? ''} ${KIND_LABEL[result.credential_kind]}`.trim()],
        ['Source', describeSource(result.source)],
        ...(result.verification ? [['Verified', describeVerification(result.verification)] as [string, string]] : []),
      ]
      const width = Math.max(...lines.map(([label]) => label.length)) + 2
      return lines.map(([label, value]) => `${`${label}:`.padEnd(width)}${terminalSafe(value)}`).join('\n')
    }

    const {entries} = result
    if (entries.length === 0) return terminalSafe(messages.noEntries(result.config))
    // --verify checked every entry: each has a verification, and the table a STATUS column.
    const verified = entries.some((entry) => entry.verification !== undefined)
    const rows = entries.map((entry) => [
      entry.key,
      `${describeLocation(entry.store)}${entry.store.kind === 'helper' ? ` (${entry.store.via})` : ''}${entry.in_use ? '' : messages.notUsed}`,
      entry.error ? `error: ${entry.error}` : `${entry.username ?? ''} ${KIND_LABEL[entry.credential_kind]}`.trim(),
      ...(verified ? [describeVerification(entry.verification as Verification)] : []),
    ])
    return table(['REGISTRY', 'STORE', 'USERNAME', ...(verified ? ['STATUS'] : [])], rows)
  }

  protected override renderJson(result: StatusResult): JsonObject {
    return 'entries' in result ? {...result} : {...result, source: sourceJson(result.source)}
  }

  /** With --verify, exit 1 once the result is printed if an entry did not verify. */
  protected override async afterResult(result: StatusResult): Promise<void> {
    const verifications = 'entries' in result ? result.entries.map((entry) => entry.verification) : [result.verification]
    const bad = verifications.filter((v) => v !== undefined && v.result !== 'valid' && v.result !== 'unverified').length
    if (bad > 0) {
      process.stderr.write(`Error: ${messages.invalidEntries(bad)}\n`)
      this.exitWith(1)
    }
  }

  private async listAll(): Promise<StatusListResult> {
    const store = this.services.credentialStore()
    let entries: StoredEntry[]
    try {
      entries = await listStoredCredentials(store, this.services.containersAuthFile?.())
    } catch (error) {
      if (error instanceof DockerConfigError || error instanceof CredentialHelperError) throw new RegshapeError(messages.readFailed(error.message), {cause: error})
      throw error
    }

    const verifications = this.flags.verify ? await mapLimit(entries, CHECK_PARALLELISM, (entry) => this.verifyEntry(entry)) : undefined
    return {
      status: 'success',
      config: store.configFile.path,
      entries: entries.map((entry, index) => ({
        registry: entry.registry,
        key: entry.key,
        store: locationJson(entry.location),
        username: entry.username ?? null,
        credential_kind: entry.credentialKind,
        in_use: entry.inUse,
        error: entry.error,
        verification: verifications?.[index],
      })),
    }
  }

  private async showOne(ref: RegistryRef): Promise<StatusOneResult> {
    let resolved
    try {
      resolved = await this.resolveCredentials(ref)
    } catch (error) {
      if (error instanceof DockerConfigError || error instanceof CredentialHelperError) throw new RegshapeError(messages.readFailed(error.message), {cause: error})
      throw error
    }

    const held = resolved.credentials
    const kind: CredentialKind | undefined = held ? (held.registryToken ? 'registry-token' : held.identityToken ? 'identity-token' : 'password') : undefined
    const verification = this.flags.verify && held ? await this.verify(ref, held) : undefined
    return {
      status: 'success',
      registry: ref.input,
      key: ref.key,
      username: held?.username ?? null,
      credential_kind: kind ?? null,
      source: resolved.source,
      verification,
    }
  }

  private async verifyEntry(entry: StoredEntry): Promise<Verification> {
    if (entry.error) return {detail: entry.error, result: 'error'}
    let ref: RegistryRef
    try {
      ref = parseRegistry(entry.registry)
    } catch (error) {
      return {detail: (error as Error).message, result: 'error'}
    }

    let credentials: Credentials | undefined
    try {
      credentials = await credentialsOf(this.services.credentialStore(), entry, this.services.containersAuthFile?.())
    } catch (error) {
      return {detail: (error as Error).message, result: 'error'}
    }

    return credentials ? this.verify(ref, credentials) : {detail: 'nothing stored', result: 'error'}
  }

  /** A fresh client per check: one entry's token or challenge must not vouch for another's. */
  private async verify(ref: RegistryRef, credentials: Credentials): Promise<Verification> {
    const client = (await this.services.transport()).fork()
    try {
      const {verified} = await verifyCredentials(client, ref, credentials)
      return verified ? {result: 'valid'} : {detail: 'the registry did not ask for credentials', result: 'unverified'}
    } catch (error) {
      if (error instanceof AuthenticationError) return {result: 'rejected'}
      if (error instanceof NetworkError) return {detail: error.message, result: 'unreachable'}
      if (error instanceof RegshapeError) return {detail: error.message, result: 'error'}
      throw error
    } finally {
      client.close()
    }
  }

}

function describeVerification(verification: Verification): string {
  return verification.detail && verification.result !== 'rejected' ? `${verification.result} (${verification.detail})` : verification.result
}

function locationJson(location: StoreLocation): StoreLocation {
  return location.kind === 'file' ? {kind: 'file', path: location.path} : {helper: location.helper, kind: 'helper', via: location.via}
}

/**
 * Left-aligned columns, two spaces apart: all this output needs, without a table library's start-up
 * cost. Cells hold config keys, usernames and helper messages: escaped, so none can move the
 * cursor or start a row of its own.
 */
function table(headers: string[], cells: string[][]): string {
  const rows = cells.map((row) => row.map((cell) => terminalSafe(cell)))
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column].length)))
  return [headers, ...rows].map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n')
}
