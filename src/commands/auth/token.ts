import {Flags} from '@oclif/core'

import {referenceArgs, registryName} from '../../command/flags.js'

import {BreakModeCommand} from '../../command/break-command.js'
import {formatJson} from '../../util/text.js'
import {parseRegistry} from '../../reference/registry.js'
import {AuthenticationError, NetworkError, ProtocolError, RegshapeError, UsageError} from '../../errors.js'

/** Every message `auth token` prints. */
const messages = {
  badScope: 'invalid --scope: expected type:name:actions, e.g. repository:team/app:pull or registry:catalog:*',
  basic: (registry: string) => `${registry} uses Basic authentication: it has no token server to issue a token`,
  failed: (registry: string, reason: string) => `Could not get a token for ${registry}: ${reason}`,
  open: (registry: string) => `${registry} did not ask for credentials: it has no token server to issue a token`,
  rejected: (registry: string) => `${registry} refused the token`,
}

/** distribution's token scope grammar, loosely: `type[(class)]:name:action[,action...]`. */
const SCOPE = /^[a-z0-9]+(\([a-z0-9]+\))?:[^\s:]+(:\d+)?(\/[^\s:]+)*:[a-z*]+(,[a-z*]+)*$/

export default class AuthToken extends BreakModeCommand<typeof AuthToken> {
  static override args = {registry: referenceArgs.registry()}

  static override description = `Fetches a token from the registry's token server with the credentials the resolution chain yields for the registry (anonymous if none), as "crane auth token" does, and prints it on stdout: the bare token, or with --header an "Authorization: Bearer ..." line for curl -H. Under --json: the token, its lifetime and the scopes asked for. The token appears nowhere else (never in --debug-calls or an error).

Without --scope the token carries no rights beyond the registry's /v2/ endpoint. A registry that uses Basic authentication, or asks for no credentials, has no tokens to give: that is an error (exit 1).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com --scope repository:team/app:pull',
    'curl -H "$(<%= config.bin %> <%= command.id %> registry.example.com --header --scope repository:team/app:pull)" https://registry.example.com/v2/team/app/tags/list',
    '<%= config.bin %> --json <%= command.id %> -r registry.example.com --scope repository:team/app:pull,push --scope registry:catalog:*',
  ]

  static override flags = {
    header: Flags.boolean({char: 'H', description: 'Print an "Authorization: Bearer <token>" header line (crane auth token -H)'}),
    registry: Flags.string({char: 'r', description: 'Registry hostname (e.g., registry.example.com)'}),
    scope: Flags.string({
      description: 'Scope to ask for, type:name:actions (e.g. repository:team/app:pull,push); may be repeated',
      helpValue: 'SCOPE',
      multiple: true,
    }),
  }

  static override summary = 'Print a registry token for scripts'

  async run(): Promise<void> {
    const ref = parseRegistry(registryName(this.args.registry, this.flags.registry, 'auth token'))
    const scopes = this.flags.scope ?? []
    if (scopes.some((scope) => !SCOPE.test(scope))) throw new UsageError(messages.badScope)
    // Several scopes travel as several `scope` parameters of one token request (distribution's
    // token spec), space-separated in the OAuth2 form; one token then carries them all.
    const scope = scopes.length > 0 ? scopes.join(' ') : undefined
    const grant = await this.step('token', async () => {
      try {
        const client = await this.services.transport()
        const credentials = async () => (await this.resolveCredentials(ref)).credentials
        const response = await client.request(ref, {method: 'GET', path: '/v2/', scope}, credentials)
        const challenge = client.auth.knownChallenge(ref)
        if (!response.challenged || !challenge) throw new RegshapeError(messages.open(ref.input))
        if (challenge.scheme === 'basic') throw new RegshapeError(messages.basic(ref.input))
        if (response.status === 401) throw new AuthenticationError('authentication rejected')
        if (response.status !== 200) throw new ProtocolError(`${client.registryUrl(ref, '/v2/')} answered HTTP ${response.status}`)
        const held = await credentials()
        // The /v2/ request above fetched it: this is the cached grant, not a second request.
        if (held?.registryToken) return {expiresIn: undefined, token: held.registryToken}
        const {expiresAt, token} = await client.auth.token(challenge, ref, scope ?? challenge.params.scope, held)
        return {expiresIn: Math.max(0, Math.round((expiresAt - Date.now()) / 1000)), token}
      } catch (error) {
        if (error instanceof NetworkError || error instanceof AuthenticationError || error instanceof ProtocolError) {
          throw new RegshapeError(messages.failed(ref.input, error.message), {cause: error})
        }

        throw error
      }
    })

    // Written as it is, asked for by name: emitResult's scrubbing is for secrets nobody asked to see.
    const json = {status: 'success', registry: ref.input, token: grant.token, expires_in: grant.expiresIn, scopes}
    const line = this.jsonMode
      ? // Under --break, the changed requests go in the same document, as emitResult puts them.
        formatJson(this.breakSession ? {result: json, mutations: this.breakSession.events} : json)
      : this.flags.header
        ? `Authorization: Bearer ${grant.token}`
        : grant.token
    process.stdout.write(`${line}\n`)
  }
}
