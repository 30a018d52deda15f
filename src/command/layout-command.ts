import {type Command, Flags} from '@oclif/core'

import {RegshapeCommand} from './base-command.js'
import {OciLayout} from '../layout/store.js'
import {UsageError} from '../errors.js'

/**
 * The base of the `layout` group: upstream's `-p/--path` names the layout, so inside this group
 * `-p` is the path and the shared password flag keeps only its long form (registry.md §1,
 * "Short-option collisions"). Nothing here touches the network.
 */
export abstract class LayoutCommand<T extends typeof Command, R = void> extends RegshapeCommand<T, R> {
  static override baseFlags = {
    ...RegshapeCommand.baseFlags,
    password: Flags.string({description: 'Password (not used by the layout commands; -p is --path here)', helpGroup: 'GLOBAL'}),
  }

  /** Prompts only where someone can answer them: stdin a terminal, and not --json. */
  protected get interactive(): boolean {
    return !this.jsonMode && this.services.prompter().stdinIsInteractive()
  }

  protected openLayout(path: string): Promise<OciLayout> {
    return OciLayout.open(path)
  }

  /** A question with a default: Enter takes the default. */
  protected async askWithDefault(question: string, fallback: string): Promise<string> {
    const answer = (await this.services.prompter().ask(`${question} [${fallback}]:`)).trim()
    return answer === '' ? fallback : answer
  }
}

export const layoutFlags = {
  path: (description = 'Root directory of an OCI Image Layout') => Flags.string({char: 'p', description, helpValue: 'DIR', required: true}),
  annotation: (description: string, required = false) => Flags.string({description, helpValue: 'KEY=VALUE', multiple: true, required}),
}

/** `--annotation key=value`, repeatable; a later key wins. A value may hold `=`. */
export function parseAnnotations(values: readonly string[] | undefined, flag = '--annotation'): Record<string, string> {
  const annotations: Record<string, string> = {}
  for (const value of values ?? []) {
    const equals = value.indexOf('=')
    if (equals <= 0) throw new UsageError(`invalid ${flag} "${value}": expected key=value`)
    annotations[value.slice(0, equals)] = value.slice(equals + 1)
  }

  return annotations
}

/** `  key = value` lines, as upstream prints annotations. */
export function annotationLines(annotations: Record<string, string> | undefined, indent = '    '): string[] {
  return Object.entries(annotations ?? {}).map(([key, value]) => `${indent}${key} = ${value}`)
}
