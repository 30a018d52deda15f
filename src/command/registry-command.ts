import type {Command} from '@oclif/core'

import type {ImageRef} from '../reference/image.js'
import type {RegistryRef} from '../reference/registry.js'

import {registryWithoutUserinfo, userFacing, writeResultFile} from './base-command.js'
import {formatImageRef} from '../reference/image.js'
import {formatJson, terminalSafe} from '../util/text.js'
import {RegistryApiError} from '../registry/api-error.js'
import {RegistryConnection} from '../registry/connection.js'
import {Repository} from '../registry/repository.js'
import {scrubValues} from '../util/secrets.js'
import {BreakModeCommand} from './break-command.js'

/**
 * The base of the registry command groups (catalog, tag, manifest, blob, referrer): a Repository
 * for the reference the command parsed, output to stdout or `-o FILE` (a command's outputFile()
 * sends its result there), and errors that carry the registry's OCI error code under --json
 * (`{"status": "error", "error": …, "code": …}`).
 */
export abstract class RegistryCommand<T extends typeof Command, R = void> extends BreakModeCommand<T, R> {
  /** The registry the command talks to, once its reference parsed (for error output). */
  protected target?: {reference?: string; registry: string}

  /** One registry, reached with the credentials the chain resolves for it (asked for only when it asks). */
  protected async connection(registry: RegistryRef): Promise<RegistryConnection> {
    this.target ??= {registry: registry.input}
    return new RegistryConnection(await this.services.transport(), registry, async () => (await this.resolveCredentials(registry)).credentials)
  }

  /** The repository an image reference names. */
  protected async repository(ref: ImageRef): Promise<Repository> {
    this.target = {reference: formatImageRef(ref), registry: ref.registry.host}
    return new Repository(await this.connection(ref.registry), ref.repository)
  }

  /** Text to stdout, or to `-o FILE` (written whole, only once everything it holds was checked). */
  protected writeOutput(text: Buffer | string, file: string | undefined): void {
    if (file === undefined) process.stdout.write(text)
    else writeResultFile(file, text)
  }

  protected override registryForOutput(): string | undefined {
    // Before a reference parsed, only a --registry flag names a registry (blob's -r is a repository).
    return this.target?.registry ?? ('registry' in (this.ctor.flags ?? {}) ? super.registryForOutput() : undefined)
  }

  override async catch(error: Error & {code?: string; oclif?: {exit?: number}}): Promise<void> {
    if (!this.jsonMode || (error.code === 'EEXIT' && error.oclif?.exit !== undefined)) return super.catch(error)
    const {exitCode, message} = userFacing(error)
    const registry = this.registryForOutput()
    const code = error instanceof RegistryApiError ? error.code : undefined
    process.stdout.write(
      `${formatJson(
        scrubValues({
          status: 'error',
          registry: registry === undefined ? undefined : registryWithoutUserinfo(registry),
          reference: this.target?.reference,
          error: message,
          code,
          mutations: this.breakSession?.events,
        }),
      )}\n`,
    )
    this.exitWith(exitCode)
  }
}

/** Registry text for a terminal: one item per line, control characters escaped. */
export function safeLines(items: readonly string[]): string {
  return items.map((item) => terminalSafe(item)).join('\n')
}
