import crypto from 'node:crypto'
import {closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import {basename, dirname, join, sep} from 'node:path'
import {Script} from 'node:vm'

/**
 * A V8 code cache for regshape's own CommonJS bundles on Node versions without
 * module.enableCompileCache (Node 20): the same idea as v8-compile-cache, limited to the files
 * under one directory.
 *
 * - Each file is compiled through vm.Script with the cached data of an earlier run, which spares
 *   V8 parsing and compiling what that run compiled.
 * - The cache file's name carries a hash of the source, the Node version and the architecture, so
 *   a cache never meets a different bundle: V8 itself checks only the source's length, its own
 *   version and its flags.
 * - A cache that is missing or that V8 rejected is written when the process exits, so it holds
 *   everything this run compiled; atomically (a temporary file renamed into place), so concurrent
 *   runs never read half a file. Older caches of the same file are then removed.
 * - Nothing here is ever fatal: a cache directory that cannot be created or written (read-only,
 *   full, not ours) only means no cache.
 * - A dynamic import() cannot run in a script given cached data on Node 20 (its host-defined
 *   options do not survive the cache), so the bundles call __regshapeHostImport instead, which
 *   this passes in as a seventh parameter of the module wrapper (scripts/bundle.mjs).
 */

export interface CodeCacheOptions {
  /** Where the cache files live; created on the first write. */
  directory: string
  /** import() on behalf of the bundles. */
  hostImport: (specifier: string) => Promise<unknown>
  /** Only .cjs files under this directory get a cache; others are left to Node. */
  scope: string
}

type Loader = (this: unknown, module: Module, filename: string) => void

interface Pending {
  cacheFile: string
  script: Script
}

const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname, __regshapeHostImport) { '
const WRAPPER_TAIL = '\n});'

/** Compiles .cjs files under `options.scope` with a code cache from now on. */
export function installCodeCache(options: CodeCacheOptions): void {
  const extensions = (Module as unknown as {_extensions: Record<string, Loader>})._extensions
  const fallback = extensions['.cjs'] ?? extensions['.js']
  const scope = options.scope.endsWith(sep) ? options.scope : `${options.scope}${sep}`
  const pending: Pending[] = []
  extensions['.cjs'] = function (module, filename) {
    if (!filename.startsWith(scope)) return fallback.call(this, module, filename)
    const written = compile(module, filename, options)
    if (written && pending.push(written) === 1) process.once('exit', () => pending.forEach((entry) => writeCache(entry)))
  }
}

/** Runs one file as a CommonJS module; returns what to write at exit, if its cache needs writing. */
function compile(module: Module, filename: string, options: CodeCacheOptions): Pending | undefined {
  const content = readFileSync(filename)
  const hash = sha1(content).slice(0, 16)
  const cacheFile = join(options.directory, `${basename(filename, '.cjs')}-${cacheKeyPrefix()}${hash}.v8cache`)
  const cachedData = readCache(cacheFile)

  const script = new Script(WRAPPER_HEAD + content.toString('utf8') + WRAPPER_TAIL, {cachedData, filename})
  const wrapper = script.runInThisContext({displayErrors: true}) as (...args: unknown[]) => void
  const require = createRequire(filename)
  wrapper.call(module.exports, module.exports, require, module, filename, dirname(filename), options.hostImport)
  return cachedData === undefined || script.cachedDataRejected ? {cacheFile, script} : undefined
}

/**
 * V8 checks only a cache's length against the source, so a cache file is code: one that someone
 * else could have written (theirs, or writable by group or others) is left unread, and replaced
 * at exit. The directory itself was checked by ./prepare.ts.
 */
function readCache(cacheFile: string): Buffer | undefined {
  let fd: number | undefined
  try {
    fd = openSync(cacheFile, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK)
    const info = fstatSync(fd)
    const uid = process.getuid?.()
    if (!info.isFile() || (uid !== undefined && ((info.uid !== uid && info.uid !== 0) || (info.mode & 0o022) !== 0))) return undefined
    return readFileSync(fd)
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function sha1(content: Buffer): string {
  // crypto.hash (one call, no Hash object) from Node 20.12 on
  const {hash} = crypto as unknown as {hash?: (algorithm: string, data: Buffer) => string}
  return hash ? hash('sha1', content) : crypto.createHash('sha1').update(content).digest('hex')
}

/** The part of a cache file's name shared by every version of the same file on this Node. */
function cacheKeyPrefix(): string {
  return `node${process.version}-${process.arch}-`
}

function writeCache({cacheFile, script}: Pending): void {
  const temporary = `${cacheFile}.${process.pid}.tmp`
  try {
    const data = script.createCachedData()
    const directory = dirname(cacheFile)
    // private, as ./private-dir.ts requires of a cache it reads (the user's umask may say 002)
    mkdirSync(directory, {mode: 0o700, recursive: true})
    writeFileSync(temporary, data, {mode: 0o600})
    renameSync(temporary, cacheFile)
    removeOthers(cacheFile)
  } catch {
    // no cache this time: a read-only or full disk must never break a command
    try {
      rmSync(temporary, {force: true})
    } catch {}
  }
}

/** The same file's caches for its earlier versions on this Node, and temporaries left by killed runs. */
function removeOthers(cacheFile: string): void {
  const directory = dirname(cacheFile)
  const name = basename(cacheFile)
  const stem = name.slice(0, name.lastIndexOf('-') + 1)
  const abandoned = Date.now() - 10 * 60 * 1000
  for (const other of readdirSync(directory)) {
    if (other === name || !other.startsWith(stem)) continue
    const path = join(directory, other)
    const stale = other.endsWith('.v8cache') || (other.endsWith('.tmp') && (statSync(path, {throwIfNoEntry: false})?.mtimeMs ?? Infinity) < abandoned)
    if (stale) rmSync(path, {force: true})
  }
}
