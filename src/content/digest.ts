import {type Hash, createHash} from 'node:crypto'
import {Transform, type TransformCallback} from 'node:stream'

import {type DigestAlgorithm, parseDigest} from '../reference/image.js'
import {ProtocolError} from '../errors.js'

/**
 * Digests: computing them, and checking bytes against one while they stream, so a blob is never
 * held whole to be verified (registry.md §1, "Digests are verified").
 */

/** The bytes did not hash to the digest they were asked for under, or had another size. */
export class DigestMismatchError extends ProtocolError {
  constructor(
    message: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(message, {kind: 'digest-mismatch'})
  }
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
}

/** Hashes what goes through and counts it: the digest of content whose digest is learnt, not known. */
export class Digester extends Transform {
  private readonly hash: Hash
  private received = 0
  private result?: string

  constructor(
    readonly algorithm: DigestAlgorithm = 'sha256',
    /** The hash of bytes that came before (an upload going on from an offset): counted, not passed. */
    start?: {hash: Hash; offset: number},
  ) {
    super()
    this.hash = start?.hash ?? createHash(algorithm)
    this.received = start?.offset ?? 0
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.received
  }

  /** The digest of what went through; set once the stream has ended. */
  get digest(): string | undefined {
    return this.result
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length
    const problem = this.check()
    if (problem) {
      callback(problem)
      return
    }

    this.hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}`
    callback(this.check(true))
  }

  /** A reason to fail the stream, asked after each chunk and once at its end. */
  protected check(_ended = false): Error | undefined {
    return undefined
  }
}

/** A Digester that fails the stream if the bytes do not hash to `expected` or have another size. */
export class DigestVerifier extends Digester {
  constructor(
    readonly expected: string,
    /** The size the descriptor gives, when there is one: checked as the bytes come, not only at the end. */
    readonly expectedSize?: number,
  ) {
    super(parseDigest(expected).algorithm)
  }

  protected override check(ended = false): Error | undefined {
    if (this.expectedSize !== undefined && this.size > this.expectedSize) {
      return new DigestMismatchError(`more than the expected ${this.expectedSize} bytes for ${this.expected}`, this.expected, 'unknown')
    }

    if (!ended) return undefined
    const actual = this.digest as string
    if (this.expectedSize !== undefined && this.size !== this.expectedSize) {
      return new DigestMismatchError(`${this.size} bytes instead of the expected ${this.expectedSize} for ${this.expected}`, this.expected, actual)
    }

    return actual === this.expected ? undefined : new DigestMismatchError(`digest mismatch: expected ${this.expected}, got ${actual}`, this.expected, actual)
  }
}
