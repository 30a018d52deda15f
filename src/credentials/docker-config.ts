import {randomBytes} from 'node:crypto'
import {
  type BigIntStats,
  chmodSync,
  chownSync,
  closeSync,
  constants as fsConstants,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeFileSync,
} from 'node:fs'
import {lstat, readlink} from 'node:fs/promises'
import {dirname, isAbsolute, join, resolve} from 'node:path'

import {NO_TRACER, type Tracer} from '../telemetry/tracer.js'

import {userHome} from '../util/home.js'
import {terminalSafe} from '../util/text.js'
import {DockerConfigError, InputError, describeError} from '../errors.js'
import {JsonSyntaxError, carryRawText, cloneJson, emptyObject, formatConfigJson, parseJson} from './config-json.js'
import {FileTooLargeError, NotRegularFileError, irregularKind, readRegularFileSync, syncDirectory} from '../util/files.js'
import {LockError, acquireLock, describeBusyLock} from '../util/lock.js'

/**
 * Docker's config.json: where it is, how to read it, and how to change it without losing anything.
 *
 * regshape owns only `auths` entries (and reads `credsStore`/`credHelpers`); every other key, known
 * to Docker or not, is carried through a rewrite untouched and in its original order.
 */

export interface AuthEntry {
  auth?: string
  email?: string
  identitytoken?: string
  password?: string
  registrytoken?: string
  username?: string
  [key: string]: unknown
}

export interface DockerConfigData {
  auths?: Record<string, AuthEntry>
  credHelpers?: Record<string, string>
  credsStore?: string
  [key: string]: unknown
}

export interface DockerConfigPathOptions {
  /** --docker-config */
  flag?: string
  /** DOCKER_CONFIG, and HOME when `home` is not given */
  env?: NodeJS.ProcessEnv
  home?: string
}

/**
 * --docker-config, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json, with the home as
 * Docker finds it ($HOME, else the user database: src/util/home.ts). Never relative to the
 * current directory, which an empty HOME gave through os.homedir(): with no home to be found,
 * this throws rather than guess.
 */
export function resolveDockerConfigPath(options: DockerConfigPathOptions = {}): string {
  const env = options.env ?? process.env
  if (options.flag) return resolve(notWindowsPath(options.flag, '--docker-config'))
  if (env.DOCKER_CONFIG) return resolve(notWindowsPath(env.DOCKER_CONFIG, 'DOCKER_CONFIG'), 'config.json')
  const home = options.home ?? userHome(env)
  if (home === undefined) {
    throw new DockerConfigError('Cannot find your home directory for the Docker config (HOME is not an absolute path, and the user database has none); set HOME, DOCKER_CONFIG or --docker-config', '')
  }

  return join(home, '.docker', 'config.json')
}

/**
 * `C:\Users\me\.docker\config.json` given on Linux or macOS would name a file called just that in
 * the current directory: refused, since it was certainly meant for Windows.
 */
function notWindowsPath(path: string, source: string, platform = process.platform): string {
  if (platform !== 'win32' && (/^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\'))) {
    throw new InputError(`${source} is a Windows path (${terminalSafe(path)}); on ${platform} give a path such as ~/.docker/config.json`)
  }

  return path
}

/** The fields of an `auths` entry that regshape writes; everything else in an entry is kept. */
const OWNED_ENTRY_FIELDS = ['auth', 'username', 'password', 'identitytoken', 'registrytoken', 'email', 'serveraddress']

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64')
}

/** Splits at the first colon, as Docker does: passwords may contain ':', usernames may not. */
export function decodeAuth(auth: string): undefined | {password: string; username: string} {
  const decoded = Buffer.from(auth, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return undefined
  return {password: decoded.slice(colon + 1).replaceAll('\0', ''), username: decoded.slice(0, colon)}
}

/** An entry replacing `previous` in `auths`, keeping the fields regshape does not own. */
export function authEntryWith(previous: AuthEntry | undefined, fields: AuthEntry): AuthEntry {
  const entry = emptyObject<AuthEntry>()
  for (const [name, value] of Object.entries(previous ?? {})) {
    if (OWNED_ENTRY_FIELDS.includes(name)) continue
    entry[name] = value
    carryRawText(previous as AuthEntry, name, entry, name)
  }

  for (const [name, value] of Object.entries(fields)) entry[name] = value
  return entry
}

/**
 * `map[key]` for config data: only the map's own entries count, so a registry called
 * `constructor` or `toString` is an ordinary name even in an object that has a prototype.
 */
export function own<T>(map: Record<string, T> | undefined, key: string): T | undefined {
  return map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined
}

export interface LoadedConfig {
  data: DockerConfigData
  /** What was read (device, inode, size, mtime), to see whether the file changed since. */
  identity?: string
}

/** Larger than any real config.json; keeps a wrong --docker-config from filling memory. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024

/**
 * How often a save reads the file again and re-applies its change when another program (docker,
 * which never locks) replaced the file between the read and the rename; the pauses between tries
 * grow at random up to RETRY_PAUSE_MAX_MS, about nine seconds in all at most (12 tries were too few
 * on a loaded machine against a writer that rewrites the file every 5 ms).
 */
const SAVE_ATTEMPTS = 40
const RETRY_PAUSE_MAX_MS = 250

/** A pure, synchronous edit of the config data (it may run several times: see DockerConfigFile.update). */
export type ConfigMutator = (data: DockerConfigData) => void

export class DockerConfigFile {
  constructor(
    readonly path: string,
    private readonly tracer: Tracer = NO_TRACER,
  ) {}

  async load(): Promise<LoadedConfig> {
    return this.tracer.method('config read', async () => this.read())
  }

  /**
   * Synchronous, as is replace() up to its rename: under the lock, a save reads the file,
   * re-applies its change, writes and renames in one stretch. Asynchronous, each of its ~17
   * steps waited for a thread of libuv's pool and then for the main thread to be scheduled again;
   * on a loaded machine that stretched it to tens of milliseconds, and a writer that takes no
   * lock (docker) rewriting the file in a loop landed in it try after try. config.json is small
   * (MAX_CONFIG_BYTES).
   */
  private read(): LoadedConfig {
    let bytes: Buffer
    let identity: string
    try {
      const read = readRegularFileSync(this.path, MAX_CONFIG_BYTES)
      identity = identityOf(read.info)
      bytes = read.bytes
    } catch (error) {
      if (error instanceof NotRegularFileError) throw irregular(error.kind, this.path)
      if (error instanceof FileTooLargeError) throw new DockerConfigError(`Docker config ${this.path} is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB; regshape will not read it`, this.path)
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return {data: emptyObject(), identity: 'absent'}
      throw new DockerConfigError(`Docker config ${this.path} cannot be read: ${describeFsError(error)}`, this.path, {cause: error})
    }

    // A UTF-8 byte order mark (Windows editors write one) is not part of the JSON.
    const text = bytes.toString('utf8').replace(/^\uFEFF/, '')
    // Docker treats an empty file as an empty config; so do we.
    if (text.trim() === '') return {data: emptyObject(), identity}
    let parsed: ReturnType<typeof parseJson>
    try {
      parsed = parseJson(text)
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error
      // Where, never what: the text around the mistake may be a password.
      throw new DockerConfigError(
        `Docker config ${this.path} is not valid JSON (${error.reason} at line ${error.line}, column ${error.column}); fix or move it, regshape will not overwrite it`,
        this.path,
      )
    }

    if (!parsed.rootEntries) {
      throw new DockerConfigError(`Docker config ${this.path} is not a JSON object; fix or move it, regshape will not overwrite it`, this.path)
    }

    const data = foldTopLevel(parsed.rootEntries, parsed.value as object)
    checkShape(data, this.path)
    return {data, identity}
  }

  /**
   * Read-modify-write under a lock file, so that concurrent regshape processes never lose each
   * other's changes. `mutate` must be a pure edit of the data: it is first tried on a copy without
   * the lock (on `snapshot`, if the caller has just loaded the file), and if nothing would change,
   * nothing is locked or written (a read-only or secret-managed config keeps working); otherwise it
   * is applied again to the file as read under the lock. If another program replaces the file
   * before ours is renamed over it, ours is not renamed: the file is read again and the change
   * re-applied, up to SAVE_ATTEMPTS times.
   */
  async update(mutate: ConfigMutator, snapshot?: DockerConfigData): Promise<{changed: boolean}> {
    const step = <T>(name: string, operation: () => Promise<T>) => this.tracer.step(name, operation)
    const current = snapshot ?? (await step('load config', () => this.load())).data
    const probe = cloneJson(current)
    mutate(probe)
    if (JSON.stringify(probe) === JSON.stringify(current)) return {changed: false}
    return step('save', async () => {
      const target = await resolveSymlinks(this.path)
      await this.refuseIrregular(target)
      // Ctrl-C or kill from here on waits until the lock is released and nothing is half done.
      const deferred = deferSignals()
      try {
        const lock = await this.lock(target, deferred.received)
        try {
          for (let attempt = 1; ; attempt++) {
            const {data, identity} = await this.load()
            const before = JSON.stringify(data)
            mutate(data)
            if (JSON.stringify(data) === before) return {changed: false}
            try {
              const replace = () => this.replace(data, target, identity)
              await this.tracer.method('config write', replace)
              return {changed: true}
            } catch (error) {
              if (!(error instanceof ChangedMeanwhile)) throw error
              // Somebody wrote the file without our lock (docker itself never locks), or took the
              // lock from us (possible only across hosts): never overwrite what we did not read.
              if (attempt >= SAVE_ATTEMPTS || !(await lock.stillHeld())) {
                throw new DockerConfigError(`Docker config ${this.path} was changed by another program while regshape was saving it; nothing was written, try again`, this.path)
              }

              // Read again and re-apply after a random pause, so that a writer rewriting the file
              // in a loop and this process do not keep meeting at the same moment.
              await new Promise((resolvePromise) => setTimeout(resolvePromise, Math.random() * Math.min(RETRY_PAUSE_MAX_MS, 5 * 2 ** attempt)))
            }
          }
        } finally {
          await lock.release()
        }
      } finally {
        deferred.resume()
      }
    })
  }

  /** Atomic replace: a temp file in the target's own directory, 0600, fsync, rename. */
  async write(data: DockerConfigData, target?: string): Promise<void> {
    const replace = async () => {
      const resolved = target ?? (await resolveSymlinks(this.path))
      await this.refuseIrregular(resolved)
      const deferred = deferSignals()
      try {
        await this.replace(data, resolved)
      } finally {
        deferred.resume()
      }
    }

    return this.tracer.method('config write', replace)
  }

  /** Never rename a regular file over a device, a FIFO or a socket someone pointed us at. */
  private async refuseIrregular(target: string): Promise<void> {
    const info = await lstat(target).catch(() => undefined)
    if (info) checkRegularFile(info, this.path)
  }

  /**
   * Takes `<config>.lock` (see ../lock.ts: a live holder, even a stopped one, never loses it).
   * Only a busy lock is waited for, while its holder shows progress; anything else fails at once
   * with its reason.
   */
  private async lock(target: string, interrupted: () => boolean) {
    this.ensureDirectory(dirname(target))
    const lockPath = `${target}.lock`
    try {
      return await acquireLock(lockPath, interrupted)
    } catch (error) {
      if (!(error instanceof LockError)) throw error
      const {problem} = error
      switch (problem.kind) {
        case 'busy': {
          throw new DockerConfigError(`Docker config ${this.path} stayed locked: ${describeBusyLock(problem)} (${lockPath}); try again, or end that process if it is stuck`, this.path)
        }

        case 'interrupted': {
          throw new DockerConfigError(`Docker config ${this.path}: interrupted while waiting for its lock`, this.path)
        }

        case 'not-a-directory': {
          throw new DockerConfigError(`Docker config ${this.path} cannot be locked: ${lockPath} is in the way (it is not a directory); remove it`, this.path)
        }

        case 'fs': {
          throw new DockerConfigError(`Docker config ${this.path} cannot be locked (${lockPath}): ${describeFsError(problem.cause)}`, this.path, {cause: problem.cause})
        }
      }
    }
  }

  private ensureDirectory(directory: string): void {
    try {
      mkdirSync(directory, {mode: 0o700, recursive: true})
    } catch (error) {
      throw new DockerConfigError(`directory ${directory} cannot be created: ${describeFsError(error)}`, this.path, {cause: error})
    }
  }

  /** With `expected`, the rename happens only if the target is still the file that was read. */
  private async replace(data: DockerConfigData, target: string, expected?: string): Promise<void> {
    // Synchronous up to the rename, for the reason read() gives.
    const directory = dirname(target)
    this.ensureDirectory(directory)
    removeOrphanedTemporaries(directory, basenameOf(target))
    const existing = statSync(target, {throwIfNoEntry: false})
    const temporary = join(directory, `.${basenameOf(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    // Docker's own formatting: tab indentation, no trailing newline.
    const text = formatConfigJson(data)
    // The caller holds SIGINT/SIGTERM/SIGHUP back, so the temporary is either renamed or removed.
    try {
      const fd = openSync(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600)
      try {
        writeFileSync(fd, text, 'utf8')
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }

      if (existing) keepOwnershipAndMode(temporary, existing)
      if (expected !== undefined) {
        const now = statSync(target, {bigint: true, throwIfNoEntry: false})
        if ((now ? identityOf(now) : 'absent') !== expected) throw new ChangedMeanwhile()
      }

      renameSync(temporary, target)
      // The new name flushed too: after a crash, config.json is the old file or the new one, whole.
      await syncDirectory(directory)
    } catch (error) {
      rmSync(temporary, {force: true})
      if (error instanceof ChangedMeanwhile) throw error
      throw new DockerConfigError(`Docker config ${target} cannot be written: ${describeFsError(error)}`, this.path, {cause: error})
    }
  }
}

class ChangedMeanwhile extends Error {}

const DEFERRED_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const

/** Holds SIGINT/SIGTERM/SIGHUP back during a short critical section, then re-raises the first one. */
function deferSignals(): {received(): boolean; resume(): void} {
  let received: NodeJS.Signals | undefined
  const hold = (signal: NodeJS.Signals) => {
    received ??= signal
  }

  for (const signal of DEFERRED_SIGNALS) process.on(signal, hold)
  return {
    received: () => received !== undefined,
    resume() {
      for (const signal of DEFERRED_SIGNALS) process.removeListener(signal, hold)
      if (!received) return
      // Re-raised with our listener gone: the default action (or the lock library's cleanup) runs.
      // A listener runs on a later turn of the event loop, so one more turn must come even if
      // nothing else is left to do; the process ends there, by the signal.
      setTimeout(() => {}, 1000)
      process.kill(process.pid, received)
    },
  }
}

/**
 * Temporaries left by a writer that was killed (SIGKILL cannot be caught). Called under the lock,
 * so no live regshape is writing one; the pid check guards against a lock taken over too early.
 */
function removeOrphanedTemporaries(directory: string, base: string): void {
  const pattern = new RegExp(`^\\.${base.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`)
  let names: string[]
  try {
    names = readdirSync(directory)
  } catch {
    return
  }

  for (const name of names) {
    const match = pattern.exec(name)
    if (match && !isAlive(Number(match[1]))) rmSync(join(directory, name), {force: true})
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Keep a tighter mode and, when running as root, the owner: `sudo regshape` must not steal the file. */
function keepOwnershipAndMode(temporary: string, existing: {gid: number; mode: number; uid: number}): void {
  // Never widen beyond 0600: the file holds passwords.
  chmodSync(temporary, existing.mode & 0o600)
  if (process.getuid?.() === 0 && (existing.uid !== 0 || existing.gid !== 0)) {
    chownSync(temporary, existing.uid, existing.gid)
  }
}

/** Follows a chain of symlinks, dangling or relative ones included, to the file to replace. */
async function resolveSymlinks(path: string): Promise<string> {
  let current = resolve(path)
  for (let hops = 0; hops < 40; hops++) {
    const info = await lstat(current).catch(() => undefined)
    if (!info?.isSymbolicLink()) return current
    const link = await readlink(current)
    current = isAbsolute(link) ? link : resolve(dirname(current), link)
  }

  throw new DockerConfigError(`Docker config ${path}: too many levels of symbolic links`, path)
}

function basenameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/**
 * The root object as Docker's decoder (Go's encoding/json into cli/config/configfile.ConfigFile)
 * sees it, so that a rewrite keeps every entry docker would have used:
 * - a repeated key whose values are both objects merges them, later members winning (Go decodes
 *   into the map the field already holds; every map-typed field of ConfigFile does this);
 * - otherwise a repeated key's last value wins (strings, slices);
 * - a key matches a field case-insensitively (`"Auths"` is `auths`), as Go's decoder matches;
 * - `"auths": null` and `"credHelpers": null` are empty maps; `"credsStore": null` changes nothing
 *   (null decodes into a Go string as a no-op); a null `auths` entry is an empty entry and a null
 *   `credHelpers` value an empty helper name, as Go's zero values.
 */
function foldTopLevel(entries: Array<[string, unknown]>, root: object): DockerConfigData {
  const data = emptyObject<DockerConfigData>()
  for (const [written, value] of entries) {
    const key = goFieldName(written)
    const previous = own(data, key)
    if (isPlainObject(previous) && isPlainObject(value)) {
      for (const [inner, item] of Object.entries(value)) {
        previous[inner] = item
        carryRawText(value, inner, previous, inner)
      }
    } else if (!(key === 'credsStore' && value === null)) {
      // A fresh copy: the merge above must not write into an object the parser handed out twice.
      data[key] = isPlainObject(value) ? cloneJson(value) : value
      // The text as written, kept for an unchanged rewrite (formatConfigJson checks it still fits).
      carryRawText(root, written, data, key)
    }
  }

  for (const key of ['auths', 'credHelpers'] as const) if (own(data, key) === null) data[key] = emptyObject<Record<string, never>>()
  const {auths, credHelpers} = data
  if (isPlainObject(auths)) for (const [key, entry] of Object.entries(auths)) auths[key] = entry === null ? emptyObject() : (canonicalEntry(entry) as AuthEntry)
  if (isPlainObject(credHelpers)) for (const [key, helper] of Object.entries(credHelpers)) if (helper === null) credHelpers[key] = ''
  return data
}

/** The fields of docker's AuthConfig; in an entry they match case-insensitively too. */
const AUTH_CONFIG_FIELDS = new Map(OWNED_ENTRY_FIELDS.map((name) => [name, name]))

/** An `auths` entry with docker's field names spelled as docker writes them (`"Auth"` is `auth`). */
function canonicalEntry(entry: unknown): unknown {
  if (!isPlainObject(entry)) return entry
  const result = emptyObject()
  for (const [key, value] of Object.entries(entry)) {
    const field = goFieldName(key, AUTH_CONFIG_FIELDS)
    result[field] = value
    carryRawText(entry, key, result, field)
  }

  return result
}

const FIELDS_REGSHAPE_READS = new Map(['auths', 'credHelpers', 'credsStore'].map((name) => [name.toLowerCase(), name]))

/**
 * The field of ConfigFile that Go's encoding/json decodes `key` into, for the fields regshape reads
 * (others pass through as written). Go folds case with Unicode simple folding; among the letters of
 * these names (and of AuthConfig's) only `s` and `k` have non-ASCII folds, U+017F and U+212A.
 */
function goFieldName(key: string, fields = FIELDS_REGSHAPE_READS): string {
  const folded = key.replaceAll('\u017F', 's').replaceAll('\u212A', 'k')
  if (!/^[A-Za-z]+$/.test(folded)) return key
  return fields.get(folded.toLowerCase()) ?? key
}

/** The parts regshape reads must have the types Docker gives them, or we would misread them. */
function checkShape(data: DockerConfigData, path: string): void {
  const bad = (what: string) =>
    new DockerConfigError(`Docker config ${path}: "${what}" has the wrong type; fix or move the file, regshape will not overwrite it`, path)
  const auths = own(data, 'auths')
  if (auths !== undefined && !isPlainObject(auths)) throw bad('auths')
  if (auths) {
    for (const [key, entry] of Object.entries(auths)) {
      if (!isPlainObject(entry)) throw bad(`auths.${key}`)
    }
  }

  const credHelpers = own(data, 'credHelpers')
  if (credHelpers !== undefined && !isPlainObject(credHelpers)) throw bad('credHelpers')
  if (credHelpers) {
    for (const [key, helper] of Object.entries(credHelpers)) {
      if (typeof helper !== 'string') throw bad(`credHelpers.${key}`)
    }
  }

  const credsStore = own(data, 'credsStore')
  if (credsStore !== undefined && typeof credsStore !== 'string') throw bad('credsStore')
}

/** A clear refusal for anything but a regular file (or a link to one) as config.json. */
function checkRegularFile(info: BigIntStats | Stats, path: string): void {
  const kind = irregularKind(info)
  if (kind) throw irregular(kind, path)
}

function irregular(kind: string, path: string): DockerConfigError {
  if (kind === 'a directory') return new DockerConfigError(`Docker config ${path} is a directory, not a file`, path)
  return new DockerConfigError(`Docker config ${path} is ${kind}, not a regular file; regshape neither reads nor replaces it`, path)
}

function identityOf(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A file system error in a few words (`permission denied`), for a message naming the file. */
export function describeFsError(error: unknown): string {
  const err = error as NodeJS.ErrnoException
  switch (err.code) {
    case 'EACCES':
    case 'EPERM': {
      return 'permission denied'
    }

    case 'EISDIR': {
      return 'it is a directory'
    }

    case 'ENOTDIR': {
      return 'a parent path is not a directory'
    }

    case 'EROFS': {
      return 'read-only file system'
    }

    default: {
      return err.code ?? describeError(error)
    }
  }
}
