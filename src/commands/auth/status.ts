import {Flags} from '@oclif/core'

import {BreakModeCommand} from '../../command/break-command.js'
import {terminalSafe} from '../../util/text.js'
import {describeLocation, type StoreLocation} from '../../credentials/credential-store.js'
import {credentialsOf, listStoredCredentials, type StoredEntry} from '../../credentials/inventory.js'
import {type RegistryRef, parseRegistry} from '../../reference/registry.js'
import {type CredentialKind, describeSource, sourceJson} from '../../credentials/resolve.js'
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

export default class AuthStatus extends BreakModeCommand<typeof AuthStatus> {
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

  async run(): Promise<void> {
    if (this.flags.registry === undefined) await this.listAll()
    else await this.showOne(parseRegistry(this.flags.registry))
  }

  private async listAll(): Promise<void> {
    const store = this.services.credentialStore()
    let entries: StoredEntry[]
    try {
      entries = await listStoredCredentials(store, this.services.containersAuthFile?.())
    } catch (error) {
      if (error instanceof DockerConfigError || error instanceof CredentialHelperError) throw new RegshapeError(messages.readFailed(error.message), {cause: error})
      throw error
    }

    const verifications = this.flags.verify ? await mapLimit(entries, CHECK_PARALLELISM, (entry) => this.verifyEntry(entry)) : undefined
    const rows = entries.map((entry, index) => [
      entry.key,
      `${describeLocation(entry.location)}${entry.location.kind === 'helper' ? ` (${entry.location.via})` : ''}${entry.inUse ? '' : messages.notUsed}`,
      entry.error ? `error: ${entry.error}` : `${entry.username ?? ''} ${KIND_LABEL[entry.credentialKind]}`.trim(),
      ...(verifications ? [describeVerification(verifications[index])] : []),
    ])
    const human =
      entries.length === 0
        ? terminalSafe(messages.noEntries(store.configFile.path))
        : table(['REGISTRY', 'STORE', 'USERNAME', ...(verifications ? ['STATUS'] : [])], rows)
    this.emitResult(human, {
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
    })
    this.failIfInvalid(verifications)
  }

  private async showOne(ref: RegistryRef): Promise<void> {
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
    const lines: Array<[string, string]> = [
      ['Registry', ref.key === ref.input ? ref.input : `${ref.input} (stored as ${ref.key})`],
      ['Credentials', held ? `${held.username ?? ''} ${kind ? KIND_LABEL[kind] : ''}`.trim() : messages.anonymous],
      ['Source', describeSource(resolved.source)],
      ...(verification ? [['Verified', describeVerification(verification)] as [string, string]] : []),
    ]
    const width = Math.max(...lines.map(([label]) => label.length)) + 2
    this.emitResult(lines.map(([label, value]) => `${`${label}:`.padEnd(width)}${terminalSafe(value)}`).join('\n'), {
      status: 'success',
      registry: ref.input,
      key: ref.key,
      username: held?.username ?? null,
      credential_kind: kind ?? null,
      source: sourceJson(resolved.source),
      verification,
    })
    this.failIfInvalid(verification ? [verification] : undefined)
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

  private failIfInvalid(verifications: undefined | Verification[]): void {
    const bad = verifications?.filter((v) => v.result !== 'valid' && v.result !== 'unverified').length ?? 0
    if (bad > 0) {
      process.stderr.write(`Error: ${messages.invalidEntries(bad)}\n`)
      this.exitWith(1)
    }
  }
}

function describeVerification(verification: Verification): string {
  return verification.detail && verification.result !== 'rejected' ? `${verification.result} (${verification.detail})` : verification.result
}

function locationJson(location: StoreLocation): Record<string, string> {
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
