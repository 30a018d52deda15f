/**
 * `regshape plugins install` with a package on disk, read as npm reads it. @oclif/plugin-plugins
 * takes `./plugin.tgz` or `../dir` for a GitHub `org/repo` slug (anything with a slash), and runs
 * npm in regshape's data directory, so `file:./plugin.tgz` would be looked for there rather than
 * where the user typed it. Before oclif sees them, such arguments become `file:<absolute path>`:
 * - `file:<path>`, with the path taken from the current directory;
 * - a path that starts with `./`, `../` or `/` (npm's rule for a folder or a file);
 * - a name ending in .tgz, .tar.gz or .tar (npm's rule for a tarball).
 * A name, a scoped name, an `org/repo` slug or a URL is left as it is.
 */
import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

const INSTALL = new Set(['plugins:add', 'plugins:install'])

/** args with local packages made absolute `file:` specs, or the one-line error to exit 1 with. */
export function localPluginArgs(id: string, args: readonly string[], cwd: string = process.cwd()): {args: string[]} | {error: string} {
  if (!INSTALL.has(id)) return {args: [...args]}
  const words = args[0]?.includes(':') ? 1 : 2
  const result: string[] = []
  for (const [index, arg] of args.entries()) {
    const path = index < words || arg.startsWith('-') ? undefined : localPath(arg)
    if (path === undefined) {
      result.push(arg)
      continue
    }

    const absolute = resolve(cwd, path)
    if (!existsSync(absolute)) return {error: `Error: cannot install the plugin ${arg}: ${absolute} does not exist`}
    result.push(`file:${absolute}`)
  }

  return {args: result}
}

/** The path an argument names on disk, as npm would read it; undefined for a package name or URL. */
function localPath(arg: string): string | undefined {
  if (arg.startsWith('file:')) return arg.startsWith('file://') ? undefined : arg.slice('file:'.length)
  if (/^(\.{1,2}(\/|$)|\/)/.test(arg)) return arg
  if (/\.(tgz|tar\.gz|tar)$/.test(arg) && !/^[a-z][\w+.-]*:/i.test(arg)) return arg
  return undefined
}
