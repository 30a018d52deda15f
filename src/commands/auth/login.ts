import {Flags} from '@oclif/core'

import {RegshapeCommand} from '../../base-command.js'
import {type RegistryRef, parseRegistry} from '../../services/credentials/registry-name.js'
import {AuthenticationError, InputError, NetworkError, ProtocolError, RegshapeError, UsageError} from '../../services/errors.js'
import {verifyCredentials} from '../../services/login.js'
import {readSecretFromStdin} from '../../services/prompt.js'

/** Every message `auth login` prints, worded as the specification gives them. */
const messages = {
  emptyPassword: 'password is empty',
  emptyUsername: 'username is empty',
  loginFailed: (registry: string, reason: string) => `Login failed for ${registry}: ${reason}`,
  noTerminal: 'cannot prompt for credentials: standard input is not a terminal (pass --username with --password-stdin)',
  noTerminalForUsername: '--password-stdin needs --username when there is no terminal to prompt on',
  passwordConflict: '--password and --password-stdin cannot be used together',
  passwordOnCommandLine: 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.',
  passwordPrompt: (registry: string) => `Password for ${registry}:`,
  readingStdin: 'Reading the password from standard input; end it with Ctrl-D.',
  storeFailed: (reason: string) => `Could not store credentials: ${reason}`,
  succeeded: 'Login succeeded.',
  unverified: (registry: string) =>
    `WARNING! ${registry} did not ask for credentials, so they could not be verified. They were stored anyway.`,
  usernamePrompt: (registry: string) => `Username for ${registry}:`,
}

export default class AuthLogin extends RegshapeCommand<typeof AuthLogin> {
  static override description = `Verifies the credentials against the registry first (GET /v2/, then its Basic or Bearer challenge), then stores them: through the credential helper that config.json selects (credHelpers, then credsStore), else base64-encoded in its "auths" section.

A missing username or password is prompted for, the password hidden. Without a terminal, pass --username with --password-stdin.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> -r registry.example.com', description: 'Interactive prompt for credentials'},
    {command: '<%= config.bin %> <%= command.id %> -r registry.example.com -u alice -p s3cr3t', description: 'Explicit credentials'},
    {
      command: 'echo "$MY_TOKEN" | <%= config.bin %> <%= command.id %> -r registry.example.com -u alice --password-stdin',
      description: 'Read password from stdin (e.g., from a secrets manager)',
    },
    {command: '<%= config.bin %> --json <%= command.id %> -r registry.example.com -u alice -p s3cr3t', description: 'JSON output'},
    {
      command: '<%= config.bin %> <%= command.id %> -r registry.example.com --time-scenarios --debug-calls',
      description: 'Telemetry: log scenario timing and HTTP call details',
    },
  ]

  static override flags = {
    'password-stdin': Flags.boolean({description: 'Read password from stdin instead of prompting'}),
    registry: Flags.string({char: 'r', description: 'Registry hostname (e.g., registry.example.com)', required: true}),
  }

  static override summary = 'Authenticate against a registry and persist credentials'

  async run(): Promise<void> {
    const ref = parseRegistry(this.flags.registry)
    const store = this.services.credentialStore()
    // A config we could not write back must stop us before a password is sent anywhere.
    await store.locate(ref)
    const credentials = await this.readCredentials(ref)

    let verified: boolean
    try {
      const client = await this.services.registryClient()
      ;({verified} = await verifyCredentials(client, ref, credentials))
    } catch (error) {
      if (error instanceof NetworkError || error instanceof AuthenticationError || error instanceof ProtocolError) {
        throw new RegshapeError(messages.loginFailed(ref.input, error.message), {cause: error})
      }

      throw error
    }

    if (!verified) this.warning(messages.unverified(ref.input))
    try {
      await store.store(ref, credentials)
    } catch (error) {
      throw new RegshapeError(messages.storeFailed(error instanceof Error ? error.message : String(error)), {cause: error})
    }

    this.emitResult(messages.succeeded, verified ? {status: 'success', registry: ref.input} : {status: 'success', registry: ref.input, verified: false})
  }

  /** From flags, stdin or prompts, never hanging where no one can answer. */
  private async readCredentials(ref: RegistryRef): Promise<{password: string; username: string}> {
    const {password: passwordFlag, 'password-stdin': passwordStdin, username: usernameFlag} = this.flags
    if (passwordStdin && passwordFlag !== undefined) throw new UsageError(messages.passwordConflict)
    if (usernameFlag === '') throw new InputError(messages.emptyUsername)
    const prompter = this.services.prompter()
    let username = usernameFlag

    let password: string
    if (passwordStdin) {
      if (username === undefined) {
        // stdin carries the password, so the question goes to the terminal itself.
        if (prompter.stdinIsInteractive()) username = await this.askUsername(ref, false)
        else if (prompter.terminalAvailable()) username = await this.askUsername(ref, true)
        else throw new InputError(messages.noTerminalForUsername)
      }

      if (prompter.stdinIsInteractive()) this.warning(messages.readingStdin)
      password = await readSecretFromStdin()
    } else {
      if (passwordFlag !== undefined) this.warning(messages.passwordOnCommandLine)
      const missing = username === undefined || passwordFlag === undefined
      if (missing && !prompter.stdinIsInteractive()) throw new InputError(messages.noTerminal)
      username ??= await this.askUsername(ref, false)
      password = passwordFlag ?? (await prompter.ask(messages.passwordPrompt(ref.input), {hidden: true}))
    }

    if (password.trim() === '') throw new InputError(messages.emptyPassword)
    return {password, username: username as string}
  }

  private async askUsername(ref: RegistryRef, onTerminal: boolean): Promise<string> {
    const answer = (await this.services.prompter().ask(messages.usernamePrompt(ref.input), {onTerminal})).trim()
    if (answer === '') throw new InputError(messages.emptyUsername)
    return answer
  }
}
