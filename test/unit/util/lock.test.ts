import {expect} from 'chai'
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {LockError, acquireLock} from '../../../src/util/lock.js'
import {runProcess} from '../../fixtures/proc.js'

/**
 * How long src/util/lock.ts waits for a lock held by another live process: while the holder
 * shows progress (its heartbeat), with an upper bound for a holder that shows none (stopped) or
 * keeps the lock too long while beating (stuck). The holders are real processes running the
 * same lock code (test/fixtures/lock-holder.ts); the waits here are shortened through the
 * `patience` argument, and test/hardening/concurrency.test.ts waits with regshape's own.
 */

const HOLDER = fileURLToPath(new URL('../../fixtures/lock-holder.ts', import.meta.url))
const CONTENDER = fileURLToPath(new URL('../../fixtures/lock-contender.ts', import.meta.url))

interface Holder {
  child: ChildProcess
  exited: Promise<void>
}

/** A holder process that has the lock at `lockPath` once this resolves. */
async function startHolder(lockPath: string, holdMs: number): Promise<Holder> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, lockPath, String(holdMs)], {stdio: ['ignore', 'pipe', 'inherit']})
  const exited = new Promise<void>((resolvePromise) => child.on('exit', () => resolvePromise()))
  await new Promise<void>((resolvePromise, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolvePromise())
    child.on('exit', (code) => reject(new Error(`lock holder exited (${code}) before it held the lock`)))
  })
  return {child, exited}
}

async function stop(holder: Holder): Promise<void> {
  holder.child.kill('SIGCONT')
  holder.child.kill('SIGKILL')
  await holder.exited
}

const ownerPid = (lockPath: string) => JSON.parse(readFileSync(join(lockPath, 'owner'), 'utf8')).pid as number

describe('lock: how long a contender waits', function () {
  this.timeout(60_000)
  const holders: Holder[] = []

  afterEach(async () => {
    await Promise.all(holders.splice(0).map((holder) => stop(holder)))
  })

  it('gives up on a stopped holder (no heartbeat) after stallMs, naming it, without taking its lock; a dead one loses it at once', async () => {
    const lockPath = join(mkdtempSync(join(tmpdir(), 'regshape-lock-')), 'config.json.lock')
    const holder = await startHolder(lockPath, 0)
    holders.push(holder)
    holder.child.kill('SIGSTOP')
    const started = Date.now()
    const error = await acquireLock(lockPath, () => false, {maxHoldMs: 60_000, stallMs: 2000}).then(
      () => expect.fail('got a lock a live process holds'),
      (error_: unknown) => error_,
    )
    const waited = Date.now() - started
    expect(error).to.be.instanceOf(LockError)
    expect((error as LockError).problem).to.deep.include({kind: 'busy', reason: 'stalled'})
    expect((error as LockError).problem).to.have.nested.property('owner.pid', holder.child.pid)
    expect(waited).to.be.within(2000, 10_000)
    expect(ownerPid(lockPath)).to.equal(holder.child.pid)
    // Dead, it is taken over at once.
    await stop(holder)
    const takenAt = Date.now()
    const lock = await acquireLock(lockPath, () => false, {maxHoldMs: 60_000, stallMs: 2000})
    expect(Date.now() - takenAt).to.be.lessThan(1500)
    expect(ownerPid(lockPath)).to.equal(process.pid)
    await lock.release()
    expect(existsSync(lockPath)).to.equal(false)
  })

  it('waits past stallMs while the holder beats, and gives up when it has kept the lock longer than maxHoldMs (alive but stuck)', async () => {
    const lockPath = join(mkdtempSync(join(tmpdir(), 'regshape-lock-')), 'config.json.lock')
    const holder = await startHolder(lockPath, 0)
    holders.push(holder)
    const started = Date.now()
    // The heartbeat comes every second: 3 s without one would be a stall, which must not be seen.
    const error = await acquireLock(lockPath, () => false, {maxHoldMs: 6000, stallMs: 3000}).then(
      () => expect.fail('got a lock a live process holds'),
      (error_: unknown) => error_,
    )
    expect((error as LockError).problem).to.deep.include({kind: 'busy', reason: 'held-too-long'})
    expect(Date.now() - started).to.be.within(6000, 15_000)
    expect(ownerPid(lockPath)).to.equal(holder.child.pid)
  })
})

describe('lock: an owner file that is not a regular file', function () {
  this.timeout(60_000)

  /** A lock directory whose `owner` is made by `plant`, and a contender (its own process) that waits for it 1 s at most without progress. */
  async function contend(plant: (owner: string) => void): Promise<{maxRssMiB: number; outcome: string; reason?: string}> {
    const lockPath = join(mkdtempSync(join(tmpdir(), 'regshape-lock-')), 'index.json.lock')
    mkdirSync(lockPath)
    plant(join(lockPath, 'owner'))
    const started = Date.now()
    // Killed after 20 s: a contender that opened a FIFO with no writer would wait there for ever.
    const result = await runProcess(process.execPath, ['--import', 'tsx', CONTENDER, lockPath, '1000', '60000'], {timeoutMs: 20_000})
    expect(result.signal, `the contender did not end within 20 s (${Date.now() - started} ms)`).to.equal(null)
    expect(result.code, result.stderr).to.equal(0)
    return JSON.parse(result.stdout)
  }

  it('a FIFO is not waited on: the contender gives up on a lock that shows no progress, as on any other', async () => {
    const ended = await contend((owner) => execFileSync('mkfifo', [owner]))
    expect(ended).to.deep.include({outcome: 'busy', reason: 'stalled'})
  })

  it('a link to /dev/zero is not read without end: the contender gives up with its memory bounded', async () => {
    const ended = await contend((owner) => symlinkSync('/dev/zero', owner))
    expect(ended).to.deep.include({outcome: 'busy', reason: 'stalled'})
    // A node process with tsx holds about 100 MiB; reading /dev/zero took 2 GiB per look at the lock.
    expect(ended.maxRssMiB).to.be.below(400)
  })
})
