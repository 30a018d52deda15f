import {type Hash, createHash} from 'node:crypto'
import {Transform, type TransformCallback} from 'node:stream'

import {type DigestAlgorithm, parseDigest} from '../reference/image.js'
import {ProtocolError} from '../services/errors.js'

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
    super(message)
  }
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
}

/** Hashes what goes through, counts it, and fails the stream at its end if either is not as expected. */
export class DigestVerifier extends Transform {
  private readonly hash: Hash
  private readonly algorithm: DigestAlgorithm
  private received = 0
  private result?: string

  constructor(
    readonly expected: string,
    /** The size the descriptor gives, when there is one: checked as the bytes come, not only at the end. */
    readonly expectedSize?: number,
  ) {
    super()
    this.algorithm = parseDigest(expected).algorithm
    this.hash = createHash(this.algorithm)
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
    if (this.expectedSize !== undefined && this.received > this.expectedSize) {
      callback(new DigestMismatchError(`more than the expected ${this.expectedSize} bytes for ${this.expected}`, this.expected, 'unknown'))
      return
    }

    this.hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}`
    if (this.expectedSize !== undefined && this.received !== this.expectedSize) {
      callback(new DigestMismatchError(`${this.received} bytes instead of the expected ${this.expectedSize} for ${this.expected}`, this.expected, this.result))
    } else if (this.result === this.expected) {
      callback()
    } else {
      callback(new DigestMismatchError(`digest mismatch: expected ${this.expected}, got ${this.result}`, this.expected, this.result))
    }
  }
}

/** Hashes what goes through without an expectation: for content whose digest is learnt, not known. */
export class Digester extends Transform {
  private readonly hash: Hash
  private received = 0
  private result?: string

  constructor(readonly algorithm: DigestAlgorithm = 'sha256') {
    super()
    this.hash = createHash(algorithm)
  }

  get size(): number {
    return this.received
  }

  get digest(): string | undefined {
    return this.result
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length
    this.hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}`
    callback()
  }
}
