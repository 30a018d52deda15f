import {Command, Errors, Flags, Interfaces} from '@oclif/core'

import {writeFileSync} from 'node:fs'

import type {BreakStage} from '../break/session.js'
import type {RegistryRef} from '../reference/registry.js'
import type {ResolvedCredentials} from '../credentials/resolve.js'
import type {Telemetry} from '../telemetry/telemetry.js'
import {NO_TRACER} from '../telemetry/tracer.js'
import type {RegistryRequest, RegistryResponse} from '../transport/transport.js'

import {formatJson, terminalSafe, terminalSafeJson} from '../util/text.js'
import {ExitCode, RegshapeError, UsageError, describeError} from '../errors.js'
import {type Services, createServices} from './services.js'
import {MASK, rememberCredentials, scrubSecrets, scrubValues} from '../util/secrets.js'

/**
 * The base of every regshape command, the CLI's own and plugins' alike: the shared (GLOBAL) flags,
 * services built lazily from them, the human/JSON output contract, and the single mapping from an
 * error to a message and an exit code.
 *
 * A command's run() returns its result, of type R (the shape of its --json object); the base
 * prints it in one place, as renderText() or renderJson() gives it. A command that writes its
 * output itself (a blob's bytes, a credential helper's answer) has R = void and returns nothing.
 */

export type RegshapeFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof RegshapeCommand)['baseFlags'] & T['flags']>
export type RegshapeArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export type JsonObject = Record<string, unknown>

export abstract class RegshapeCommand<T extends typeof Command, R = void> extends Command {
  static override baseFlags = {
    'ca-file': Flags.string({
      description: 'PEM file of CA certificates to trust, in addition to the system ones, for the registry and its token server',
      helpGroup: 'GLOBAL',
      helpValue: 'PATH',
    }),
    'debug-calls': Flags.boolean({description: 'Print request/response headers for each HTTP call (secrets masked)', helpGroup: 'GLOBAL'}),
    'docker-config': Flags.string({
      description: 'Alternate Docker config file path (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json)',
      helpGroup: 'GLOBAL',
      helpValue: 'PATH',
    }),
    insecure: Flags.boolean({description: 'Allow plain HTTP and skip TLS certificate verification', helpGroup: 'GLOBAL'}),
    json: Flags.boolean({description: 'Print the result, or the error, as one JSON object on stdout', helpGroup: 'GLOBAL'}),
    password: Flags.string({
      char: 'p',
      description: 'Password (visible to other users of this machine: prefer --password-stdin or the prompt)',
      helpGroup: 'GLOBAL',
    }),
    retries: Flags.custom<number>({
      default: 3,
      description: 'Retry a registry request that met 429, 502, 503, 504 or a reset connection this many times (0: never), when it is safe to repeat',
      helpGroup: 'GLOBAL',
      helpValue: 'N',
      async parse(input) {
        // The value is not quoted: a value in the wrong place may be a secret (see parseErrorMessage).
        if (!/^\d{1,3}$/.test(input) || Number(input) > 100) throw new Error('--retries expects a whole number from 0 to 100')
        return Number(input)
      },
    })(),
    'time-methods': Flags.boolean({description: 'Print execution time for individual method calls', helpGroup: 'GLOBAL'}),
    timeout: Flags.custom<number>({
      default: 30,
      description: 'Give up on connecting, on a wait for the next bytes of a registry transfer, or on a credential helper run, after this many seconds',
      helpGroup: 'GLOBAL',
      helpValue: 'SECONDS',
      async parse(input) {
        // Plain decimal numbers only: Number() would also take "0x10", " 5" and "Infinity".
        const seconds = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(input) ? Number(input) : Number.NaN
        // The value is not quoted: a value in the wrong place may be a secret (see parseErrorMessage).
        if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('--timeout expects a positive number of seconds')
        // Node's timers hold at most 2^31-1 ms (about 24.8 days) and fire at once, with a
        // TimeoutOverflowWarning, beyond it; longer waits mean "no limit" in practice, so they are
        // capped at the whole seconds that fit.
        return Math.min(seconds, Math.floor((2 ** 31 - 1) / 1000))
      },
    })(),
    'time-scenarios': Flags.boolean({description: 'Print execution time for multi-step workflows', helpGroup: 'GLOBAL'}),
    username: Flags.string({char: 'u', description: 'Username', helpGroup: 'GLOBAL'}),
  }

  static override enableJsonFlag = false

  protected args!: RegshapeArgs<T>
  /** Break mode's rules, when a command set them up (registry commands, --break). */
  protected breakStage?: BreakStage
  protected flags!: RegshapeFlags<T>
  private builtServices?: Services
  private telemetry?: Telemetry

  /** Services for this run, built on first use from the shared flags. */
  protected get services(): Services {
    this.builtServices ??= createServices({
      breakStage: this.breakStage,
      caFile: this.flags['ca-file'],
      dockerConfig: this.flags['docker-config'],
      env: process.env,
      insecure: this.flags.insecure,
      password: this.flags.password,
      retries: this.flags.retries,
      timeoutMs: this.flags.timeout * 1000,
      tracer: this.telemetry,
      userAgent: this.config.userAgent,
      username: this.flags.username,
    })
    return this.builtServices
  }

  /**
   * Times one step of this command's workflow for --time-scenarios (steps nest); without the flag
   * it just runs the step.
   */
  protected step<R>(name: string, operation: () => Promise<R>): Promise<R> {
    return (this.telemetry ?? NO_TRACER).step(name, operation)
  }

  /** The credentials the resolution chain yields for a registry, with their source. */
  protected resolveCredentials(ref: RegistryRef): Promise<ResolvedCredentials> {
    return this.services.credentialResolver().resolve(ref)
  }

  /**
   * A request to a registry's API with the resolved credentials, which are looked up only if the
   * registry asks for them (a public registry never wakes a credential helper).
   */
  protected async registryRequest(ref: RegistryRef, request: RegistryRequest): Promise<RegistryResponse> {
    const client = await this.services.transport()
    return client.request(ref, request, async () => (await this.resolveCredentials(ref)).credentials)
  }

  /** Whether output is JSON; works even when flag parsing failed. */
  protected get jsonMode(): boolean {
    return this.flags ? this.flags.json : this.argv.includes('--json')
  }

  override async init(): Promise<void> {
    await super.init()
    let parsed
    try {
      parsed = await this.parse({
        args: this.ctor.args,
        baseFlags: this.ctor.baseFlags,
        enableJsonFlag: false,
        flags: this.ctor.flags,
        strict: this.ctor.strict,
      })
    } catch (error) {
      // Whatever fails while reading the command line is a usage error, whichever class oclif used.
      const defined = Object.keys({...this.ctor.baseFlags, ...this.ctor.flags})
      throw new UsageError(parseErrorMessage(error as Error, this.argv, defined))
    }

    const {args, flags} = parsed
    this.flags = flags as RegshapeFlags<T>
    this.args = args as RegshapeArgs<T>
    rememberCredentials({password: this.flags.password, username: this.flags.username})
    // Docker's warning, for every command: argv is visible to other users through ps and /proc.
    if (this.flags.password !== undefined) this.warning('WARNING! Using --password via the CLI is insecure. Use --password-stdin.')
    const {'debug-calls': calls, json, 'time-methods': methods, 'time-scenarios': scenarios} = this.flags
    if (calls || methods || scenarios) {
      // Loaded only when asked for: without these flags no telemetry code runs or is even read.
      const {Telemetry} = await import('../telemetry/telemetry.js')
      const write = (line: string) => process.stderr.write(`${line}\n`)
      this.telemetry = new Telemetry({calls, json, methods, scenarios, write}, (this.id ?? this.ctor.id ?? 'regshape').replaceAll(':', ' '))
    }
  }

  /** The command's work; what it returns is its result, printed by the base (see printResult). */
  abstract override run(): Promise<R>

  /**
   * oclif's _run (init, run, catch, finally), with the result printed as soon as run() returns:
   * inside the same try, so that a result that cannot be written (-o FILE) fails the command as
   * any error does, and before finally(), so that telemetry's summary still follows it. oclif's
   * own _run does the rest, as it does for any command.
   */
  protected override _run<U>(): Promise<U> {
    const run = this.run.bind(this)
    this.run = async () => {
      const result = await run()
      // undefined: nothing to print (R = void, or a command that wrote its output itself).
      if (result !== undefined) {
        this.printResult(result)
        await this.afterResult(result)
      }

      return result
    }

    return super._run<U>()
  }

  /**
   * A result as text for people. By default its JSON form, indented, escaped for the terminal:
   * what the commands that print metadata (blob head, manifest descriptor) show.
   */
  protected renderText(result: R): string {
    return terminalSafeJson(JSON.stringify(this.renderJson(result), null, 2))
  }

  /** A result as its --json object: the result itself, unless the command shapes it. */
  protected renderJson(result: R): JsonObject {
    return result as JsonObject
  }

  /** A file that takes the result instead of stdout (a command's `-o FILE`); none by default. */
  protected outputFile(): string | undefined {
    return undefined
  }

  /** What follows a printed result: a note on stderr, or an exit code the result calls for. */
  protected async afterResult(_result: R): Promise<void> {}

  /**
   * Prints one result now. run()'s result comes here; a command with several (layout push, one
   * per manifest) hands each earlier one in as soon as it is ready, so a later failure cannot
   * lose it.
   */
  protected printResult(result: R): void {
    this.emitResult(this.renderText(result), this.renderJson(result))
  }

  /**
   * The one place a result is printed: the human text, or the JSON object under --json, to stdout
   * or to outputFile(). Typed results reach it through printResult; a plugin may call it directly.
   */
  protected emitResult(human: string, json: JsonObject): void {
    const file = this.outputFile()
    // An empty text (an empty list) prints nothing, not an empty line: `| wc -l` counts 0, and a
    // file named by -o is still written, empty.
    if (!this.jsonMode && human === '') {
      if (file !== undefined) writeResultFile(file, '')
      return
    }

    // The last net: no output carries a secret this run has held (commands escape what they print
    // of outside text themselves, field by field, since the human form has its own line breaks).
    // In JSON only the values are scrubbed: a secret that happens to spell a key must not break the shape.
    const text = `${this.jsonMode ? formatJson(scrubValues(json)) : scrubSecrets(human)}\n`
    if (file === undefined) process.stdout.write(text)
    else writeResultFile(file, text)
  }

  /** A warning for people; on stderr in both modes, so JSON on stdout stays parseable. */
  protected warning(message: string): void {
    process.stderr.write(`${terminalSafe(scrubSecrets(message))}\n`)
  }

  /**
   * The registry named on the command line, for error output; the caller strips any userinfo (see
   * registryWithoutUserinfo), so an override may return what it was given.
   */
  protected registryForOutput(): string | undefined {
    const fromFlags = (this.flags as undefined | {registry?: string})?.registry
    if (fromFlags !== undefined) return fromFlags
    const fromArgs = (this.args as undefined | {registry?: string})?.registry
    if (fromArgs !== undefined) return fromArgs
    for (let i = 0; i < this.argv.length; i++) {
      const arg = this.argv[i]
      if (arg === '-r' || arg === '--registry') return this.argv[i + 1]
      if (arg.startsWith('--registry=')) return arg.slice('--registry='.length)
      if (arg.startsWith('-r') && arg.length > 2) return arg.slice(2)
    }

    return undefined
  }

  /**
   * Ends the command with an exit code, silently. The error is marked for oclif's handler to skip:
   * in a plugin, this code's @oclif/core is not the host's, so the host cannot recognise our
   * ExitError by its class.
   */
  protected exitWith(code: number): never {
    const exit = new Errors.ExitError(code) as Errors.ExitError & {skipOclifErrorHandling?: boolean}
    exit.skipOclifErrorHandling = true
    throw exit
  }

  override async catch(error: Error & {code?: string; oclif?: {exit?: number}}): Promise<void> {
    if (error.code === 'EEXIT' && error.oclif?.exit !== undefined) throw error
    // The workflow's timings first, so the error stays the last line a person reads.
    this.telemetry?.finish(false)
    const {exitCode, message} = userFacing(error)
    if (this.jsonMode) {
      const registry = this.registryForOutput()
      process.stdout.write(`${formatJson(scrubValues({status: 'error', registry: registry === undefined ? undefined : registryWithoutUserinfo(registry), error: message}))}\n`)
    } else {
      // An error's text quotes helpers, config keys, registries and what a registry answered:
      // scrubbed of secrets (a registry may echo credentials) and escaped for the terminal.
      process.stderr.write(`Error: ${terminalSafe(scrubSecrets(message))}\n`)
    }

    this.exitWith(exitCode)
  }

  override async finally(error: Error | undefined): Promise<void> {
    await this.builtServices?.close()
    this.telemetry?.finish(error === undefined)
    await super.finally(error)
  }
}

/** Output written whole to a file the user named (-o FILE); a failure names the file and the system's code. */
export function writeResultFile(file: string, text: Buffer | string): void {
  try {
    writeFileSync(file, text)
  } catch (error) {
    throw new RegshapeError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
  }
}

/** One line and an exit code for any error; never a stack trace. */
export function userFacing(error: unknown): {exitCode: number; message: string} {
  if (error instanceof RegshapeError) return {exitCode: error.exitCode, message: oneLine(error.message)}
  const name = (error as Error)?.name
  if (name === 'ExitPromptError' || name === 'AbortPromptError') return {exitCode: ExitCode.Interrupted, message: 'Interrupted'}
  return {exitCode: ExitCode.Failure, message: oneLine(`unexpected error: ${describeError(error)}`)}
}

/**
 * `user:password@host` as typed, for the JSON error object, becomes `host`: the error output must not
 * hand the password back (parseRegistry refuses such names without quoting them).
 */
export function registryWithoutUserinfo(registry: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(registry)?.[0] ?? ''
  const rest = registry.slice(scheme.length)
  const authorityEnd = rest.search(/[/?#]/)
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd)
  const at = authority.lastIndexOf('@')
  return at === -1 ? registry : `${scheme}${rest.slice(at + 1)}`
}

/**
 * oclif's parse error, rewritten so that it never echoes a value from the command line: a value
 * may be a secret typed into the wrong place (`--pasword=s3cr3t`, `-P s3cr3t`, `--timeout s3cr3t`).
 * Flag names stay, they are what the user needs to see; values are cut from the forms oclif
 * quotes them in, and any value still left is masked.
 */
export function parseErrorMessage(error: Error, argv: readonly string[] = [], definedFlags: readonly string[] = []): string {
  // An unexpected argument may be a secret typed in the wrong place (`--pasword s3cr3t`): never echo it.
  if (/^Unexpected arguments?:/.test(error.message)) return 'unexpected argument (see --help)'
  const unknown = (error as Error & {flags?: unknown}).flags
  if (/^Nonexistent flags?:/.test(error.message) && Array.isArray(unknown)) {
    const names = [...new Set(unknown.map((flag) => flagNameOnly(String(flag))))]
    return `Nonexistent flag${names.length === 1 ? '' : 's'}: ${names.join(', ')} (see --help)`
  }

  const lines = error.message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^See more help with/.test(line) && !/^The following errors? occurred:?$/.test(line) && !/^Parsing --\S+$/.test(line))
    // oclif's own forms that quote a value: `Expected --flag=VALUE to be one of: …`,
    // `Expected VALUE to be one of: …` (an argument), `--flag=VALUE cannot also be provided when using --other`.
    .map((line) =>
      line
        .replace(/^Expected (--[\w-]+)=[\s\S]* to be one of: /, 'Expected $1 to be one of: ')
        .replace(/^Expected [\s\S]* to be one of: /, 'Expected an argument to be one of: ')
        .replace(/^(--[\w-]+)=[\s\S]* cannot also be provided when using /, '$1 cannot also be provided when using '),
    )
  return `${maskValues(lines.join('; '), argv, definedFlags)} (see --help)`
}

/** `--passwod=s3cr3t` → `--passwod`, `-Xs3cr3t` → `-X`. */
function flagNameOnly(flag: string): string {
  if (flag.startsWith('--')) return flag.split('=')[0]
  return flag.slice(0, 2)
}

/**
 * Every value on the command line masked wherever it still stands as a word of the message: what
 * follows `=`, what is attached to a short flag, every word that is not a flag, and a dashed word
 * that names no flag (the value of a flag before it: `--timeout -s3cr3t`). A word of the message
 * itself ("Missing", "flag") is masked only if the user typed that very word.
 */
function maskValues(message: string, argv: readonly string[], definedFlags: readonly string[]): string {
  const values = new Set<string>()
  for (const arg of argv) {
    if (arg === '--' || arg === '-') continue
    if (arg.startsWith('--')) {
      const [name] = arg.slice(2).split('=')
      if (arg.includes('=')) values.add(arg.slice(arg.indexOf('=') + 1))
      if (!definedFlags.includes(name)) values.add(arg)
    } else if (arg.startsWith('-')) {
      values.add(arg)
      if (arg.length > 2) values.add(arg.slice(arg[2] === '=' ? 3 : 2))
    } else {
      values.add(arg)
    }
  }

  let masked = message
  for (const value of [...values].filter((v) => v !== '').sort((a, b) => b.length - a.length)) {
    const escaped = value.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')
    masked = masked.replaceAll(new RegExp(`(?<![\\w-])${escaped}(?![\\w-])`, 'g'), MASK)
  }

  return masked
}

function oneLine(text: string): string {
  return text.replaceAll(/\s*\n\s*/g, ' ').trim()
}
