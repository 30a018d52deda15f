import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {link, lstat, mkdir, readdir, rename, rm, rmdir, unlink, utimes, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import {basename, dirname, join} from 'node:path'

import {readRegularFile} from './files.js'

/**
 * `<file>.lock` (config.json's, an OCI layout's index.json): a directory holding one `owner` file (pid, process start time, host, nonce).
 *
 * Why not proper-lockfile (mtime-refreshed, stale after a few seconds): a holder that is merely
 * stopped (Ctrl-Z, SIGSTOP, a paused VM) stops refreshing, loses the lock to the next writer,
 * then resumes and renames over that writer's save. Here a lock on this host is taken over only
 * when its owner process is gone (no such pid, a zombie, or a pid reused by a younger process),
 * which a live process, stopped or not, never is. Node has no flock(), and the npm packages that
 * offer one are native add-ons. Only a lock written from another host (a shared home directory)
 * falls back to time: its holder refreshes it, and it counts as abandoned after FOREIGN_STALE_MS.
 *
 * The directory appears atomically with its owner file inside (built aside, then renamed into
 * place), so no other process ever sees a lock without an owner, except for a moment while one
 * is taken over or released.
 *
 * How long a contender waits: as long as the lock shows progress, never a fixed time, so that a
 * long queue of writers on a loaded machine (200 logins at once, load above 10) all get through.
 * Progress is a new owner (the queue moves) or the owner's heartbeat: its owner file's mtime,
 * refreshed every HEARTBEAT_MS while held, which a stopped process does not do. A contender gives
 * up when the lock shows no progress for STALL_MS (a holder stopped with Ctrl-Z or SIGSTOP, a
 * frozen VM), or when one live owner has kept it for MAX_HOLD_MS while beating (alive, but stuck:
 * regshape holds these locks for milliseconds).
 */

export type LockProblem =
  | {
      kind: 'busy'
      owner?: LockOwner
      /** `stalled`: no progress for `forMs`; `held-too-long`: one owner for `forMs`, beating. */
      reason: 'held-too-long' | 'stalled'
      forMs: number
    }
  | {kind: 'interrupted'}
  | {kind: 'not-a-directory'}
  | {cause: NodeJS.ErrnoException; kind: 'fs'}

/** A lock that stayed busy: who held it, and which limit of the wait was hit. */
export type BusyLock = Extract<LockProblem, {kind: 'busy'}>

/**
 * Who held a busy lock and why the wait ended, in the words of every lock's message (config.json's,
 * a layout's): `process 4242 has shown no sign of progress for 30 s (stopped?)`, or `… has held it
 * for 120 s` (alive, but stuck).
 */
export function describeBusyLock(problem: BusyLock): string {
  const holder = problem.owner ? `process ${problem.owner.pid}${problem.owner.host === hostname() ? '' : ` on ${problem.owner.host}`}` : 'another process'
  const seconds = `${Math.round(problem.forMs / 1000)} s`
  return problem.reason === 'stalled' ? `${holder} has shown no sign of progress for ${seconds} (stopped?)` : `${holder} has held it for ${seconds}`
}

export class LockError extends Error {
  constructor(readonly problem: LockProblem) {
    super(problem.kind)
  }
}

export interface LockOwner {
  host: string
  nonce: string
  pid: number
  /** Start time of the process, in clock ticks since boot (Linux), to see through pid reuse. */
  start?: string
}

export interface HeldLock {
  /** Whether the lock directory still holds this process's owner file. */
  stillHeld(): Promise<boolean>
  release(): Promise<void>
}

const FOREIGN_STALE_MS = 20_000
/** A holder touches its owner file this often: the sign of life that contenders wait on. */
const HEARTBEAT_MS = 1000
/** A lock directory without an owner file (an old regshape's lock, or a takeover cut short). */
const OWNERLESS_STALE_MS = 3000
/** An owner file is about 100 bytes of JSON; anything much larger is not one. */
const MAX_OWNER_BYTES = 4096

export interface LockPatience {
  /** Give up after this long without progress (no new owner, no heartbeat). */
  stallMs: number
  /** Give up when one owner has held the lock this long, even while beating. */
  maxHoldMs: number
}

export const DEFAULT_PATIENCE: LockPatience = {maxHoldMs: 120_000, stallMs: 30_000}

/**
 * Waits for the lock while it shows progress (see the top of this file). `interrupted` is polled
 * while waiting, so that a deferred Ctrl-C ends the wait promptly, with nothing left behind.
 */
export async function acquireLock(lockPath: string, interrupted: () => boolean = () => false, patience: LockPatience = DEFAULT_PATIENCE): Promise<HeldLock> {
  const me: LockOwner = {host: hostname(), nonce: randomBytes(8).toString('hex'), pid: process.pid, start: startTimeOf(process.pid)}
  const directory = dirname(lockPath)
  await removeAbandonedBuilds(lockPath)
  const build = join(directory, `${basename(lockPath)}.${process.pid}.${randomBytes(4).toString('hex')}.new`)
  try {
    await mkdir(build, {mode: 0o700})
    await writeFile(join(build, 'owner'), JSON.stringify(me), {mode: 0o600})
  } catch (error) {
    await rm(build, {force: true, recursive: true})
    throw new LockError({cause: error as NodeJS.ErrnoException, kind: 'fs'})
  }

  const progress = new ProgressWatch()
  let delay = 10
  let lastOwner: LockOwner | undefined
  try {
    for (;;) {
      try {
        await rename(build, lockPath)
        return held(lockPath, me)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOTDIR') throw new LockError({kind: 'not-a-directory'})
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw new LockError({cause: error as NodeJS.ErrnoException, kind: 'fs'})
      }

      const state = await inspect(lockPath)
      if (state.kind === 'not-a-directory') throw new LockError({kind: 'not-a-directory'})
      if (state.kind === 'gone') continue
      if (state.kind === 'owned') lastOwner = state.owner
      progress.saw(state)
      // Retried at once only when the way is clear; a takeover that fails (no write access to the
      // lock directory, say) is waited out like a busy lock, never spun on.
      if (state.kind === 'owned' && (await isAbandoned(state.owner, lockPath)) && (await takeOver(lockPath, state.owner))) continue
      if (state.kind === 'ownerless' && Date.now() - state.mtimeMs > OWNERLESS_STALE_MS && (await clearOwnerless(lockPath))) continue

      if (interrupted()) throw new LockError({kind: 'interrupted'})
      const stalledFor = progress.stalledFor()
      if (stalledFor > patience.stallMs) throw new LockError({forMs: stalledFor, kind: 'busy', owner: lastOwner, reason: 'stalled'})
      const heldFor = progress.heldFor()
      if (heldFor > patience.maxHoldMs) throw new LockError({forMs: heldFor, kind: 'busy', owner: lastOwner, reason: 'held-too-long'})
      await new Promise((resolvePromise) => setTimeout(resolvePromise, delay * (0.5 + Math.random())))
      delay = Math.min(delay * 1.5, 250)
    }
  } finally {
    await rm(build, {force: true, recursive: true})
  }
}

/**
 * What a contender has seen of the lock: progress is a change of owner (or of an ownerless
 * directory) or a new heartbeat. Times are the contender's own clock; heartbeats are only compared
 * with each other, so clocks of other hosts do not matter.
 */
class ProgressWatch {
  private current?: string
  private heartbeat?: number
  private lastProgress = Date.now()
  private since = Date.now()

  saw(state: LockState): void {
    const now = Date.now()
    const who = state.kind === 'owned' ? `owner ${state.owner.nonce}` : state.kind === 'ownerless' ? `ownerless ${state.mtimeMs}` : 'gone'
    if (who !== this.current) {
      this.current = who
      this.heartbeat = state.kind === 'owned' ? state.heartbeat : undefined
      this.since = now
      this.lastProgress = now
    } else if (state.kind === 'owned' && state.heartbeat !== this.heartbeat) {
      this.heartbeat = state.heartbeat
      this.lastProgress = now
    }
  }

  heldFor(): number {
    return Date.now() - this.since
  }

  stalledFor(): number {
    return Date.now() - this.lastProgress
  }
}

function held(lockPath: string, me: LockOwner): HeldLock {
  const ownerFile = join(lockPath, 'owner')
  // The heartbeat: contenders wait while it goes on; a process on another host also judges the
  // lock abandoned by its age (FOREIGN_STALE_MS).
  const refresh = setInterval(() => {
    const now = new Date()
    utimes(ownerFile, now, now).catch(() => {})
  }, HEARTBEAT_MS)
  refresh.unref()
  const stillHeld = async () => {
    // A contender that moved our owner file aside by mistake puts it back at once.
    for (let attempt = 0; attempt < 5; attempt++) {
      const owner = await readOwner(ownerFile)
      if (owner) return owner.nonce === me.nonce
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 5))
    }

    return false
  }

  return {
    async release() {
      clearInterval(refresh)
      // Never remove a lock that is no longer ours (it was taken over from a process on another host).
      if (!(await stillHeld())) return
      await unlink(ownerFile).catch(() => {})
      // Fails harmlessly if another process has already renamed its own lock into the empty directory.
      await rmdir(lockPath).catch(() => {})
    },
    stillHeld,
  }
}

type LockState =
  | {kind: 'gone'}
  | {kind: 'not-a-directory'}
  | {heartbeat?: number; kind: 'owned'; owner: LockOwner}
  | {kind: 'ownerless'; mtimeMs: number}

async function inspect(lockPath: string): Promise<LockState> {
  const info = await lstat(lockPath).catch(() => undefined)
  if (!info) return {kind: 'gone'}
  if (!info.isDirectory()) return {kind: 'not-a-directory'}
  const ownerFile = join(lockPath, 'owner')
  const owner = await readOwner(ownerFile)
  if (!owner) return {kind: 'ownerless', mtimeMs: info.mtimeMs}
  const beat = await lstat(ownerFile).catch(() => undefined)
  return {heartbeat: beat?.mtimeMs, kind: 'owned', owner}
}

/**
 * The owner file, if it is one. Anyone who can write beside the lock can put a FIFO or a link to
 * /dev/zero there: read as a regular file, capped, so a contender neither waits on it for ever nor
 * fills memory; it counts as no owner, and the wait ends as for any lock without progress.
 */
async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse((await readRegularFile(path, MAX_OWNER_BYTES)).bytes.toString('utf8'))
    if (typeof owner?.pid === 'number' && typeof owner.nonce === 'string' && typeof owner.host === 'string') return owner as LockOwner
  } catch {}

  return undefined
}

async function isAbandoned(owner: LockOwner, lockPath: string): Promise<boolean> {
  if (owner.host !== hostname()) {
    const info = await lstat(join(lockPath, 'owner')).catch(() => undefined)
    return info !== undefined && Date.now() - info.mtimeMs > FOREIGN_STALE_MS
  }

  return !isRunning(owner.pid, owner.start)
}

/**
 * Moves the abandoned owner file aside (only one contender can), checks it is the one judged
 * abandoned, and removes the directory; if a live lock was moved by mistake, it is put back.
 */
async function takeOver(lockPath: string, judged: LockOwner): Promise<boolean> {
  const ownerFile = join(lockPath, 'owner')
  const aside = join(lockPath, `owner.${process.pid}.${randomBytes(4).toString('hex')}.stale`)
  try {
    await rename(ownerFile, aside)
  } catch (error) {
    // Gone already: another contender got there first, and the way may be clear.
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }

  const moved = await readOwner(aside)
  if (moved?.nonce === judged.nonce) {
    await unlink(aside).catch(() => {})
    return removeDirectory(lockPath)
  }

  await link(aside, ownerFile).catch(() => {})
  await unlink(aside).catch(() => {})
  return false
}

async function clearOwnerless(lockPath: string): Promise<boolean> {
  const names = await readdir(lockPath).catch(() => [] as string[])
  for (const name of names) if (/^owner\.\d+\.[0-9a-f]{8}\.stale$/.test(name)) await unlink(join(lockPath, name)).catch(() => {})
  return removeDirectory(lockPath)
}

async function removeDirectory(path: string): Promise<boolean> {
  try {
    await rmdir(path)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }
}

/** Lock directories half-built by a process that was killed before it could rename or remove them. */
async function removeAbandonedBuilds(lockPath: string): Promise<void> {
  const base = basename(lockPath).replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const pattern = new RegExp(`^${base}\\.(\\d+)\\.[0-9a-f]{8}\\.new$`)
  const directory = dirname(lockPath)
  const names = await readdir(directory).catch(() => [] as string[])
  for (const name of names) {
    const match = pattern.exec(name)
    if (match && !isRunning(Number(match[1]))) await rm(join(directory, name), {force: true, recursive: true})
  }
}

/** Whether `pid` is a live process (a zombie is not), and the same one that started at `start`. */
export function isRunning(pid: number, start?: string): boolean {
  if (pid === process.pid) return start === undefined || start === startTimeOf(pid)
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }

  const stat = procStat(pid)
  if (stat === undefined) return true
  if (stat.state === 'Z' || stat.state === 'X') return false
  return start === undefined || stat.start === start
}

function startTimeOf(pid: number): string | undefined {
  return procStat(pid)?.start
}

/** Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat; undefined where there is no /proc. */
function procStat(pid: number): undefined | {start: string; state: string} {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {start: fields[19], state: fields[0]}
  } catch {
    return undefined
  }
}
