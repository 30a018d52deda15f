import {existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {hoistGlobalFlags} from '../command/argv.js'
import {oclifDir} from './dirs.js'
import {settleHome} from '../util/home.js'
import {localPluginArgs} from './plugin-paths.js'
import {whyNotPrivate} from './private-dir.js'

/** How bin/run.js starts this run, decided before oclif loads. */
export interface Start {
  /** argv as oclif gets it (global flags hoisted, a plugin on disk as an absolute file: spec) */
  args: string[]
  /** Where the code cache of the bundles may be read and written; undefined: no cache this run. */
  cacheDirectory?: string
  /** oclif's Config options: userPlugins is false when it must not load user or linked plugins */
  loadOptions: {root: string; userPlugins: boolean}
  /** one line for stderr before the command runs */
  warning?: string
}

/** `plugins …` commands (@oclif/plugin-plugins), and those that create the data directory. */
const PLUGINS_COMMAND = /^plugins(:|$)/
const CREATES_DATA_DIR = new Set(['plugins:add', 'plugins:install', 'plugins:link'])

/**
 * Settles HOME (./home.ts), then decides whether oclif may load plugins from its data directory
 * and whether the code cache may be used, by who can write those directories (./private-dir.ts).
 * A data directory others can write is ignored with a warning, and `plugins` commands refuse to
 * work in it (npm would run there, reading the .npmrc and the package.json someone else left).
 * A cache directory others can write just means no cache, and so does Node's switch
 * NODE_DISABLE_COMPILE_CACHE=1. Returns the one-line error to exit 1 with instead, if any.
 * binUrl is bin/run.js's import.meta.url.
 */
export function prepareStart(binUrl: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Start | {error: string} {
  const homeError = settleHome(env)
  if (homeError) return {error: homeError}
  const pjson = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', binUrl)), 'utf8')) as {name: string; oclif: {bin?: string; dirname?: string}}
  const names = {bin: pjson.oclif.bin ?? pjson.name, dirname: pjson.oclif.dirname ?? pjson.name, env}
  const args = hoistGlobalFlags(argv)
  const id = commandId(args)
  const start: Start = {args, loadOptions: {root: fileURLToPath(binUrl), userPlugins: true}}

  const dataDir = oclifDir('data', names)
  const unsafe = whyNotPrivate(dataDir, {contents: ['package.json', 'node_modules']})
  if (unsafe) {
    if (PLUGINS_COMMAND.test(id)) return {error: `Error: refusing to manage plugins in ${dataDir}: ${unsafe}`}
    start.loadOptions.userPlugins = false
    if (existsSync(join(dataDir, 'package.json'))) start.warning = `Warning: not loading the plugins in ${dataDir}: ${unsafe}`
  } else if (CREATES_DATA_DIR.has(id) && !existsSync(dataDir)) {
    // Created here rather than by npm under the user's umask: a group-writable data directory
    // (umask 002) would be refused on the next run.
    try {
      mkdirSync(dataDir, {mode: 0o700, recursive: true})
    } catch {}
  }

  // after the data directory's check: no path is looked at for plugins that would be refused
  const local = localPluginArgs(id, args)
  if ('error' in local) return local
  start.args = local.args

  if (!env.NODE_DISABLE_COMPILE_CACHE) {
    const directory = join(oclifDir('cache', names), 'code-cache')
    if (!whyNotPrivate(directory)) start.cacheDirectory = directory
  }

  return start
}

/** The id of a two-word command as oclif reads it with topicSeparator ' ' (or written with ':'). */
function commandId([first = '', second = '']: readonly string[]): string {
  if (first.includes(':') || second === '' || second.startsWith('-')) return first
  return `${first}:${second}`
}
