import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'chai'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const RUN_JS = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: null | number
  signal: NodeJS.Signals | null
  stderr: string
  stdout: string
}

export interface CliOptions {
  /** Working directory of the child (default: the test process's). */
  cwd?: string
  /** Extra environment; HOME is a fresh temp dir unless given. */
  env?: NodeJS.ProcessEnv
  stdin?: Buffer | string
  timeoutMs?: number
}

/** A home directory of its own for one test, so nothing touches the real ~/.docker. */
export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'regshape-home-'))
}

/**
 * Runs the built CLI (bin/run.js, dist, manifest) exactly as a user would. The child gets its own
 * session (no controlling terminal), so anything that would prompt must fail instead of hanging.
 */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {
    HOME: options.env?.HOME ?? tempHome(),
    LANG: 'C.UTF-8',
    PATH: process.env.PATH,
    ...options.env,
  }
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], {cwd: options.cwd, detached: true, env, stdio: ['pipe', 'pipe', 'pipe']})
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
      reject(new Error(`regshape ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms`))
    }, options.timeoutMs ?? 30_000)
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({code, signal, stderr: Buffer.concat(stderr).toString('utf8'), stdout: Buffer.concat(stdout).toString('utf8')})
    })
    child.stdin.on('error', () => {})
    if (options.stdin === undefined) child.stdin.end()
    else child.stdin.end(options.stdin)
  })
}

/** Every test that hands regshape a secret checks it never comes back out, in any encoding we know. */
export function expectNoSecrets(result: CliResult, secrets: Array<string | undefined>): void {
  for (const secret of secrets) {
    if (!secret) continue
    const forms = [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]
    for (const form of forms) {
      expect(result.stdout, 'stdout leaks a secret').not.to.include(form)
      expect(result.stderr, 'stderr leaks a secret').not.to.include(form)
    }
  }
}

/** stderr must never carry a stack trace. */
export function expectNoStackTrace(result: CliResult): void {
  expect(result.stderr).not.to.match(/\n\s+at .+\(.+:\d+:\d+\)/)
  expect(result.stderr).not.to.match(/\n\s+at .+:\d+:\d+/)
}
