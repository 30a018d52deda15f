import {PLUGIN_ORIGIN, type PluginOrigin} from '../startup/oclif-patches.js'
import {terminalSafe} from '../util/text.js'

/**
 * A plugin that cannot load (a linked one whose build is gone, a broken install) makes oclif emit
 * a Node warning of 7 lines on every command, naming regshape rather than the plugin. While oclif
 * runs, such warnings (marked with their plugin by scripts/bundle.mjs, see withPlugin) become one
 * line per plugin that names it and the fix; every other warning passes as it was. With DEBUG
 * set, oclif's own warning follows for the details. Returns the function that restores Node's.
 */
export function reportPluginWarnings(bin: string, write: (line: string) => void = (line) => process.stderr.write(line)): () => void {
  const original = process.emitWarning
  const reported = new Set<string>()
  const replacement = function (this: unknown, warning: Error | string, ...rest: unknown[]) {
    const origin = originOf(warning) ?? originOf(rest[0])
    if (origin) {
      if (!reported.has(origin.name)) write(`${pluginWarning(bin, origin, warning, rest[0])}\n`)
      reported.add(origin.name)
      if (!process.env.DEBUG) return
    }

    return (original as (...args: unknown[]) => void).call(process, warning, ...rest)
  }

  process.emitWarning = replacement as typeof process.emitWarning
  return () => {
    if (process.emitWarning === replacement) process.emitWarning = original
  }
}

function originOf(value: unknown): PluginOrigin | undefined {
  return value !== null && typeof value === 'object' ? ((value as Record<symbol, unknown>)[PLUGIN_ORIGIN] as PluginOrigin | undefined) : undefined
}

/** One line: which plugin, why (the error's first line), and what to do. */
export function pluginWarning(bin: string, origin: PluginOrigin, ...candidates: unknown[]): string {
  const error = candidates.find((candidate): candidate is Error => candidate instanceof Error)
  const message = (error?.message ?? String(candidates[0])).split('\n')[0].replace(/^\[[A-Z_]+\] /, '')
  const command = origin.scope?.match(/^findCommand \((.+)\)$/)?.[1]
  const name = terminalSafe(origin.name)
  const failed = `${command ? `: its command ${terminalSafe(command)}` : ''} cannot be loaded: ${terminalSafe(message)}`
  switch (origin.type) {
    case 'link': {
      return `Warning: linked plugin ${name} (${terminalSafe(origin.root)})${failed}; fix or rebuild it there, or run \`${bin} plugins unlink ${name}\``
    }

    case 'user': {
      return `Warning: plugin ${name}${failed}; reinstall it with \`${bin} plugins install ${name}\`, or remove it with \`${bin} plugins uninstall ${name}\``
    }

    default: {
      return `Warning: plugin ${name}, part of ${bin},${failed}; reinstall ${bin}`
    }
  }
}
