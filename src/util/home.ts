import {homedir, userInfo} from 'node:os'
import {isAbsolute} from 'node:path'

/**
 * The user's home directory as Docker finds it (docker/cli's getHomeDir: $HOME, else the user
 * database), with one difference: a HOME that is not an absolute path counts as unset. Node's
 * os.homedir() returns an empty or relative $HOME as it is, and oclif then falls back to the
 * temporary directory: paths under a directory that any local user can create, or relative to
 * the current directory (`./.docker/config.json`). Undefined when neither gives an absolute path
 * (a uid with no passwd entry, or an entry without a home). Windows is left to os.homedir()
 * (USERPROFILE), as Docker does.
 */
export function userHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return homedir() || undefined
  if (env.HOME && isAbsolute(env.HOME)) return env.HOME
  try {
    // the passwd entry (getpwuid_r), which os.homedir() reads only when HOME is unset
    const home = userInfo().homedir
    if (home && isAbsolute(home)) return home
  } catch {}

  return undefined
}

/**
 * Sets HOME to userHome() before anything reads it (oclif's directories, the code cache, Docker's
 * config.json, credential helpers started later), so that they all agree. Returns the one-line
 * error to fail with when there is no home to be found: running anyway would mean reading
 * credentials from, and loading plugins out of, a directory chosen by whoever creates it first,
 * or the current directory. Relative XDG_*_HOME values are dropped, as the XDG Base Directory
 * specification asks (oclif would put its directories under the current directory).
 */
export function settleHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined
  for (const name of ['XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME']) if (env[name] && !isAbsolute(env[name])) delete env[name]
  const home = userHome(env, platform)
  if (home !== undefined) {
    env.HOME = home
    return undefined
  }

  const given = env.HOME === undefined ? 'HOME is not set' : env.HOME === '' ? 'HOME is empty' : `HOME (${env.HOME}) is not an absolute path`
  return `Error: cannot find your home directory: ${given} and the user database has none for uid ${process.getuid?.()}; set HOME to an absolute path`
}
