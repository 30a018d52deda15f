import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'

import {userHome} from '../util/home.js'

/**
 * oclif's cache and data directories (Config#cacheDir and Config#dataDir in @oclif/core 4), worked
 * out the same way before oclif is loaded: bin/run.js needs them first. Kept free of imports
 * beyond node: builtins and ./home.js.
 *
 * One difference: where oclif would fall back to the temporary directory or a relative path (HOME
 * empty or relative), this takes the home from the user database (./home.ts), or throws.
 * bin/run.js sets HOME to that same home before oclif loads (settleHome), so the two agree.
 */

export interface DirOptions {
  /** oclif.bin, which names the environment variables (REGSHAPE_CACHE_DIR). */
  bin: string
  /** oclif.dirname, the directory's own name. */
  dirname: string
  env?: NodeJS.ProcessEnv
  platform?: NodeJS.Platform
}

export function oclifDir(kind: 'cache' | 'data', {bin, dirname, env = process.env, platform = process.platform}: DirOptions): string {
  const scoped = env[`${bin.replaceAll('@', '').replaceAll(/[/-]/g, '_')}_${kind}_dir`.toUpperCase()]
  if (scoped) return scoped
  const windows = platform === 'win32'
  const home = windows
    ? env.HOME || (env.HOMEDRIVE && env.HOMEPATH && join(env.HOMEDRIVE, env.HOMEPATH)) || env.USERPROFILE || homedir() || tmpdir()
    : userHome(env, platform)
  if (home === undefined) throw new Error('no home directory')
  if (kind === 'cache' && platform === 'darwin') return join(home, 'Library', 'Caches', dirname)
  const base = env[`XDG_${kind.toUpperCase()}_HOME`] || (windows && env.LOCALAPPDATA) || join(home, kind === 'data' ? '.local/share' : `.${kind}`)
  return join(base, dirname)
}
