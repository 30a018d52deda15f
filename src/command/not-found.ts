import {type Hook, Help} from '@oclif/core'

import {formatJson, terminalSafe} from '../util/text.js'
import {ExitCode} from '../errors.js'

/**
 * What regshape says when the words on the command line name no command: the one-line `Error:`
 * of every other failure (not oclif's ` ›   Error:`), a suggestion as skopeo (cobra) and
 * oclif's plugin-not-found make one, exit 2, and the JSON error object under --json.
 */

/** What can be suggested: every visible command id and alias, and every visible topic, in `a:b` form. */
export interface Vocabulary {
  commands: readonly string[]
  topics: readonly string[]
}

/** Cobra's bar (skopeo's "Did you mean"): at most 2 edits, or a prefix of the name. */
const MAX_DISTANCE = 2

/** Levenshtein distance; ids are short, so the plain two-row table is enough. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }

    previous = current
  }

  return previous[b.length]
}

/**
 * The words of the command line that were meant as a command: the known words, up to and with the
 * first word that names neither a topic nor a command. What follows it is taken as arguments and
 * never repeated (it may be a registry, or a secret typed in the wrong place).
 */
export function commandWords(words: readonly string[], vocabulary: Vocabulary): string[] {
  const known = new Set([...vocabulary.commands, ...vocabulary.topics])
  const meant: string[] = []
  for (const word of words) {
    if (word.startsWith('-')) break
    meant.push(word)
    if (!known.has(meant.join(':'))) break
  }

  return meant
}

/**
 * The commands or topics the user most likely meant by `words` (`['auth', 'lgoin']`): each
 * candidate is compared with as many typed words as it has. Those within MAX_DISTANCE edits win,
 * closest first; failing that, those the typed words are a prefix of (`auth lo`: login, logout).
 */
export function suggestions(words: readonly string[], vocabulary: Vocabulary, meant = commandWords(words, vocabulary).length): string[] {
  const scored: Array<{distance: number; id: string; prefix: boolean}> = []
  const seen = new Set<string>()
  for (const id of [...vocabulary.commands, ...vocabulary.topics]) {
    if (seen.has(id)) continue
    seen.add(id)
    const parts = id.split(':')
    if (parts.length > words.length) continue
    const typed = words.slice(0, parts.length)
    // The words before the last must be right for a prefix to count (`auth lo`, not `a lo`).
    const prefix =
      parts.length === meant && parts.slice(0, -1).join(':') === typed.slice(0, -1).join(':') && typed.at(-1) !== '' && parts.at(-1)!.startsWith(typed.at(-1)!)
    scored.push({distance: editDistance(typed.join(':'), id), id, prefix})
  }

  const close = scored.filter((entry) => entry.distance > 0 && entry.distance <= MAX_DISTANCE)
  if (close.length > 0) {
    const best = Math.min(...close.map((entry) => entry.distance))
    const closest = close.filter((entry) => entry.distance === best)
    // At equal distance a command of more words is the better guess (`atuh login`: auth login, not auth).
    const most = Math.max(...closest.map((entry) => entry.id.split(':').length))
    return closest
      .filter((entry) => entry.id.split(':').length === most)
      .map((entry) => entry.id)
      .sort()
      .slice(0, 3)
  }

  return scored
    .filter((entry) => entry.prefix)
    .map((entry) => entry.id)
    .sort()
    .slice(0, 3)
}

/**
 * `command auth lgoin not found. Did you mean auth login?`. The guess may use a word after the
 * first unknown one (`atuh login`: auth login); the message then quotes as many words as the guess has.
 */
export function notFoundMessage(words: readonly string[], vocabulary: Vocabulary, bin: string): string {
  const firstFlag = words.findIndex((word) => word.startsWith('-'))
  const plain = firstFlag === -1 ? [...words] : words.slice(0, firstFlag)
  const meant = commandWords(plain, vocabulary)
  if (meant.length === 0) return `no command given (see ${bin} --help)`
  const found = suggestions(plain, vocabulary, meant.length)
  const quoted = Math.max(meant.length, ...found.map((id) => id.split(':').length))
  const guesses = found.map((id) => id.replaceAll(':', ' '))
  const head = `command ${terminalSafe(plain.slice(0, quoted).join(' '))} not found`
  if (guesses.length === 0) return `${head} (see ${bin} --help)`
  const list = guesses.length === 1 ? guesses[0] : `${guesses.slice(0, -1).join(', ')} or ${guesses.at(-1)}`
  return `${head}. Did you mean ${list}?`
}

/** The vocabulary of a loaded oclif config: what `--help` shows, aliases included. */
export function vocabularyOf(config: {commands: ReadonlyArray<{aliases: string[]; hidden: boolean; id: string}>; topics: ReadonlyArray<{hidden?: boolean; name: string}>}): Vocabulary {
  const commands = config.commands.filter((command) => !command.hidden).flatMap((command) => [command.id, ...command.aliases])
  const topics = config.topics.filter((topic) => !topic.hidden).map((topic) => topic.name)
  return {commands, topics}
}

/**
 * oclif's command_not_found hook (package.json oclif.hooks). It prints the error itself and sets
 * the exit code: a hook that threw would be rendered by oclif's own handler, prefix and all.
 */
export const commandNotFound: Hook<'command_not_found'> = async function (options) {
  reportNotFound([...options.id.split(':'), ...(options.argv ?? [])], options.config)
}

function reportNotFound(words: readonly string[], config: Parameters<typeof vocabularyOf>[0] & {bin: string}): void {
  const message = notFoundMessage(words, vocabularyOf(config), config.bin)
  // --json anywhere on the line, as the commands read it before their flags are parsed.
  if (words.includes('--json')) process.stdout.write(`${formatJson({status: 'error', error: message})}\n`)
  else process.stderr.write(`Error: ${message}\n`)
  process.exitCode = ExitCode.Usage
}

/**
 * oclif's help (package.json oclif.helpClass), but help asked for a command that does not exist
 * (`auth lgoin -h`, `help auth lgoin`) gets the same error and suggestion as running it would.
 */
export class RegshapeHelp extends Help {
  override async showHelp(argv: string[]): Promise<void> {
    try {
      await super.showHelp(argv)
    } catch (error) {
      if (!/^Command \S+ not found\.$/.test((error as Error)?.message ?? '')) throw error
      const helpFlags = new Set(['--help', ...(this.config.pjson.oclif.additionalHelpFlags ?? [])])
      const words = argv.filter((arg) => !helpFlags.has(arg)).flatMap((arg) => (arg.includes(':') && !arg.startsWith('-') ? arg.split(':') : [arg]))
      reportNotFound(words[0] === 'help' ? words.slice(1) : words, this.config)
    }
  }
}
