import {Flags} from '@oclif/core'

import {RegshapeCommand} from '../../base-command.js'
import {parseRegistry} from '../../services/credentials/registry-name.js'
import {CredentialHelperError, DockerConfigError, RegshapeError} from '../../services/errors.js'

/** Every message `auth logout` prints, worded as the specification gives them. */
const messages = {
  eraseFailed: (reason: string) => `Could not remove credentials: ${reason}`,
  notLoggedIn: (registry: string) => `Not logged in to ${registry}.`,
  removed: (registry: string) => `Removing login credentials for ${registry}.`,
}

export default class AuthLogout extends RegshapeCommand<typeof AuthLogout> {
  static override description = `Erases the registry's credentials from the store that config.json selects for it (credHelpers, then credsStore, then its "auths" section), under the canonical key and its legacy spellings (https://host, http://host, host/path). Logging out when nothing is stored is not an error.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> -r registry.example.com',
    '<%= config.bin %> --json <%= command.id %> -r registry.example.com',
  ]

  static override flags = {
    registry: Flags.string({char: 'r', description: 'Registry hostname', required: true}),
  }

  static override summary = 'Remove persisted credentials for a registry'

  async run(): Promise<void> {
    const ref = parseRegistry(this.flags.registry)
    let removed: boolean
    try {
      ;({removed} = await this.services.credentialStore().erase(ref))
    } catch (error) {
      if (error instanceof CredentialHelperError || error instanceof DockerConfigError) {
        throw new RegshapeError(messages.eraseFailed(error.message), {cause: error})
      }

      throw error
    }

    this.emitResult(removed ? messages.removed(ref.input) : messages.notLoggedIn(ref.input), {status: 'success', registry: ref.input})
  }
}
