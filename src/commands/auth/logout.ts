import {Flags} from '@oclif/core'

import {referenceArgs, registryName} from '../../command/flags.js'

import {type JsonObject, RegshapeCommand} from '../../command/base-command.js'
import {terminalSafe} from '../../util/text.js'
import {listStoredCredentials} from '../../credentials/inventory.js'
import {type RegistryRef, parseRegistry} from '../../reference/registry.js'
import {CredentialHelperError, DockerConfigError, RegshapeError, UsageError} from '../../errors.js'

/** Every message `auth logout` prints, worded as the specification gives them. */
const messages = {
  eraseFailed: (reason: string) => `Could not remove credentials: ${reason}`,
  notLoggedIn: (registry: string) => `Not logged in to ${registry}.`,
  notLoggedInAnywhere: 'Not logged in to any registry.',
  allWithRegistry: '--all erases every registry\'s credentials: name no registry with it',
  removed: (registry: string) => `Removing login credentials for ${registry}.`,
  stillInContainersAuth: (path: string, registry: string) =>
    `Note: ${path} (containers auth file) still holds credentials for ${registry}; regshape never writes that file: use podman logout or skopeo logout`,
}

/** One registry's logout (whether anything was stored: the text says, the JSON does not), or --all's. */
export type LogoutResult = {registries: string[]; status: 'success'} | {registry: string; removed: boolean; status: 'success'}

export default class AuthLogout extends RegshapeCommand<typeof AuthLogout, LogoutResult> {
  /** `regshape logout`, as docker, oras, crane and regctl spell it. */
  static override aliases = ['logout']

  static override args = {registry: referenceArgs.registry()}

  static override description = `Erases the registry's credentials from the store that config.json selects for it (credHelpers, then credsStore, then its "auths" section), under the canonical key and its legacy spellings (https://host, http://host, host/path). Logging out when nothing is stored is not an error.

--all erases every stored login: each registry that "auths", "credHelpers" or the "credsStore" helper holds, as auth status lists them (Docker Hub's web-login pseudo-entries are not registries and stay).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> -r registry.example.com',
    '<%= config.bin %> --json <%= command.id %> -r registry.example.com',
    '<%= config.bin %> <%= command.id %> --all',
  ]

  static override flags = {
    all: Flags.boolean({description: 'Remove the credentials of every registry (as skopeo logout --all)'}),
    registry: Flags.string({char: 'r', description: 'Registry hostname'}),
  }

  static override summary = 'Remove persisted credentials for a registry'

  /** The one registry logged out of (not with --all), for the note that follows the result. */
  private loggedOut?: RegistryRef

  async run(): Promise<LogoutResult> {
    if (this.flags.all) {
      if (this.args.registry !== undefined || this.flags.registry !== undefined) throw new UsageError(messages.allWithRegistry)
      return this.logoutEverywhere()
    }

    const ref = parseRegistry(registryName(this.args.registry, this.flags.registry, 'auth logout'))
    const removed = await this.erase(ref.input)
    this.loggedOut = ref
    return {status: 'success', registry: ref.input, removed}
  }

  protected override renderText(result: LogoutResult): string {
    if ('registry' in result) return result.removed ? messages.removed(result.registry) : messages.notLoggedIn(result.registry)
    return result.registries.length === 0 ? messages.notLoggedInAnywhere : result.registries.map((registry) => messages.removed(terminalSafe(registry))).join('\n')
  }

  protected override renderJson(result: LogoutResult): JsonObject {
    return 'registry' in result ? {status: result.status, registry: result.registry} : result
  }

  protected override async afterResult(): Promise<void> {
    const ref = this.loggedOut
    if (!ref) return
    // The chain would still find a podman or skopeo login there: say so rather than let the user
    // believe they are logged out. Unreadable, it says nothing: the logout itself went well.
    const containersAuth = this.services.containersAuthFile?.()
    const leftOver = await containersAuth?.find(ref).catch(() => undefined)
    if (containersAuth && leftOver) process.stderr.write(`${terminalSafe(messages.stillInContainersAuth(containersAuth.path, ref.input))}\n`)
  }

  private async logoutEverywhere(): Promise<LogoutResult> {
    const listed = await this.failing(() => listStoredCredentials(this.services.credentialStore()))
    // A helper that could not list its entries would leave logins behind unseen: say so, erase nothing.
    const unreadable = listed.find((entry) => entry.error !== undefined)
    if (unreadable) throw new RegshapeError(messages.eraseFailed(unreadable.error as string))
    const removed: string[] = []
    for (const registry of new Set(listed.map((entry) => entry.registry))) if (await this.erase(registry)) removed.push(registry)
    return {status: 'success', registries: removed}
  }

  /** Erases one registry's credentials (canonical key and legacy spellings); whether any were there. */
  private async erase(registry: string): Promise<boolean> {
    const ref = parseRegistry(registry)
    return (await this.failing(() => this.services.credentialStore().erase(ref))).removed
  }

  private async failing<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (error instanceof CredentialHelperError || error instanceof DockerConfigError) {
        throw new RegshapeError(messages.eraseFailed(error.message), {cause: error})
      }

      throw error
    }
  }
}
