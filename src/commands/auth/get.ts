import {RegshapeCommand} from '../../command/base-command.js'
import {referenceArgs} from '../../command/flags.js'
import {parseRegistry} from '../../reference/registry.js'
import {IDENTITY_TOKEN_USERNAME} from '../../credentials/credential-store.js'
import {InputError, RegshapeError, UsageError} from '../../errors.js'
import {readSecretFromStdin} from '../../command/prompt.js'

/**
 * Set while `auth get` resolves credentials: a config that names regshape itself as a credential
 * helper would otherwise have docker-credential-regshape start regshape again, without end.
 */
const LOOP_GUARD = 'REGSHAPE_AUTH_GET'

/** Every message `auth get` prints. */
const messages = {
  loop: 'a credential helper loop: the config regshape reads names docker-credential-regshape as the helper for this registry',
  // The exact text docker-credential-helpers' clients recognise as "not found" (credentials.IsErrCredentialsNotFoundMessage).
  notFound: 'credentials not found in native keychain',
  onTerminal: 'auth get reads a server URL on standard input, as a credential helper does: pipe one in, or give the registry as the argument',
  registryToken: (registry: string) => `the credential for ${registry} is a registry token, which the credential-helper protocol cannot carry`,
}

export default class AuthGet extends RegshapeCommand<typeof AuthGet> {
  static override args = {registry: referenceArgs.registry('Registry hostname, host[:port] (instead of standard input)')}

  static override description = `Speaks the "get" verb of the docker credential-helper protocol, as "crane auth get" does: reads a server URL on standard input (or takes it as the argument), resolves credentials for it through regshape's chain, and prints {"ServerURL","Username","Secret"} as one JSON line on stdout. An identity token comes back as the username <token>, as helpers store it. Nothing stored: "credentials not found in native keychain" on stdout and exit 1, as the protocol has it.

With a docker-credential-regshape script on PATH that runs "regshape auth get", docker, skopeo and podman can take their credentials from regshape (credHelpers: {"registry.example.com": "regshape"}). The secret is printed on stdout only, because it was asked for.`

  static override examples = [
    'echo registry.example.com | <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> registry.example.com',
  ]

  static override summary = 'Print stored credentials as a docker credential helper does (crane auth get)'

  async run(): Promise<void> {
    if (process.env[LOOP_GUARD]) throw new RegshapeError(messages.loop)
    process.env[LOOP_GUARD] = '1'
    const input = this.args.registry ?? (await this.serverUrlFromStdin())
    const ref = parseRegistry(input)
    const {credentials} = await this.resolveCredentials(ref)
    if (credentials?.registryToken) throw new RegshapeError(messages.registryToken(ref.input))
    if (!credentials || !(credentials.identityToken || credentials.username)) {
      // The protocol's answer goes to stdout, where the client reads it.
      process.stdout.write(`${messages.notFound}\n`)
      this.exitWith(1)
    }

    const [username, secret] = credentials.identityToken ? [IDENTITY_TOKEN_USERNAME, credentials.identityToken] : [credentials.username, credentials.password ?? '']
    // Written as it is, asked for by name: emitResult's scrubbing would mask a helper's secret.
    process.stdout.write(`${JSON.stringify({ServerURL: input, Username: username, Secret: secret})}\n`)
  }

  private async serverUrlFromStdin(): Promise<string> {
    if (process.stdin.isTTY) throw new UsageError(messages.onTerminal)
    const text = (await readSecretFromStdin(process.stdin, 4096)).trim()
    if (text === '') throw new InputError('no server URL on standard input')
    return text
  }
}
