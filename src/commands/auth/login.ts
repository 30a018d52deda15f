import {Flags} from '@oclif/core'

import {referenceArgs, registryName} from '../../command/flags.js'

import {BreakModeCommand} from '../../command/break-command.js'
import {terminalSafe} from '../../util/text.js'
import {type RegistryRef, parseRegistry} from '../../reference/registry.js'
import {IDENTITY_TOKEN_USERNAME, type NewCredentials} from '../../credentials/credential-store.js'

import {AuthenticationError, InputError, NetworkError, ProtocolError, RegshapeError, UsageError} from '../../errors.js'
import {rememberCredentials} from '../../util/secrets.js'
import {type Action, checkScope, parseRepository, verifyCredentials} from '../../workflows/login.js'
import {readSecretFromStdin} from '../../command/prompt.js'

/** Every message `auth login` prints, worded as the specification gives them. */
const messages = {
  colonInUsername: 'a username cannot contain ":" (config.json\'s "auth" field splits at the first colon)',
  emptyIdentityToken: 'identity token is empty',
  emptyPassword: 'password is empty',
  emptyUsername: 'username is empty',
  granted: (repository: string, actions: string[]) => `Granted on ${repository}: ${actions.length > 0 ? actions.join(', ') : 'nothing'}`,
  identityTokenConflict: '--identity-token and --identity-token-stdin cannot be used together',
  identityTokenOnCommandLine: 'WARNING! Using --identity-token via the CLI is insecure. Use --identity-token-stdin.',
  identityTokenWithPassword: 'an identity token replaces the password: do not combine it with --password or --password-stdin',
  notGranted: (repository: string, missing: string[]) => `${missing.join(' and ')} on ${repository} was requested but not granted`,
  unchecked: (repository: string, actions: string[]) =>
    `WARNING! ${actions.join(', ')} on ${repository} could not be checked: the registry's token is not a JWT that lists its grants.`,
  loginFailed: (registry: string, reason: string) => `Login failed for ${registry}: ${reason}`,
  noTerminal: 'cannot prompt for credentials: standard input is not a terminal (pass --username with --password-stdin)',
  noTerminalForUsername: '--password-stdin needs --username when there is no terminal to prompt on',
  passwordConflict: '--password and --password-stdin cannot be used together',
  passwordPrompt: (registry: string) => `Password for ${registry}:`,
  readingStdin: 'Reading the password from standard input; end it with Ctrl-D.',
  storeFailed: (reason: string) => `Could not store credentials: ${reason}`,
  succeeded: 'Login succeeded.',
  unverified: (registry: string) =>
    `WARNING! ${registry} did not ask for credentials, so they could not be verified. They were stored anyway.`,
  usernamePrompt: (registry: string, stored: string | undefined) => `Username for ${registry}${stored === undefined ? '' : ` (${terminalSafe(stored)})`}:`,
}

export interface LoginResult {
  status: 'success'
  registry: string
  /** false when the registry never asked for the credentials (absent when they were verified). */
  verified: false | undefined
  /** With --repository and --scope: the rights asked for, and what the token server granted. */
  scope: undefined | {repository: string; requested: Action[]; granted: Action[]; unchecked: Action[]}
}

export default class AuthLogin extends BreakModeCommand<typeof AuthLogin, LoginResult> {
  /** `regshape login`, as docker, oras, crane and regctl spell it. */
  static override aliases = ['login']

  static override args = {registry: referenceArgs.registry()}

  static override description = `Verifies the credentials against the registry first (GET /v2/, then its Basic or Bearer challenge), then stores them: through the credential helper that config.json selects (credHelpers, then credsStore), else base64-encoded in its "auths" section.

A missing username or password is prompted for, the password hidden. Without a terminal, pass --username with --password-stdin.

An identity token (an OAuth2 refresh token, as "az acr login" and docker's web login produce) is verified with the token server's refresh grant and stored as "identitytoken" beside docker's "auth" of the username (--username, else <token>) and an empty password, so skopeo and podman read it too; or through the helper under the username <token>.

With --repository and --scope, login also asks the token server for pull (or pull and push) rights on that repository, reports what was granted, and fails, storing nothing, if a requested right is refused.`

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
    'identity-token': Flags.string({description: 'Log in with an identity (OAuth2 refresh) token instead of a password'}),
    'identity-token-stdin': Flags.boolean({description: 'Read an identity (OAuth2 refresh) token from stdin'}),
    'password-stdin': Flags.boolean({description: 'Read password from stdin instead of prompting'}),
    registry: Flags.string({char: 'r', description: 'Registry hostname (e.g., registry.example.com)'}),
    repository: Flags.string({description: 'Also check the token\'s rights on this repository (with --scope)', helpValue: 'REPO'}),
    scope: Flags.string({
      dependsOn: ['repository'],
      description: 'Rights to check on --repository: pull, or push (pull and push); login fails if they are not granted',
      options: ['pull', 'push'],
    }),
  }

  static override summary = 'Authenticate against a registry and persist credentials'

  async run(): Promise<LoginResult> {
    const {actions, credentials, ref, repository} = await this.step('resolve input', async () => {
      const ref = parseRegistry(registryName(this.args.registry, this.flags.registry, 'auth login'))
      const repository = this.flags.repository === undefined ? undefined : parseRepository(this.flags.repository)
      const actions: Action[] = this.flags.scope === 'push' ? ['pull', 'push'] : ['pull']
      // A config we could not write back must stop us before a password is sent anywhere.
      await this.services.credentialStore().locate(ref)
      const credentials = await this.readCredentials(ref)
      // Typed, piped or prompted: from here on no output may show them, whatever echoes them.
      rememberCredentials(credentials)
      return {actions, credentials, ref, repository}
    })

    const {scope, verified} = await this.step('verify', async () => {
      try {
        const client = await this.step('start http client', () => this.services.transport())
        const {verified} = await verifyCredentials(client, ref, credentials)
        const scope = repository ? await checkScope(client, ref, credentials, repository, actions) : undefined
        return {scope, verified}
      } catch (error) {
        if (error instanceof NetworkError || error instanceof AuthenticationError || error instanceof ProtocolError) {
          throw new RegshapeError(messages.loginFailed(ref.input, error.message), {cause: error})
        }

        throw error
      }
    })

    if (scope) {
      const missing = scope.requested.filter((action) => !scope.granted.includes(action) && !scope.unknown.includes(action))
      if (missing.length > 0) throw new RegshapeError(messages.loginFailed(ref.input, messages.notGranted(scope.repository, missing)))
      if (scope.unknown.length > 0) this.warning(messages.unchecked(scope.repository, scope.unknown))
    }

    if (!verified) this.warning(messages.unverified(ref.input))
    await this.step('persist', async () => {
      try {
        await this.services.credentialStore().store(ref, credentials)
      } catch (error) {
        throw new RegshapeError(messages.storeFailed(error instanceof Error ? error.message : String(error)), {cause: error})
      }
    })

    // Key order is part of the output: the spec's two keys first.
    return {
      status: 'success',
      registry: ref.input,
      verified: verified ? undefined : false,
      scope: scope && {repository: scope.repository, requested: scope.requested, granted: scope.granted, unchecked: scope.unknown},
    }
  }

  protected override renderText(result: LoginResult): string {
    const {scope} = result
    return scope ? `${messages.granted(scope.repository, scope.granted)}\n${messages.succeeded}` : messages.succeeded
  }

  /** From flags, stdin or prompts, never hanging where no one can answer. */
  private async readCredentials(ref: RegistryRef): Promise<NewCredentials> {
    const {password: passwordFlag, 'password-stdin': passwordStdin, username: usernameFlag} = this.flags
    const {'identity-token': tokenFlag, 'identity-token-stdin': tokenStdin} = this.flags
    if (tokenFlag !== undefined || tokenStdin) {
      if (tokenFlag !== undefined && tokenStdin) throw new UsageError(messages.identityTokenConflict)
      if (passwordStdin || passwordFlag !== undefined) throw new UsageError(messages.identityTokenWithPassword)
      if (usernameFlag === '') throw new InputError(messages.emptyUsername)
      if (usernameFlag?.includes(':')) throw new InputError(messages.colonInUsername)
      if (tokenFlag !== undefined) this.warning(messages.identityTokenOnCommandLine)
      const identityToken = tokenFlag ?? (await readSecretFromStdin())
      if (identityToken.trim() === '') throw new InputError(messages.emptyIdentityToken)
      // The username the token was issued to, recorded as docker does (auth: base64("user:")).
      return usernameFlag === undefined ? {identityToken} : {identityToken, username: usernameFlag}
    }

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
      const missing = username === undefined || passwordFlag === undefined
      if (missing && !prompter.stdinIsInteractive()) throw new InputError(messages.noTerminal)
      username ??= await this.askUsername(ref, false)
      password = passwordFlag ?? (await prompter.ask(messages.passwordPrompt(ref.input), {hidden: true}))
    }

    if (password.trim() === '') throw new InputError(messages.emptyPassword)
    return {password, username: username as string}
  }

  /** Docker's prompt: the username already stored for the registry is offered, and Enter takes it. */
  private async askUsername(ref: RegistryRef, onTerminal: boolean): Promise<string> {
    const stored = await this.storedUsername(ref)
    const answer = (await this.services.prompter().ask(messages.usernamePrompt(ref.input, stored), {onTerminal})).trim()
    if (answer === '' && stored !== undefined) return stored
    if (answer === '') throw new InputError(messages.emptyUsername)
    return answer
  }

  /** Only an offer: a store that cannot be read now will say so when the login is stored. */
  private async storedUsername(ref: RegistryRef): Promise<string | undefined> {
    try {
      const {credentials} = await this.services.credentialStore().get(ref)
      // An identity token's stand-in username is no username to offer for a password.
      if (credentials?.username === IDENTITY_TOKEN_USERNAME) return undefined
      return credentials?.username || undefined
    } catch {
      return undefined
    }
  }
}
