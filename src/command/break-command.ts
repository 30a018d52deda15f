import {type Command, Flags} from '@oclif/core'

import {type JsonObject, RegshapeCommand, registryWithoutUserinfo, userFacing} from './base-command.js'
import {BreakSession} from '../break/session.js'
import {formatJson} from '../util/text.js'
import {UsageError, describeError} from '../errors.js'
import {scrubValues} from '../util/secrets.js'

/**
 * The base of the commands that talk to a registry (the registry commands, copy, ping, auth login,
 * auth token, auth status): break mode's flags (`--break`, `--break-rules`,
 * `--log-file`, docs/break-mode.md), its rules loaded before the command runs, and its report of
 * the requests it changed.
 */

export const breakFlags = {
  break: Flags.boolean({
    description: 'Break mode: change requests on their way out as --break-rules says, to see how the registry answers (docs/break-mode.md)',
    helpGroup: 'BREAK MODE',
  }),
  'break-rules': Flags.string({description: 'The rules for --break: a YAML or JSON file', helpGroup: 'BREAK MODE', helpValue: 'FILE'}),
  'log-file': Flags.string({description: 'Append break mode\'s report of the requests it changed to this file, not stderr', helpGroup: 'BREAK MODE', helpValue: 'FILE'}),
}

export abstract class BreakModeCommand<T extends typeof Command, R = void> extends RegshapeCommand<T, R> {
  static override baseFlags = {
    ...RegshapeCommand.baseFlags,
    ...breakFlags,
  }

  /** Break mode's rules and report, with --break. */
  protected breakSession?: BreakSession

  override async init(): Promise<void> {
    await super.init()
    const flags = this.flags as {break?: boolean; 'break-rules'?: string; 'log-file'?: string}
    // Never half on: rules without --break, or --break without rules, is a usage error.
    if (!flags.break) {
      if (flags['break-rules'] !== undefined) throw new UsageError('--break-rules needs --break: no rule is applied without it')
      if (flags['log-file'] !== undefined) throw new UsageError('--log-file is break mode\'s report: it needs --break')
      return
    }

    if (flags['break-rules'] === undefined) throw new UsageError('--break needs --break-rules FILE: the rules to apply')
    const {loadRules} = await import('../break/load.js')
    const rules = await loadRules(flags['break-rules'])
    const logFile = flags['log-file']
    if (logFile === undefined) {
      this.breakSession = new BreakSession(rules, (line) => process.stderr.write(`${line}\n`))
    } else {
      try {
        this.breakSession = BreakSession.toFile(rules, logFile)
      } catch (error) {
        throw new UsageError(`--log-file ${logFile}: cannot write it (${(error as NodeJS.ErrnoException).code ?? describeError(error)})`)
      }
    }

    this.breakStage = this.breakSession
  }

  /**
   * Under --break --json, the one document on stdout carries the result and the changed requests.
   * A result written to -o FILE is the result alone: the changed requests are reported on stderr
   * or in --log-file anyway.
   */
  protected override emitResult(human: string, json: JsonObject): void {
    const session = this.jsonMode && this.outputFile() === undefined ? this.breakSession : undefined
    super.emitResult(human, session ? {result: json, mutations: session.events} : json)
  }

  /** Under --break --json, the error object carries the changed requests too. */
  override async catch(error: Error & {code?: string; oclif?: {exit?: number}}): Promise<void> {
    if (!this.breakSession || !this.jsonMode || (error.code === 'EEXIT' && error.oclif?.exit !== undefined)) return super.catch(error)
    const {exitCode, message} = userFacing(error)
    const registry = this.registryForOutput()
    process.stdout.write(
      `${formatJson(
        scrubValues({
          status: 'error',
          registry: registry === undefined ? undefined : registryWithoutUserinfo(registry),
          error: message,
          mutations: this.breakSession.events,
        }),
      )}\n`,
    )
    this.exitWith(exitCode)
  }
}
