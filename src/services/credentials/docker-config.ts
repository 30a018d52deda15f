import {randomBytes} from 'node:crypto'
import {constants as fsConstants} from 'node:fs'
import {chmod, chown, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat} from 'node:fs/promises'
import {dirname, isAbsolute, join, resolve} from 'node:path'

import type {Tracer} from '../telemetry/tracer.js'

import {userHome} from '../../startup/home.js'
import {DockerConfigError, describeError} from '../errors.js'

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
 * Docker finds it ($HOME, else the user database: src/startup/home.ts). Never relative to the
 * current directory, which an empty HOME gave through os.homedir(): with no home to be found,
 * this throws rather than guess.
 */
export function resolveDockerConfigPath(options: DockerConfigPathOptions = {}): string {
  const env = options.env ?? process.env
  if (options.flag) return resolve(options.flag)
  if (env.DOCKER_CONFIG) return resolve(env.DOCKER_CONFIG, 'config.json')
  const home = options.home ?? userHome(env)
  if (home === undefined) {
    throw new DockerConfigError('Cannot find your home directory for the Docker config (HOME is not an absolute path, and the user database has none); set HOME, DOCKER_CONFIG or --docker-config', '')
  }

  return join(home, '.docker', 'config.json')
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
  const kept = Object.fromEntries(Object.entries(previous ?? {}).filter(([name]) => !OWNED_ENTRY_FIELDS.includes(name)))
  return {...kept, ...fields}
}

export interface LoadedConfig {
  data: DockerConfigData
  /** Whether the file existed (an absent file reads as an empty config). */
  exists: boolean
}

/** A pure, synchronous edit of the config data (it may run twice: see DockerConfigFile.update). */
export type ConfigMutator = (data: DockerConfigData) => void

export class DockerConfigFile {
  constructor(
    readonly path: string,
    private readonly tracer?: Tracer,
  ) {}

  async load(): Promise<LoadedConfig> {
    return this.tracer ? this.tracer.method('config read', () => this.read()) : this.read()
  }

  private async read(): Promise<LoadedConfig> {
    let text: string
    try {
      const info = await stat(this.path)
      if (info.isDirectory()) {
        throw new DockerConfigError(`Docker config ${this.path} is a directory, not a file`, this.path)
      }

      text = await readFile(this.path, 'utf8')
    } catch (error) {
      if (error instanceof DockerConfigError) throw error
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return {data: {}, exists: false}
      throw new DockerConfigError(`Docker config ${this.path} cannot be read: ${describeFsError(error)}`, this.path, {cause: error})
    }

    // Docker treats an empty file as an empty config; so do we.
    if (text.trim() === '') return {data: {}, exists: true}
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw new DockerConfigError(`Docker config ${this.path} is not valid JSON (${describeError(error)}); fix or move it, regshape will not overwrite it`, this.path, {cause: error})
    }

    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new DockerConfigError(`Docker config ${this.path} is not a JSON object; fix or move it, regshape will not overwrite it`, this.path)
    }

    const data = parsed as DockerConfigData
    checkShape(data, this.path)
    return {data, exists: true}
  }

  /**
   * Read-modify-write under a lock file, so that concurrent regshape processes never lose each
   * other's changes. `mutate` must be a pure edit of the data: it is first tried on a copy without
   * the lock (on `snapshot`, if the caller has just loaded the file), and if nothing would change,
   * nothing is locked or written (a read-only or secret-managed config keeps working); otherwise it
   * is applied again to the file as read under the lock.
   */
  async update(mutate: ConfigMutator, snapshot?: DockerConfigData): Promise<{changed: boolean}> {
    const step = <T>(name: string, operation: () => Promise<T>) => (this.tracer ? this.tracer.step(name, operation) : operation())
    const current = snapshot ?? (await step('load config', () => this.load())).data
    const probe = structuredClone(current)
    mutate(probe)
    if (JSON.stringify(probe) === JSON.stringify(current)) return {changed: false}
    return step('save', async () => {
      const target = await resolveSymlinks(this.path)
      const release = await this.lock(target)
      try {
        const {data} = await this.load()
        const before = JSON.stringify(data)
        mutate(data)
        if (JSON.stringify(data) === before) return {changed: false}
        await this.write(data, target)
        return {changed: true}
      } finally {
        await release()
      }
    })
  }

  /** Atomic replace: a temp file in the target's own directory, 0600, fsync, rename. */
  async write(data: DockerConfigData, target?: string): Promise<void> {
    const replace = async () => this.replace(data, target ?? (await resolveSymlinks(this.path)))
    return this.tracer ? this.tracer.method('config write', replace) : replace()
  }

  /**
   * Takes `<config>.lock` (a directory, created atomically). A lock whose holder died is taken over
   * once it has not been refreshed for LOCK_STALE_MS; waiting gives up after about 30 s.
   */
  private async lock(target: string): Promise<() => Promise<void>> {
    await this.ensureDirectory(dirname(target))
    const {default: lockfile} = await import('proper-lockfile')
    const lockfilePath = `${target}.lock`
    try {
      await lockfile.lock(target, {
        lockfilePath,
        realpath: false,
        retries: {factor: 1.3, maxTimeout: 300, minTimeout: 15, randomize: true, retries: 120},
        stale: LOCK_STALE_MS,
        update: LOCK_STALE_MS / 2,
      })
      // Released synchronously: proper-lockfile's own (async) release forgets the lock before its
      // directory is gone, and a Ctrl-C re-raised after the save (deferSignals) landing in between
      // would leave the directory behind, as its exit handler no longer knows it.
      return async () => lockfile.unlockSync(target, {lockfilePath, realpath: false})
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ELOCKED') {
        throw new DockerConfigError(`Docker config ${this.path} stayed locked by another process (${target}.lock); try again`, this.path, {cause: error})
      }

      throw new DockerConfigError(`Docker config ${this.path} cannot be locked: ${describeFsError(error)}`, this.path, {cause: error})
    }
  }

  private async ensureDirectory(directory: string): Promise<void> {
    try {
      await mkdir(directory, {mode: 0o700, recursive: true})
    } catch (error) {
      throw new DockerConfigError(`directory ${directory} cannot be created: ${describeFsError(error)}`, this.path, {cause: error})
    }
  }

  private async replace(data: DockerConfigData, target: string): Promise<void> {
    const directory = dirname(target)
    await this.ensureDirectory(directory)
    await removeOrphanedTemporaries(directory, basenameOf(target))
    const existing = await stat(target).catch(() => undefined)
    const temporary = join(directory, `.${basenameOf(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    // Docker's own formatting: tab indentation, no trailing newline.
    const text = JSON.stringify(data, null, '\t')
    // Ctrl-C or kill between creating the temporary and the rename would leave it behind: such
    // signals wait until the file is either in place or cleaned up, then take effect.
    const deferred = deferSignals()
    try {
      const handle = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600)
      try {
        await handle.writeFile(text, 'utf8')
        await handle.sync()
      } finally {
        await handle.close()
      }

      if (existing) await keepOwnershipAndMode(temporary, existing)
      await testPause()
      await rename(temporary, target)
    } catch (error) {
      await rm(temporary, {force: true})
      throw new DockerConfigError(`Docker config ${target} cannot be written: ${describeFsError(error)}`, this.path, {cause: error})
    } finally {
      deferred.resume()
    }
  }
}

/** How long a lock may go without being refreshed before it counts as abandoned. */
const LOCK_STALE_MS = 3000
const DEFERRED_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const

/** Holds SIGINT/SIGTERM/SIGHUP back during a short critical section, then re-raises the first one. */
function deferSignals(): {resume(): void} {
  let received: NodeJS.Signals | undefined
  const hold = (signal: NodeJS.Signals) => {
    received ??= signal
  }

  for (const signal of DEFERRED_SIGNALS) process.on(signal, hold)
  return {
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
async function removeOrphanedTemporaries(directory: string, base: string): Promise<void> {
  const pattern = new RegExp(`^\\.${base.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`)
  const names = await readdir(directory).catch(() => [] as string[])
  for (const name of names) {
    const match = pattern.exec(name)
    if (match && !isAlive(Number(match[1]))) await rm(join(directory, name), {force: true})
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

/**
 * A pause inside the critical section, for the tests that kill or interrupt a writer mid-save.
 * Not a user setting.
 */
async function testPause(): Promise<void> {
  const ms = Number(process.env.REGSHAPE_TEST_SAVE_PAUSE_MS)
  if (ms > 0) await new Promise((resolvePromise) => setTimeout(resolvePromise, ms))
}

/** Keep a tighter mode and, when running as root, the owner: `sudo regshape` must not steal the file. */
async function keepOwnershipAndMode(temporary: string, existing: {gid: number; mode: number; uid: number}): Promise<void> {
  // Never widen beyond 0600: the file holds passwords.
  await chmod(temporary, existing.mode & 0o600)
  if (process.getuid?.() === 0 && (existing.uid !== 0 || existing.gid !== 0)) {
    await chown(temporary, existing.uid, existing.gid)
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

/** The parts regshape reads must have the types Docker gives them, or we would misread them. */
function checkShape(data: DockerConfigData, path: string): void {
  const bad = (what: string) =>
    new DockerConfigError(`Docker config ${path}: "${what}" has the wrong type; fix or move the file, regshape will not overwrite it`, path)
  if (data.auths !== undefined && !isPlainObject(data.auths)) throw bad('auths')
  if (data.auths) {
    for (const [key, entry] of Object.entries(data.auths)) {
      if (!isPlainObject(entry)) throw bad(`auths.${key}`)
    }
  }

  if (data.credHelpers !== undefined && !isPlainObject(data.credHelpers)) throw bad('credHelpers')
  if (data.credsStore !== undefined && typeof data.credsStore !== 'string') throw bad('credsStore')
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function describeFsError(error: unknown): string {
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
