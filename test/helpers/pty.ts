import {spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {RUN_JS} from './cli.js'

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'pty_run.py')

export interface PtyStep {
  delay?: number
  expect: string
  send: string
}

export interface PtyResult {
  code: null | number
  /** Whether the terminal echoed input when the program exited. */
  echoOnExit: boolean | null
  failure: null | string
  signal: null | number
  /** Everything the terminal showed: prompts, echoed input, output. */
  transcript: string
}

/** Runs regshape on a real pseudo-terminal (Python's pty), answering its prompts. */
export function runOnPty(args: string[], steps: PtyStep[], env: NodeJS.ProcessEnv, timeoutSeconds = 20): Promise<PtyResult> {
  return runArgvOnPty([process.execPath, RUN_JS, ...args], steps, env, timeoutSeconds)
}

/** Runs a shell command line on a pty (to pipe into regshape while the terminal stays attached). */
export function runShellOnPty(command: string, steps: PtyStep[], env: NodeJS.ProcessEnv, timeoutSeconds = 20): Promise<PtyResult> {
  return runArgvOnPty(['sh', '-c', command], steps, env, timeoutSeconds)
}

function runArgvOnPty(argv: string[], steps: PtyStep[], env: NodeJS.ProcessEnv, timeoutSeconds: number): Promise<PtyResult> {
  const fullEnv = {LANG: 'C.UTF-8', PATH: process.env.PATH, TERM: 'xterm', ...env}
  return new Promise((resolvePromise, reject) => {
    const child = spawn('python3', [SCRIPT], {stdio: ['pipe', 'pipe', 'inherit']})
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
    })
    child.on('error', reject)
    child.on('close', () => {
      try {
        resolvePromise(JSON.parse(out) as PtyResult)
      } catch {
        reject(new Error(`pty harness printed no result: ${out}`))
      }
    })
    child.stdin.end(JSON.stringify({argv, env: fullEnv, steps, timeout: timeoutSeconds}))
  })
}
