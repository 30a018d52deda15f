/**
 * Lets the shared flags come before the command, as the specification writes them
 * (`regshape --json auth login -r R`), and break mode's as upstream does (`regshape --break
 * --break-rules FILE tag list …`): oclif reads the first word as the command id, so leading
 * flags of either kind are moved to just after the command's words. Kept free of imports:
 * bin/run.js loads it before oclif.
 */

type HoistedFlag = {char?: string; name: string; takesValue: boolean}

/** The shared flags of RegshapeCommand.baseFlags, and whether each takes a value. */
export const GLOBAL_FLAGS: readonly HoistedFlag[] = [
  {name: 'ca-file', takesValue: true},
  {name: 'debug-calls', takesValue: false},
  {name: 'docker-config', takesValue: true},
  {name: 'insecure', takesValue: false},
  {name: 'json', takesValue: false},
  {char: 'p', name: 'password', takesValue: true},
  {name: 'retries', takesValue: true},
  {name: 'time-methods', takesValue: false},
  {name: 'time-scenarios', takesValue: false},
  {name: 'timeout', takesValue: true},
  {char: 'u', name: 'username', takesValue: true},
]

/**
 * Break mode's flags (src/command/break-command.ts), which every command that talks to a registry
 * takes. Moved like the shared ones; a command without them then says they are not its flags.
 */
export const BREAK_FLAGS: readonly HoistedFlag[] = [
  {name: 'break', takesValue: false},
  {name: 'break-rules', takesValue: true},
  {name: 'log-file', takesValue: true},
]

/** The flags that may come before the command. */
export const HOISTED_FLAGS: readonly HoistedFlag[] = [...GLOBAL_FLAGS, ...BREAK_FLAGS]

/** How many argv entries the flag at argv[index] spans, when it may come before the command (0 otherwise). */
function globalFlagSpan(argv: readonly string[], index: number): number {
  const arg = argv[index]
  if (arg.startsWith('--')) {
    const [name, inlineValue] = [arg.slice(2).split('=')[0], arg.includes('=')]
    const flag = HOISTED_FLAGS.find((f) => f.name === name)
    if (!flag) return 0
    return flag.takesValue && !inlineValue ? 2 : 1
  }

  if (arg.startsWith('-') && arg.length >= 2) {
    const flag = HOISTED_FLAGS.find((f) => f.char === arg[1])
    if (!flag) return 0
    return flag.takesValue && arg.length === 2 ? 2 : 1
  }

  return 0
}

export function hoistGlobalFlags(argv: readonly string[]): string[] {
  const leading: string[] = []
  let index = 0
  while (index < argv.length && argv[index] !== '--') {
    const span = globalFlagSpan(argv, index)
    if (span === 0 || index + span > argv.length) break
    leading.push(...argv.slice(index, index + span))
    index += span
  }

  let end = index
  while (end < argv.length && !argv[end].startsWith('-')) end++
  if (leading.length === 0 || end === index) return [...argv]
  return [...argv.slice(index, end), ...leading, ...argv.slice(end)]
}
