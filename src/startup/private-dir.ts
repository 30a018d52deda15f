import {lstatSync, readlinkSync, type Stats} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

/**
 * Whether a directory may be trusted with code that regshape runs (user plugins, the code cache
 * of its bundles): nobody but the current user and root can change what is in it, now or later.
 * The rule is ssh's StrictModes: the directory and every directory above it, up to /, are owned by
 * the current user or root and writable by neither group nor others. A sticky directory such as
 * /tmp is allowed above an existing entry: others may add entries to it but not rename or remove
 * ours. Components that do not exist yet are fine when the one above them may be trusted (nothing
 * to load from them; whoever creates them later is us). Symbolic links are followed and their
 * targets checked the same way. A few lstat calls: cheap enough for every start.
 *
 * `contents` names entries of the directory that are read too (package.json, node_modules): unless
 * the directory is closed to group and others (0700, which protects everything below it), each
 * one that exists must pass the same test, since a group-writable file in a trusted directory
 * (umask 002) can still be edited by the group.
 *
 * Returns why the directory may not be trusted, or undefined when it may. Without uids (Windows)
 * there is nothing to compare, and every directory may be trusted.
 */
export function whyNotPrivate(directory: string, {contents = [], uid = process.getuid?.()}: {contents?: string[]; uid?: number} = {}): string | undefined {
  if (uid === undefined) return undefined
  const path = resolve(directory)
  const reason = check(path, uid, false, 0)
  if (reason || contents.length === 0) return reason
  const info = lstatSync(path, {throwIfNoEntry: false})
  if (!info || (!info.isSymbolicLink() && (info.mode & 0o077) === 0)) return undefined
  for (const entry of contents) {
    const found = checkOne(join(path, entry), uid, false, 0)
    if (typeof found === 'string') return found
  }

  return undefined
}

/** `entryBelow`: whether `path` is a directory above an existing entry that was checked already. */
function check(path: string, uid: number, entryBelow: boolean, links: number): string | undefined {
  let below = entryBelow
  for (let current = path; ; current = dirname(current)) {
    const found = checkOne(current, uid, below, links)
    if (typeof found === 'string') return found
    below = found
    const parent = dirname(current)
    if (parent === current) return undefined
  }
}

/**
 * One path, and the whole of a symbolic link's target if it is one: why it may not be trusted, or
 * whether it exists (a missing path passes).
 */
function checkOne(path: string, uid: number, entryBelow: boolean, links: number): boolean | string {
  if (links > 40) return `${path} has too many levels of symbolic links`
  let info: Stats | undefined
  let target: string | undefined
  try {
    info = lstatSync(path, {throwIfNoEntry: false})
    if (info?.isSymbolicLink()) target = resolve(dirname(path), readlinkSync(path))
  } catch (error) {
    return `${path} cannot be checked (${(error as NodeJS.ErrnoException).code})`
  }

  if (!info) return false
  if (info.uid !== uid && info.uid !== 0) return `${path} is owned by uid ${info.uid}`
  if (target !== undefined) return check(target, uid, entryBelow, links + 1) ?? true
  if ((info.mode & 0o022) !== 0 && !(entryBelow && info.isDirectory() && (info.mode & 0o1000) !== 0)) {
    const mode = (info.mode & 0o7777).toString(8).padStart(4, '0')
    return `${path} is writable by ${(info.mode & 0o002) === 0 ? 'its group' : 'other users'} (mode ${mode})`
  }

  return true
}
