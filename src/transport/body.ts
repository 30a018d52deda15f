import {Readable} from 'node:stream'

import type {RequestBody} from './http.js'

/**
 * Response bodies as streams, between the socket and whoever reads them (a digester, a file, a
 * JSON parser). What the transport needs to see of a body, it sees here as the bytes pass: their
 * count (telemetry), a cap (JSON bodies), a stall (--timeout), the first bytes of an error page.
 * Nothing here holds a body whole unless asked to.
 */

export interface ResponseBodyOptions {
  /**
   * How many bytes to keep for telemetry to show (an error page, a token response); the kept
   * chunks are the very ones passed on, not copies.
   */
  captureBytes: number
  /**
   * The longest wait for the next chunk while the reader wants one (--timeout on a stream). A
   * reader that stops reading stops the clock: its slowness is not the network's stall.
   */
  idleMs?: number
  /** Bodies beyond this are cut off with the error `tooLarge` makes. */
  maxBytes?: number
  /** Called once, when the body has ended, failed or been dropped. */
  onFinish(result: {bytes: number; captured: Buffer; error?: Error}): void
  /** The error for a failure of the source (a reset, a broken TLS record). */
  sourceError(error: unknown): Error
  /** The error for a stall of `idleMs`. */
  stalled(): Error
  tooLarge(maxBytes: number): Error
}

export class ResponseBody extends Readable {
  /** Bytes received so far (after any Content-Encoding was undone). */
  bytes = 0
  private readonly captured: Buffer[] = []
  private capturedBytes = 0
  private dropped = false
  private ended = false
  private idleTimer?: NodeJS.Timeout
  private settled = false

  constructor(
    private readonly source: Readable,
    private readonly options: ResponseBodyOptions,
  ) {
    // A few socket reads' worth: pausing the source after every 64 KiB chunk would cost more
    // than the memory saved.
    super({highWaterMark: 256 * 1024})
    // A body nobody reads yet (a 401 kept while the token is fetched) may still fail: that must
    // not take the process down. Readers still see the error (pipeline, for await, 'error').
    this.on('error', () => {})
    source.pause()
    source.on('data', (chunk: Buffer) => this.onChunk(chunk))
    source.on('end', () => {
      this.ended = true
      this.clearIdle()
      this.push(null)
      this.settle()
    })
    source.on('error', (error) => this.destroy(options.sourceError(error)))
    // A source that closes without ending or failing must not leave the reader waiting forever.
    source.on('close', () => {
      if (!this.ended && !this.destroyed) this.destroy(options.sourceError(Object.assign(new Error('the connection closed before the body ended'), {code: 'ECONNRESET'})))
    })
  }

  /** Marks the body as dropped on purpose: its end, however it comes, is no failure. */
  markDropped(): void {
    this.dropped = true
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdle()
    if (!this.ended) this.source.destroy()
    this.settle(error ?? undefined)
    callback(error)
  }

  override _read(): void {
    if (this.options.idleMs !== undefined) {
      if (this.idleTimer) this.idleTimer.refresh()
      else this.idleTimer = setTimeout(() => this.destroy(this.options.stalled()), this.options.idleMs)
    }

    this.source.resume()
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }

  private onChunk(chunk: Buffer): void {
    this.bytes += chunk.length
    const {maxBytes} = this.options
    if (maxBytes !== undefined && this.bytes > maxBytes) {
      this.destroy(this.options.tooLarge(maxBytes))
      return
    }

    if (this.capturedBytes < this.options.captureBytes) {
      this.captured.push(chunk)
      this.capturedBytes += chunk.length
    }

    // Progress: the wait for the next chunk starts again.
    this.idleTimer?.refresh()
    if (!this.push(chunk)) {
      // The reader is full: no clock runs until it asks for more (_read).
      this.source.pause()
      this.clearIdle()
    }
  }

  private settle(error?: Error): void {
    if (this.settled) return
    this.settled = true
    const captured = Buffer.concat(this.captured)
    this.captured.length = 0
    this.options.onFinish({bytes: this.bytes, captured, error: this.dropped ? undefined : error})
  }
}

/**
 * Drops the body of a response regshape will not use (a redirect, a 401 it answers, a 503 it
 * retries): a small one is read to its end, which keeps the connection for the next request; a
 * large or unknown one is cut.
 */
export async function discard(body: Readable, contentLength?: string): Promise<void> {
  // ResponseBody, or the bulk reader's RawBody.
  if ('markDropped' in body && typeof body.markDropped === 'function') (body as ResponseBody).markDropped()
  if (body.destroyed || body.readableEnded) return
  const length = contentLength === undefined ? Number.NaN : Number(contentLength)
  if (!(length <= 64 * 1024)) {
    body.destroy()
    return
  }

  await new Promise<void>((resolvePromise) => {
    body.on('error', () => resolvePromise())
    body.on('close', () => resolvePromise())
    body.on('end', () => resolvePromise())
    body.resume()
  })
}

/** A whole body (for JSON: ResponseBody caps it). */
export async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/**
 * At most `maxBytes` of a body, for the JSON of an error answer: a longer body is cut there and
 * the rest of the stream destroyed, since the first bytes carry the OCI error code. A failure of
 * the stream (a stall, a reset) rejects.
 */
export async function readCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
    const room = maxBytes - size
    if (bytes.length >= room) {
      chunks.push(bytes.subarray(0, room))
      size += room
      // Leaving the loop destroys the stream: nobody will read the rest.
      break
    }

    chunks.push(bytes)
    size += bytes.length
  }

  if (!body.destroyed && !body.readableEnded) body.destroy()
  return Buffer.concat(chunks, size)
}

/** Whether a body can be sent again: bytes and stream factories can, a Readable given as is cannot. */
export function isReplayable(body: RequestBody | undefined): boolean {
  return body === undefined || typeof body === 'string' || Buffer.isBuffer(body) || typeof body === 'function'
}

/** Whether a body is a stream (a factory or a Readable), whose length telemetry counts as it goes. */
export function isStreamBody(body: RequestBody | undefined): body is (() => Readable) | Readable {
  return typeof body === 'function' || body instanceof Readable
}
