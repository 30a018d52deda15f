import {openSync} from 'node:fs'
import {ReadStream, WriteStream} from 'node:tty'

import {InputError, InterruptedError} from '../errors.js'

/**
 * Interactive questions. Prompts are written to stderr so that stdout stays machine-readable, the
 * prompt library is loaded only when a question is actually asked, and a question is never asked
 * where nobody can answer it: without a terminal the caller gets an error at once, not a hang.
 */

export interface AskOptions {
  /** Hide what is typed (passwords). */
  hidden?: boolean
  /**
   * Ask on the controlling terminal (/dev/tty) instead of stdin: for when stdin carries data,
   * as with --password-stdin.
   */
  onTerminal?: boolean
}

export interface Prompter {
  ask(message: string, options?: AskOptions): Promise<string>
  /** Whether stdin is a terminal someone can type into. */
  stdinIsInteractive(): boolean
  /** Whether a controlling terminal can be opened even though stdin is redirected. */
  terminalAvailable(): boolean
}

export class TerminalPrompter implements Prompter {
  async ask(message: string, options: AskOptions = {}): Promise<string> {
    const streams = options.onTerminal ? openControllingTerminal() : undefined
    if (options.onTerminal && !streams) throw new InputError('no terminal is available to ask on')
    const context = streams ? {input: streams.input, output: streams.output} : {input: process.stdin, output: process.stderr}
    const theme = {prefix: ''}
    try {
      if (options.hidden) {
        const {default: password} = await import('@inquirer/password')
        return await password({message, theme}, context)
      }

      const {default: input} = await import('@inquirer/input')
      return await input({message, theme}, context)
    } catch (error) {
      // Inquirer restores the terminal (echo, raw mode) before it rejects on Ctrl-C.
      if ((error as Error).name === 'ExitPromptError' || (error as Error).name === 'AbortPromptError') throw new InterruptedError()
      throw error
    } finally {
      streams?.input.destroy()
      streams?.output.destroy()
    }
  }

  stdinIsInteractive(): boolean {
    return Boolean(process.stdin.isTTY)
  }

  terminalAvailable(): boolean {
    const streams = openControllingTerminal()
    streams?.input.destroy()
    streams?.output.destroy()
    return Boolean(streams)
  }
}

function openControllingTerminal(): undefined | {input: ReadStream; output: WriteStream} {
  try {
    const input = new ReadStream(openSync('/dev/tty', 'r'))
    const output = new WriteStream(openSync('/dev/tty', 'w'))
    return {input, output}
  } catch {
    // ENXIO: no controlling terminal (CI, cron, setsid); ENOENT: not a Unix system.
    return undefined
  }
}

/**
 * Reads a secret piped on stdin. Exactly one trailing line terminator (CRLF, LF or CR) is removed,
 * and nothing else: leading and trailing spaces can be part of a password.
 */
export async function readSecretFromStdin(stdin: NodeJS.ReadableStream = process.stdin, maxBytes = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    size += buffer.length
    if (size > maxBytes) throw new InputError(`standard input holds more than ${maxBytes} bytes; that is not a password`)
    chunks.push(buffer)
  }

  return stripOneLineEnding(Buffer.concat(chunks).toString('utf8'))
}

export function stripOneLineEnding(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2)
  if (text.endsWith('\n') || text.endsWith('\r')) return text.slice(0, -1)
  return text
}
