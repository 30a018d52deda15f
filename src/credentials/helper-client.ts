import {spawn} from 'node:child_process'

import {NO_TRACER, type Tracer} from '../telemetry/tracer.js'

import {CredentialHelperError} from '../errors.js'
import {rememberSecret, scrubSecrets} from '../util/secrets.js'
import {MASK} from '../transport/redact.js'

/**
 * A client for Docker's credential-helper protocol (`docker-credential-<name> <action>`): the
 * payload goes in on stdin, the answer and any error text come back on stdout.
 * https://github.com/docker/docker-credential-helpers
 */

export const NOT_FOUND_MESSAGE = 'credentials not found in native keychain'
/** docker-credential-pass before 0.7 answers an erase of a missing entry with this instead. */
const PASS_NOT_FOUND = /is not in the password store/

export interface HelperCredentials {
  secret: string
  username: string
}

export interface HelperClientOptions {
  /** Where the helper was configured, for error messages: e.g. `credsStore in /home/a/.docker/config.json`. */
  configuredBy: string
  env?: NodeJS.ProcessEnv
  /** A helper that hangs (a pinentry nobody answers) must not hang regshape forever. */
  timeoutMs?: number
  /** Telemetry; absent unless a telemetry flag is given. */
  tracer?: Tracer
}

interface RunResult {
  code: null | number
  stderr: string
  stdout: string
}

const MAX_OUTPUT_BYTES = 1024 * 1024
/**
 * After the helper exits, how long its output may still take to arrive. A child it left behind
 * (a daemon, a backgrounded `sleep`) can hold the pipes open for ever: the helper's answer is
 * what it wrote before exiting, and that is in the pipe by then.
 */
const DRAIN_MS = 200

/**
 * Docker runs `docker-credential-<name>` found on PATH. A name with a path separator (or `..`)
 * would run a program from wherever the path points instead, e.g. from the current directory:
 * only a plain file-name word is accepted (Docker Desktop's `desktop.exe` included).
 */
const PLAIN_HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/

export class CredentialHelperClient {
  readonly binary: string

  constructor(
    readonly name: string,
    private readonly options: HelperClientOptions,
  ) {
    this.binary = `docker-credential-${name}`
  }

  /** undefined when the helper holds nothing for `serverURL`. */
  async get(serverURL: string): Promise<HelperCredentials | undefined> {
    const result = await this.run('get', serverURL)
    if (result.code !== 0) {
      if (isNotFound(result.stdout)) return undefined
      throw this.failure('get', result)
    }

    // Known before it is checked: whatever goes wrong next, no message may show it.
    for (const secret of secretsIn(result.stdout)) rememberSecret(secret)

    let answer: unknown
    try {
      answer = JSON.parse(result.stdout)
    } catch {
      // The output may hold a secret: describe it, never show it.
      throw new CredentialHelperError(`${this.binary} get returned output that is not JSON (${result.stdout.length} bytes)`, this.name, 'invalid')
    }

    const {Secret: secret, Username: username} = (answer ?? {}) as {Secret?: unknown; Username?: unknown}
    if (typeof username !== 'string' || typeof secret !== 'string') {
      throw new CredentialHelperError(`${this.binary} get returned JSON without Username and Secret strings`, this.name, 'invalid')
    }

    // docker-credential-pass 0.6.x answers a missing entry with empty fields and exit 0.
    if (username === '' && secret === '') return undefined
    return {secret, username}
  }

  async store(serverURL: string, credentials: HelperCredentials): Promise<void> {
    rememberSecret(credentials.secret)
    const payload = JSON.stringify({ServerURL: serverURL, Username: credentials.username, Secret: credentials.secret})
    const result = await this.run('store', payload)
    if (result.code !== 0) throw this.failure('store', result)
  }

  /** 'not-found' when there was nothing to erase. */
  async erase(serverURL: string): Promise<'erased' | 'not-found'> {
    const result = await this.run('erase', serverURL)
    if (result.code === 0) return 'erased'
    if (isNotFound(result.stdout)) return 'not-found'
    throw this.failure('erase', result)
  }

  /** Server URL → username, for every entry the helper holds. */
  async list(): Promise<Record<string, string>> {
    const result = await this.run('list', 'unused')
    if (result.code !== 0) throw this.failure('list', result)
    let answer: unknown
    try {
      answer = JSON.parse(result.stdout)
    } catch {
      throw new CredentialHelperError(`${this.binary} list returned output that is not JSON`, this.name, 'invalid')
    }

    if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
      throw new CredentialHelperError(`${this.binary} list returned JSON that is not an object`, this.name, 'invalid')
    }

    return Object.fromEntries(Object.entries(answer).filter(([, user]) => typeof user === 'string')) as Record<string, string>
  }

  private failure(action: string, result: RunResult): CredentialHelperError {
    // Helpers print their errors on stdout, but a helper's output can hold a secret: a `get` that
    // printed its answer and then failed, a helper echoing its input, a `set -x` trace on stderr.
    // Output that carries a Secret field is described, never shown; any other text is shown
    // scrubbed of every secret this run knows, and capped so a runaway helper cannot flood the terminal.
    for (const secret of [...secretsIn(result.stdout), ...secretsIn(result.stderr)]) rememberSecret(secret)
    const shown = (text: string) => (SECRET_FIELD.test(text) ? '' : oneLine(scrubSecrets(text)))
    const withheld = SECRET_FIELD.test(result.stdout) || SECRET_FIELD.test(result.stderr) ? ' (its output holds a Secret field, not shown)' : ''
    const detail = shown(result.stdout) || shown(result.stderr) || `exit status ${result.code ?? 'signal'}`
    return new CredentialHelperError(`${this.binary} ${action} failed: ${detail}${withheld}`, this.name, 'failed')
  }

  private run(action: string, input: string): Promise<RunResult> {
    if (!PLAIN_HELPER_NAME.test(this.name)) {
      const error = new CredentialHelperError(
        `refusing to run credential helper "${this.name}" (set as ${this.options.configuredBy}): a helper is named by a plain word such as "pass" and run as docker-credential-<name> from PATH`,
        this.name,
        'invalid',
      )
      return Promise.reject(error)
    }

    return (this.options.tracer ?? NO_TRACER).method(`helper ${this.name} ${action}`, () => this.spawnHelper(action, input))
  }

  private spawnHelper(action: string, input: string): Promise<RunResult> {
    const started = performance.now()
    const timeoutMs = this.options.timeoutMs ?? 30_000
    return new Promise<RunResult>((resolvePromise, rejectPromise) => {
      const child = spawn(this.binary, [action], {env: this.options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe']})
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      let size = 0
      let settled = false
      let drain: NodeJS.Timeout | undefined
      const finish = (error: Error | undefined, code: null | number = null) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        clearTimeout(drain)
        // Our ends of the pipes: a grandchild still holding theirs must not keep regshape alive.
        child.stdout.destroy()
        child.stderr.destroy()
        const result: RunResult = {code, stderr: Buffer.concat(stderr).toString('utf8'), stdout: Buffer.concat(stdout).toString('utf8')}
        const tracer = this.options.tracer ?? NO_TRACER
        tracer.helper({
          action,
          durationMs: performance.now() - started,
          error: error?.message,
          exitCode: error ? null : code,
          helper: this.name,
          // The store payload carries the secret: telemetry sees it masked, and only that.
          input: action === 'store' ? maskSecret(input) : scrubSecrets(input),
          outputBytes: size,
        })
        if (error) rejectPromise(error)
        else resolvePromise(result)
      }

      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        finish(new CredentialHelperError(`${this.binary} ${action} did not answer within ${timeoutMs / 1000} s (--timeout)`, this.name, 'timeout'))
      }, timeoutMs)
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_OUTPUT_BYTES) {
          child.kill('SIGKILL')
          finish(new CredentialHelperError(`${this.binary} ${action} printed more than ${MAX_OUTPUT_BYTES} bytes`, this.name, 'invalid'))
          return
        }

        into.push(chunk)
      }

      child.stdout.on('data', collect(stdout))
      child.stderr.on('data', collect(stderr))
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') {
          finish(new CredentialHelperError(`${this.binary} was not found in PATH (it is set as ${this.options.configuredBy}); install it, or remove that setting to store credentials in the config file`, this.name, 'missing', {cause: error}))
        } else {
          finish(new CredentialHelperError(`could not run ${this.binary}: ${error.code ?? error.message}`, this.name, 'failed', {cause: error}))
        }
      })
      // The helper is done when it exits; 'close' (all pipes closed) normally follows at once, but
      // a child it left running may hold them open until long after.
      child.on('exit', (code) => {
        if (!settled) drain = setTimeout(() => finish(undefined, code), DRAIN_MS)
      })
      child.on('close', (code) => finish(undefined, code))
      // A helper that exits without reading stdin makes this write fail with EPIPE; its exit code tells the story.
      child.stdin.on('error', () => {})
      child.stdin.end(input)
    })
  }
}

function maskSecret(payload: string): string {
  try {
    return JSON.stringify({...JSON.parse(payload), Secret: MASK})
  } catch {
    return MASK
  }
}

function isNotFound(stdout: string): boolean {
  const text = stdout.trim()
  return text === NOT_FOUND_MESSAGE || PASS_NOT_FOUND.test(text)
}

/** The Secret fields of helper JSON, even inside output that is not JSON as a whole. */
const SECRET_FIELD = /"secret"\s*:/i
const SECRET_VALUES = /"secret"\s*:\s*"((?:[^"\\]|\\.)*)"/gi

function secretsIn(text: string): string[] {
  const found: string[] = []
  for (const match of text.matchAll(SECRET_VALUES)) {
    try {
      found.push(JSON.parse(`"${match[1]}"`) as string)
    } catch {
      found.push(match[1])
    }
  }

  return found
}

function oneLine(text: string): string {
  const flat = text.replaceAll(/\s+/g, ' ').trim()
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat
}
