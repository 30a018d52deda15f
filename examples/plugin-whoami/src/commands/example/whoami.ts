import {Flags} from '@oclif/core'
import {type CredentialSource, describeSource, type JsonObject, NetworkError, parseRegistry, RegshapeCommand, RegshapeError, sourceJson} from '@regshape/sdk'

/** What whoami found: run() returns it, and regshape prints it as text or as the --json object. */
interface WhoamiResult {
  registry: string
  username?: string
  identityToken: boolean
  source: CredentialSource
  httpStatus: number
}

/**
 * `regshape example whoami -r REGISTRY`: which credentials regshape would use for a registry,
 * where they come from, and whether the registry takes them.
 *
 * Everything here comes from the SDK: the shared flags (--json, -u/-p, --docker-config,
 * --insecure, --ca-file, --timeout and the telemetry flags), the credential resolution chain,
 * the registry client, the output of the result, and the error and exit-code handling.
 */
export default class Whoami extends RegshapeCommand<typeof Whoami, WhoamiResult> {
  static override description = 'Resolves the credentials for a registry through regshape\'s chain (flags, credential helper, config file, anonymous), then sends GET /v2/ with them.'

  static override examples = ['<%= config.bin %> <%= command.id %> -r registry.example.com']

  static override flags = {
    registry: Flags.string({char: 'r', description: 'Registry hostname', required: true}),
  }

  static override summary = 'Show who you are on a registry'

  async run(): Promise<WhoamiResult> {
    const ref = parseRegistry(this.flags.registry)
    const {credentials, source} = await this.resolveCredentials(ref)
    let status: number
    try {
      ;({status} = await this.step('ping', () => this.registryRequest(ref, {method: 'GET', path: '/v2/'})))
    } catch (error) {
      if (error instanceof NetworkError) throw new RegshapeError(`${ref.input} is not reachable: ${error.message}`, {cause: error})
      throw error
    }

    return {registry: ref.input, username: credentials?.username, identityToken: Boolean(credentials?.identityToken), source, httpStatus: status}
  }

  /** The result for people. */
  protected override renderText(result: WhoamiResult): string {
    const who = result.username ?? (result.identityToken ? '(identity token)' : 'anonymous')
    const answer = result.httpStatus === 200 ? 'accepted' : `not accepted (HTTP ${result.httpStatus})`
    return `${who} on ${result.registry}, from ${describeSource(result.source)}: ${answer}`
  }

  /** The result under --json (without this method, the result itself). */
  protected override renderJson(result: WhoamiResult): JsonObject {
    return {
      status: 'success',
      registry: result.registry,
      username: result.username ?? null,
      source: sourceJson(result.source),
      accepted: result.httpStatus === 200,
    }
  }
}
