/**
 * Helpers for the few places where scripts/bundle.mjs changes @oclif/core inside the bundle, each
 * to do the same thing with less start-up work. Each patch is matched exactly, or the build fails.
 */

/**
 * The order oclif sorts command ids in (String#localeCompare), without building an ICU collator
 * when it is not needed. For ids made of lower-case ASCII letters, ':' and '-', the root collation
 * (what English, C.UTF-8 and the POSIX locale use) orders exactly as code units do: '-' before
 * ':' before the letters. Other ids, or a locale with its own rules (Danish sorts "aa" last, Czech
 * treats "ch" as one letter), go through localeCompare as before.
 */

const SIMPLE_ID = /^[a-z:-]*$/

let rootCollation: boolean | undefined

/** Whether the default locale ICU picks from the environment (LC_ALL, LC_MESSAGES, LANG) is English or C/POSIX. */
export function collatesLikeRoot(env: NodeJS.ProcessEnv = process.env): boolean {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || ''
  return locale === '' || /^(c|posix|en)([._@-]|$)/i.test(locale)
}

/** Whether codeUnitOrder orders these ids as the root collation does. */
export function isSimpleId(id: string): boolean {
  return SIMPLE_ID.test(id)
}

export function codeUnitOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The comparator oclif's Plugin#load sorts commands with, in the bundle (scripts/bundle.mjs). */
export function compareCommandIds(a: string, b: string): number {
  rootCollation ??= collatesLikeRoot()
  return rootCollation && isSimpleId(a) && isSimpleId(b) ? codeUnitOrder(a, b) : a.localeCompare(b)
}

/**
 * Whether minimatch would match this oclif.plugins pattern only against the very same name: it
 * is shaped like an npm package name (no glob syntax, no negation, no "." path segments). oclif
 * matches every dependency against every pattern to find the core plugins, and building minimatch
 * patterns costs more than the comparison.
 */
export function isLiteralPattern(pattern: string): boolean {
  return /^(@[\w-][\w.-]*\/)?[\w-][\w.-]*$/.test(pattern)
}

/** Which plugin an error of oclif's plugin loading came from (see withPlugin). */
export interface PluginOrigin {
  name: string
  root: string
  /** oclif's plugin type: `core` (shipped with regshape), `user` (installed), `link` (linked) */
  type: string
  /** oclif's task, such as `findCommand (hello)` */
  scope?: string
}

export const PLUGIN_ORIGIN = Symbol.for('regshape.pluginOrigin')

/**
 * Marks an error of oclif's plugin loading with the plugin it came from, before oclif turns it
 * into a warning (scripts/bundle.mjs puts this where the plugin is known): oclif's own warning
 * names the root plugin (regshape) for a plugin that failed to load, and src/command/plugin-warnings.ts
 * needs the real one to say what to do.
 */
export function withPlugin<T>(error: T, origin: PluginOrigin): T {
  if (error !== null && typeof error === 'object') (error as Record<symbol, unknown>)[PLUGIN_ORIGIN] = origin
  return error
}
