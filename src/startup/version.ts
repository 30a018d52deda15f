import {existsSync, readFileSync} from 'node:fs'
import {arch, platform, release} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {oclifDir} from './dirs.js'

/**
 * `regshape --version` (binUrl: bin/run.js's import.meta.url) without loading oclif: the exact line oclif prints (config.userAgent,
 * `regshape/<version> <platform>-<arch> node-<version>`), or undefined when only oclif can answer
 * exactly, and bin/run.js must let it:
 * - a user-installed or linked plugin exists: oclif runs plugins' init hooks before it prints the
 *   version (neither regshape nor its core plugins have one; test/unit/startup/startup.test.ts checks);
 * - oclif's debug output is on (DEBUG, REGSHAPE_DEBUG): it logs while it loads;
 * - the machine may be WSL: oclif then says `wsl` unless inside a container (is-wsl), which is left
 *   to oclif's own check.
 */
export function versionLine(binUrl: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const root = fileURLToPath(new URL('..', binUrl))
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {name: string; oclif: {bin?: string; dirname?: string}; version?: string}
  const bin = pjson.oclif.bin ?? pjson.name
  if (env.DEBUG || env[`${bin.toUpperCase().replaceAll('-', '_')}_DEBUG`]) return undefined
  if (existsSync(join(oclifDir('data', {bin, dirname: pjson.oclif.dirname ?? pjson.name, env}), 'package.json'))) return undefined
  if (mayBeWsl(env)) return undefined
  const cpu = arch() === 'ia32' ? 'x86' : arch()
  return `${pjson.name}/${pjson.version || '0.0.0'} ${platform()}-${cpu} node-${process.version}`
}

/** Any sign is-wsl looks for; when there is none, is-wsl says no. */
function mayBeWsl(env: NodeJS.ProcessEnv): boolean {
  if (process.platform !== 'linux') return false
  if (env.__IS_WSL_TEST__ || release().toLowerCase().includes('microsoft')) return true
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true
  } catch {}

  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')
}
