import {Flags} from '@oclif/core'
import {describeSource, NetworkError, parseRegistry, RegshapeCommand, RegshapeError, sourceJson} from '@regshape/sdk'

/**
 * `regshape example whoami -r REGISTRY`: which credentials regshape would use for a registry,
 * where they come from, and whether the registry takes them.
 *
 * Everything here comes from the SDK: the shared flags (--json, -u/-p, --docker-config,
 * --insecure, --ca-file, --timeout and the telemetry flags), the credential resolution chain,
 * the registry client, and the error and exit-code handling.
 */
export default class Whoami extends RegshapeCommand<typeof Whoami> {
  static override description = 'Resolves the credentials for a registry through regshape\'s chain (flags, credential helper, config file, anonymous), then sends GET /v2/ with them.'

  static override examples = ['<%= config.bin %> <%= command.id %> -r registry.example.com']

  static override flags = {
    registry: Flags.string({char: 'r', description: 'Registry hostname', required: true}),
  }

  static override summary = 'Show who you are on a registry'

  async run(): Promise<void> {
    const ref = parseRegistry(this.flags.registry)
    const {credentials, source} = await this.resolveCredentials(ref)
    const username = credentials?.username ?? (credentials?.identityToken ? '(identity token)' : 'anonymous')
    let status: number
    try {
      ;({status} = await this.step('ping', () => this.registryRequest(ref, {method: 'GET', path: '/v2/'})))
    } catch (error) {
      if (error instanceof NetworkError) throw new RegshapeError(`${ref.input} is not reachable: ${error.message}`, {cause: error})
      throw error
    }

    const accepted = status === 200
    this.emitResult(`${username} on ${ref.input}, from ${describeSource(source)}: ${accepted ? 'accepted' : `not accepted (HTTP ${status})`}`, {
      status: 'success',
      registry: ref.input,
      username: credentials?.username ?? null,
      source: sourceJson(source),
      accepted,
    })
  }
}
