import {type Hash, createHash} from 'node:crypto'
import {Readable} from 'node:stream'

import {type DigestAlgorithm, parseDigest} from '../reference/image.js'
import {ProtocolError} from '../errors.js'
import {DigestMismatchError} from './digest.js'

/**
 * A blob read as one verified stream across the breaks of its source: when the bytes stop (a
 * reset, an early end, a stall), the source is asked again from the byte where they stopped and
 * the hash goes on from there, so the digest still covers every byte once. A source that can only
 * start over (a server that answers 200 to a Range request) restarts the blob: a consumer that
 * can start over too (a file, truncated) does, and one that cannot (a stream already passed on)
 * has the bytes it already holds skipped. Hash states are kept every few MiB (checkpoints), so a
 * later reader can ask for the bytes from any offset and still have them verified whole.
 */

/** One request's worth of a blob's bytes. */
export interface BlobSegment {
  body: Readable
  /** The offset of the segment's first byte: the one asked for, or 0 when the source started over. */
  start: number
}

/** What a resumed request is, for telemetry. */
export interface ResumeInfo {
  /** What broke the previous request. */
  after: string
  /** Which resume this is (1-based), of how many allowed. */
  attempt: number
  /** The byte the request asks from. */
  from: number
  of: number
}

/** A body whose bytes can go to one synchronous function instead of through the stream (the transport's bulk reader). */
interface SinkableBody extends Readable {
  sink(write: (chunk: Buffer) => void): void
}

/** A hash state at an offset of a blob. */
export interface HashState {
  hash: Hash
  offset: number
}

export interface VerifiedBlobOptions {
  digest: string
  /** What breaks (a reset, a stall) a resume is tried after; any other failure ends the blob. */
  isBreak(error: unknown): boolean
  /** The bytes from `offset`. The first call asks from `start` (0 unless given). */
  open(offset: number, resume?: ResumeInfo): Promise<BlobSegment>
  /** Where checkpoints go (every CHECKPOINT_BYTES); none kept without. */
  checkpoints?: Checkpoints
  /** Resumes allowed after breaks (--retries). */
  resumes: number
  size?: number
  /**
   * Where to begin: the hash of the bytes before `offset`, which are not delivered (a `.part`
   * file being continued, or a checkpoint). From 0 without.
   */
  start?: HashState
  /** Bytes from `start` up to here are read and hashed but not delivered (a reader asked from here). */
  deliverFrom?: number
}

/** A checkpoint every 8 MiB: a rewind reads at most that much again. */
export const CHECKPOINT_BYTES = 8 * 1024 * 1024

/**
 * Hash states of blobs being read, by digest, so a second read of one (an upload that must go on
 * from the byte its destination holds) can start near there rather than from 0. A few blobs are
 * kept, the last ones read.
 */
export class Checkpoints {
  private readonly byDigest = new Map<string, HashState[]>()

  constructor(private readonly maxBlobs = 32) {}

  record(digest: string, state: HashState): void {
    let states = this.byDigest.get(digest)
    if (!states) {
      states = []
      this.byDigest.set(digest, states)
      if (this.byDigest.size > this.maxBlobs) this.byDigest.delete(this.byDigest.keys().next().value as string)
    }

    if (!states.some((known) => known.offset === state.offset)) {
      states.push(state)
      states.sort((a, b) => a.offset - b.offset)
    }
  }

  /** A copy of the latest hash state at or before `offset`, if any. */
  before(digest: string, offset: number): HashState | undefined {
    const states = this.byDigest.get(digest) ?? []
    let found: HashState | undefined
    for (const state of states) if (state.offset <= offset) found = state
    return found && {hash: found.hash.copy(), offset: found.offset}
  }
}

export class VerifiedBlob extends Readable {
  private readonly algorithm: DigestAlgorithm
  private hash: Hash
  /** Bytes hashed so far: the offset of the next byte. */
  private offset: number
  /** Delivered bytes start here (bytes before it are hashed only). */
  private deliverFrom: number
  /** Bytes of the current segment still to drop, before the offset is reached again. */
  private skip = 0
  private body?: Readable
  private opening = false
  private resumesUsed = 0
  private result?: string
  private sinkWrite?: (chunk: Buffer) => void
  private restart?: () => void
  private finished = false

  constructor(private readonly options: VerifiedBlobOptions) {
    super({highWaterMark: 4 * 1024 * 1024})
    this.algorithm = parseDigest(options.digest).algorithm
    this.hash = options.start?.hash ?? createHash(this.algorithm)
    this.offset = options.start?.offset ?? 0
    this.deliverFrom = Math.max(this.offset, options.deliverFrom ?? 0)
  }

  /** The digest of the bytes, once they all came and matched. */
  get digest(): string | undefined {
    return this.result
  }

  /** Bytes hashed so far (the whole blob's size at the end). */
  get size(): number {
    return this.offset
  }

  /** How many resumes it took. */
  get resumed(): number {
    return this.resumesUsed
  }

  /**
   * Hands every byte to `write`, synchronously, instead of through the stream: a view that may be
   * of a buffer the next read reuses, so `write` must be done with it when it returns. `restart`,
   * when given, is called when the source can only start over: the consumer drops what it holds
   * (truncates its file) and takes the blob again from byte 0. The end and failures still come as
   * the stream's 'end' and 'error'. Before anything is read.
   */
  sink(write: (chunk: Buffer) => void, restart?: () => void): void {
    if (this.sinkWrite || this.body || this.opening) throw new Error('a blob is sunk once, before it is read')
    this.sinkWrite = write
    this.restart = restart
    // Flowing with nothing ever pushed: 'end' comes as soon as the end is pushed.
    this.resume()
  }

  override _read(): void {
    if (this.body) this.body.resume()
    else if (!this.opening && !this.finished) this.openAt(this.offset)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.letGo()
    callback(error)
  }

  private openAt(offset: number, resume?: ResumeInfo): void {
    this.opening = true
    this.options.open(offset, resume).then(
      (segment) => {
        this.opening = false
        if (this.destroyed) {
          segment.body.destroy()
          return
        }

        this.attach(segment)
      },
      (error: unknown) => {
        this.opening = false
        this.destroy(error as Error)
      },
    )
  }

  private attach(segment: BlobSegment): void {
    if (segment.start > this.offset || segment.start < 0) {
      segment.body.destroy()
      this.destroy(new ProtocolError(`the source sent the bytes from ${segment.start} when asked from ${this.offset}`))
      return
    }

    if (segment.start < this.offset) {
      if (this.restart && segment.start === 0) {
        // The consumer can start over: so does the hash.
        this.hash = createHash(this.algorithm)
        this.offset = 0
        this.deliverFrom = 0
        this.skip = 0
        this.restart()
      } else {
        // What the consumer holds stays; the source's copy of it is dropped as it comes again.
        this.skip = this.offset - segment.start
      }
    } else {
      this.skip = 0
    }

    const {body} = segment
    this.body = body
    // A body can fail before anyone listens (bytes beyond its Content-Length came with the
    // headers): its 'error' is gone by now, so it is read from the stream's state.
    const failed = body.errored ?? (body.destroyed && !body.readableEnded ? new Error('the body closed before its end') : null)
    if (failed) {
      this.broke(body, failed)
      return
    }

    body.on('error', (error) => this.broke(body, error))
    body.on('end', () => this.ended(body))
    if (this.sinkWrite && typeof (body as SinkableBody).sink === 'function') {
      ;(body as SinkableBody).sink((chunk) => this.onBytes(chunk))
    } else {
      body.on('data', (chunk: Buffer) => this.onBytes(chunk))
      body.resume()
    }
  }

  /** The source's bytes: dropped while skipping, else counted, hashed (checkpoints on the way) and passed on. */
  private onBytes(data: Buffer): void {
    let chunk = data
    if (this.skip > 0) {
      const dropped = Math.min(this.skip, chunk.length)
      this.skip -= dropped
      chunk = chunk.subarray(dropped)
      if (chunk.length === 0) return
    }

    const {size} = this.options
    if (size !== undefined && this.offset + chunk.length > size) {
      this.fail(new DigestMismatchError(`more than the expected ${size} bytes for ${this.options.digest}`, this.options.digest, 'unknown'))
      return
    }

    const start = this.offset
    this.hashed(chunk)
    if (this.offset <= this.deliverFrom) return
    const delivered = start >= this.deliverFrom ? chunk : chunk.subarray(this.deliverFrom - start)
    if (this.sinkWrite) {
      try {
        this.sinkWrite(delivered)
      } catch (error) {
        this.fail(error as Error)
      }

      return
    }

    if (!this.push(delivered)) this.body?.pause()
  }

  /** Hashes a chunk, taking a checkpoint at each CHECKPOINT_BYTES boundary it crosses. */
  private hashed(chunk: Buffer): void {
    const {checkpoints} = this.options
    let rest = chunk
    while (checkpoints && rest.length > 0) {
      const boundary = (Math.floor(this.offset / CHECKPOINT_BYTES) + 1) * CHECKPOINT_BYTES
      const room = boundary - this.offset
      if (rest.length < room) break
      this.hash.update(rest.subarray(0, room))
      this.offset += room
      rest = rest.subarray(room)
      checkpoints.record(this.options.digest, {hash: this.hash.copy(), offset: this.offset})
    }

    if (rest.length > 0) {
      this.hash.update(rest)
      this.offset += rest.length
    }
  }

  private ended(body: Readable): void {
    if (body !== this.body) return
    const {size} = this.options
    if (size !== undefined && this.offset < size) {
      this.broke(body, Object.assign(new Error(`the source ended at byte ${this.offset} of ${size}`), {code: 'ECONNRESET'}))
      return
    }

    this.body = undefined
    this.finished = true
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`
    if (size !== undefined && this.offset !== size) {
      this.destroy(new DigestMismatchError(`${this.offset} bytes instead of the expected ${size} for ${this.options.digest}`, this.options.digest, actual))
      return
    }

    if (actual !== this.options.digest) {
      this.destroy(new DigestMismatchError(`digest mismatch: expected ${this.options.digest}, got ${actual}`, this.options.digest, actual))
      return
    }

    this.result = actual
    this.push(null)
  }

  /** A failure of the current segment: resumed from the offset when it is a break and resumes are left. */
  private broke(body: Readable, error: unknown): void {
    if (body !== this.body || this.destroyed) return
    this.letGo()
    if (!this.options.isBreak(error) || this.resumesUsed >= this.options.resumes) {
      this.destroy(error as Error)
      return
    }

    this.resumesUsed++
    const after = (error as {code?: unknown})?.code
    this.openAt(this.offset, {after: typeof after === 'string' ? after : 'a break', attempt: this.resumesUsed, from: this.offset, of: this.options.resumes})
  }

  private fail(error: Error): void {
    this.letGo()
    this.destroy(error)
  }

  /** Lets go of the current segment. */
  private letGo(): void {
    const {body} = this
    this.body = undefined
    if (!body) return
    body.removeAllListeners('data')
    body.removeAllListeners('end')
    body.on('error', () => {})
    if (!body.destroyed) body.destroy()
  }
}
