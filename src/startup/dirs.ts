import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * oclif's cache and data directories (Config#cacheDir and Config#dataDir in @oclif/core 4), worked
 * out the same way before oclif is loaded: bin/run.js needs them first. Kept free of imports
 * beyond node: builtins.
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
  const home =
    env.HOME || (windows && ((env.HOMEDRIVE && env.HOMEPATH && join(env.HOMEDRIVE, env.HOMEPATH)) || env.USERPROFILE)) || homedir() || tmpdir()
  if (kind === 'cache' && platform === 'darwin') return join(home, 'Library', 'Caches', dirname)
  const base = env[`XDG_${kind.toUpperCase()}_HOME`] || (windows && env.LOCALAPPDATA) || join(home, kind === 'data' ? '.local/share' : `.${kind}`)
  return join(base, dirname)
}
