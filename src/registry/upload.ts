import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {open, stat} from 'node:fs/promises'
import {Readable, Transform, pipeline} from 'node:stream'

import type {HttpResponse} from '../transport/http.js'

import {Digester} from '../content/digest.js'
import {terminalSafe} from '../util/text.js'
import {type DigestAlgorithm, parseDigest} from '../reference/image.js'
import {joinScopes, repositoryScope} from '../reference/scope.js'
import {ProtocolError, RegshapeError, describeError} from '../errors.js'
import {RegistryApiError, apiError} from './api-error.js'
import {type LabelledRequest, type RegistryConnection, header, isNetworkBreak} from './connection.js'
import {urls} from './urls.js'

/**
 * The write side of blobs (registry.md §2, upstream cli-blob.md): uploads into a session, mounts
 * from another repository, deletes. Bytes stream from their source to the socket through a
 * digester: nothing is held whole, and the digest the registry confirms is checked against the
 * one the bytes hash to.
 *
 * The requests, as the distribution spec and docker push make them:
 * - with a known digest: POST, then one streamed PUT `?digest=` (the spec's monolithic upload);
 * - without: POST, one streamed PATCH (no Content-Range: docker's own push), then an empty PUT
 *   `?digest=` with the digest the bytes hashed to on the way, so a file is read once, not twice;
 * - chunked: POST, PATCHes with Content-Range of at least OCI-Chunk-Min-Length, then the PUT.
 * Every Location is followed as the registry gave it, query included. A session on the
 * registry's own host goes through the registry's authentication; one elsewhere gets no
 * credentials (as a blob GET redirected to storage).
 */

/** Where the bytes of an upload come from. */
export interface BlobSource {
  /** How messages name it: the file, or `stdin`. */
  name: string
  /** Known for a file; unknown for stdin (the bytes then go without Content-Length). */
  size?: number
  /** A file can be read again from any offset (resume); stdin only once, from the start. */
  seekable: boolean
  /**
   * The bytes are checked against the digest by their source as they are read (a copy's
   * download): an upload going on from an offset need not hash again what its session holds.
   */
  verified?: boolean
  /** The bytes from `start` (to `end`, inclusive). */
  read(start?: number, end?: number): Readable
  /** A file's bytes at `position` into `buffer` (chunks read in place, no stream buffers between); 0 at its end. */
  readAt?(buffer: Buffer, position: number): Promise<number>
}

/** A file to upload, checked before any request: it must exist, be a regular file and be readable. */
export async function fileSource(file: string, what: string): Promise<BlobSource> {
  let size: number
  try {
    const info = await stat(file)
    if (info.isDirectory()) throw Object.assign(new Error('is a directory'), {code: 'EISDIR'})
    size = info.size
    // Opened once now, so an unreadable file fails here rather than after the session is open.
    await new Promise<void>((resolvePromise, rejectPromise) => {
      const probe = createReadStream(file, {end: 0})
      probe.once('open', () => {
        probe.destroy()
        resolvePromise()
      })
      probe.once('error', rejectPromise)
    })
  } catch (error) {
    throw new RegshapeError(`${what}: cannot read ${file}: ${fileProblem(error)}`, {cause: error})
  }

  return {
    name: file,
    read: (start = 0, end) => createReadStream(file, {end, highWaterMark: 64 * 1024, start}),
    async readAt(buffer, position) {
      const handle = await open(file, 'r')
      try {
        let filled = 0
        while (filled < buffer.length) {
          const {bytesRead} = await handle.read(buffer, filled, buffer.length - filled, position + filled)
          if (bytesRead === 0) break
          filled += bytesRead
        }

        return filled
      } finally {
        await handle.close()
      }
    },
    seekable: true,
    size,
  }
}

/** The bytes piped to the command. */
export function stdinSource(stdin: Readable = process.stdin): BlobSource {
  let used = false
  return {
    name: 'stdin',
    read(start = 0) {
      if (used || start !== 0) throw new RegshapeError('stdin can be read only once, from its start')
      used = true
      return stdin
    },
    seekable: false,
  }
}

export interface UploadOptions {
  /** Chunk size for --chunked (raised to the registry's OCI-Chunk-Min-Length). */
  chunkSize: number
  chunked: boolean
  /** Content-Type of the requests that carry the bytes (application/octet-stream by default). */
  contentType?: string
  /** The digest the bytes must have (--digest); computed on the way when absent. */
  digest?: string
  /** Counts the bytes read from the source (progress), passing them on unchanged. */
  progress?: Transform
  /** The Location of a session a failed chunked upload left: continue it from the offset it reports. */
  resume?: string
}

export interface UploadResult {
  digest: string
  /** The Location of the blob, as the registry answered the final PUT. */
  location: string
  size: number
}

export interface MountResult {
  digest: string
  location: string
  /** Set when the registry opened a session instead and the blob was uploaded into it. */
  size?: number
  status: 'mounted' | 'uploaded'
}

/** An upload session: where its next request goes, and how many bytes it holds. */
interface Session {
  /** Chunk size the registry asks for at least (OCI-Chunk-Min-Length). */
  minimumChunk?: number
  offset: number
  url: string
}

const OCTET_STREAM = 'application/octet-stream'

/** A failure after the session holds bytes: `--resume` can continue it. */
export class UploadInterruptedError extends RegshapeError {}

/** The registry refused the token a one-shot body went with (it expired on the way); a new one is cached. */
class TokenRenewedError extends RegshapeError {}

const messages = {
  answeredEarly: (what: string) => `${what}: the registry answered before it had read the whole body; refused`,
  cancelled: 'the upload session expired or was cancelled; start the upload again',
  digestMismatch: (what: string, confirmed: string, computed: string) =>
    `${what}: the registry confirmed ${confirmed}, but the bytes sent hash to ${computed}; refused`,
  expected: (what: string, expected: string, computed: string) => `${what}: --digest ${expected} was given, but the bytes hash to ${computed}; refused`,
  mountRefused: (what: string) =>
    `${what}: the registry refused the mount (it answered 202, opening an upload session instead, which was cancelled); upload the blob with -f FILE`,
  noLocation: (what: string, status: number) => `${what}: the registry answered ${status} without a Location for the upload session`,
  mountNotGranted: (repository: string, from: string) => `a mount needs push on ${repository} and pull on ${from}; these credentials were not granted both`,
  notGranted: (action: string, repository: string) => `${action} on ${repository} was not granted to these credentials`,
  renewed: (what: string) => `${what}: the registry refused the token mid-upload (it expired on the way); a new one was fetched`,
  resume: (offset: number, url: string) => `the session holds ${offset} bytes; continue it with --resume '${url}'`,
  shorter: (source: string, offset: number) => `${source} is shorter than the ${offset} bytes the session already holds`,
  stdinResume: '--resume needs -f FILE: stdin cannot be read again from an offset',
  unexpected: (what: string, status: number, wanted: number) => `${what}: the registry answered HTTP ${status} (expected ${wanted})`,
  wrongOffset: (what: string, range: string, wanted: number) => `${what}: the registry's Range ${range} does not end at byte ${wanted - 1} just sent`,
}

export class BlobWriter {
  private readonly push: string

  constructor(
    /** The repository path (`team/app`). */
    readonly path: string,
    private readonly connection: RegistryConnection,
    /** How errors name the repository (`host/path`). */
    private readonly display: string,
  ) {
    this.push = repositoryScope(path, ['pull', 'push'])
  }

  /** Uploads a blob (a new session, or `resume`'s) and returns what the registry confirmed. */
  async upload(source: BlobSource, options: UploadOptions): Promise<UploadResult> {
    const what = `blob upload ${this.display}`
    if (options.resume !== undefined) {
      if (!source.seekable) throw new RegshapeError(messages.stdinResume)
      const session = await this.status(options.resume, what)
      return this.chunks(session, source, options, what)
    }

    const started = await this.start(what, {operation: 'blob.upload', path: urls.uploads(this.path), scope: this.push}, 'push')
    if (started.session === undefined) throw new ProtocolError(messages.unexpected(what, 201, 202))
    return this.into(started.session, source, options, what)
  }

  /**
   * Mounts a blob from another repository of the registry. A 202 is a session instead of a mount:
   * with a source, the blob is uploaded into it; without, it is cancelled and the mount refused.
   */
  async mount(digest: string, from: string, source: BlobSource | undefined, options: Omit<UploadOptions, 'digest' | 'resume'>): Promise<MountResult> {
    const what = `blob mount ${this.display}@${digest} from ${from}`
    const scope = joinScopes(this.push, repositoryScope(from, ['pull']))
    const {location, session} = await this.start(what, {operation: 'blob.mount', path: urls.uploads(this.path, {from, mount: digest}), scope}, 'push', from)
    if (session === undefined) {
      if (location === undefined) throw new ProtocolError(`${what}: the registry answered 201 without the blob's Location`)
      return {digest, location, status: 'mounted'}
    }

    if (!source) {
      await this.cancel(session)
      throw new RegshapeError(messages.mountRefused(what))
    }

    const uploaded = await this.into(session, source, {...options, digest}, `${what} (uploading: the registry opened a session instead)`)
    return {...uploaded, status: 'uploaded'}
  }

  /** Deletes a blob by digest (202). */
  async delete(digest: string): Promise<void> {
    const what = `blob delete ${this.display}@${digest}`
    const response = await this.connection.send(what, {method: 'DELETE', operation: 'blob.delete', path: urls.blob(this.path, digest), scope: repositoryScope(this.path, ['delete'])})
    if (response.status !== 202) throw this.refused(what, response, 'delete')
  }

  /** POST: a session (202 with Location), or for a mount 201 (done). */
  private async start(what: string, request: Omit<LabelledRequest, 'method'>, action: string, from?: string): Promise<{location?: string; session?: Session}> {
    const response = await this.connection.send(what, {...request, method: 'POST'})
    if (response.status === 201) return {location: header(response, 'location')}
    if (response.status !== 202) throw this.refused(what, response, action, from)
    return {session: {minimumChunk: minimumChunk(response), offset: 0, url: this.sessionUrl(response, what)}}
  }

  /** GET on a session: how many bytes it holds (Range: 0-<last byte>). */
  private async status(location: string, what: string): Promise<Session> {
    const url = this.connection.resolve(location, this.connection.origin())
    const response = await this.connection.to(url, what, {method: 'GET', operation: 'blob.upload', scope: this.push})
    if (response.status !== 204 && response.status !== 200) throw this.sessionError(what, response)
    const range = header(response, 'range')
    // distribution answers `0-0` for an empty session as for one byte; an empty one is likelier.
    const end = range === undefined ? -1 : Number(/^(?:bytes=)?0-(\d+)$/.exec(range.trim())?.[1] ?? Number.NaN)
    if (Number.isNaN(end)) throw new ProtocolError(`${what}: the session's Range ${terminalSafe(range ?? '')} is not 0-<offset>`)
    return {minimumChunk: minimumChunk(response), offset: end <= 0 ? 0 : end + 1, url: header(response, 'location') ? this.sessionUrl(response, what) : url}
  }

  /**
   * The bytes into an open session: monolithic PUT, one streamed PATCH, or chunks. When the
   * connection breaks under the bytes (or the token they went with expired on the way) and the
   * source can be read again, the session is asked where it stands (GET on its Location, its
   * Range) and the rest is sent from there, at most --retries times; a registry that cannot say
   * (distribution cancels a session whose request broke) gets the blob again in a new session.
   */
  private async into(session: Session, source: BlobSource, options: UploadOptions, what: string): Promise<UploadResult> {
    if (options.chunked) return this.chunks(session, source, options, what)
    const counter = new ProgressTap(options.progress)
    let current = session
    try {
      for (let resumes = 0; ; resumes++) {
        try {
          return options.digest === undefined
            ? await this.streamed(current, source, options, what, counter)
            : await this.monolithic(current, source, options, options.digest, what, counter)
        } catch (error) {
          const again = source.seekable && resumes < this.connection.transport.retries && (error instanceof TokenRenewedError || isNetworkBreak(error))
          if (!again) throw error
          current = await this.standing(current, source, what)
        }
      }
    } catch (error) {
      // A session that failed for good goes, as a failed docker push's does.
      await this.cancel(current)
      throw error
    } finally {
      counter.end()
    }
  }

  /** Where a session whose request broke stands, or a new session when the registry cannot say. */
  private async standing(session: Session, source: BlobSource, what: string): Promise<Session> {
    const known = await this.status(session.url, what).catch(() => undefined)
    if (known && (source.size === undefined || known.offset <= source.size)) return known
    await this.cancel(session)
    const started = await this.start(what, {operation: 'blob.upload', path: urls.uploads(this.path), scope: this.push}, 'push')
    if (started.session === undefined) throw new ProtocolError(messages.unexpected(what, 201, 202))
    return started.session
  }

  /** POST was done; one PUT ?digest= carries the body (the rest of it, from the session's offset). */
  private async monolithic(session: Session, source: BlobSource, options: UploadOptions, digest: string, what: string, counter: ProgressTap): Promise<UploadResult> {
    const {offset} = session
    // What the session holds was checked by the source as it was read, or is hashed again here.
    const digester = offset > 0 && source.verified ? undefined : new Digester(parseDigest(digest).algorithm, await hashedPrefix(source, offset, parseDigest(digest).algorithm, what))
    const body = bytesFrom(source, offset, counter, digester)
    const response = await this.connection.to(withDigest(session.url, digest), what, {
      body,
      contentLength: source.size === undefined ? undefined : source.size - offset,
      headers: {'content-type': options.contentType ?? OCTET_STREAM},
      method: 'PUT',
      operation: 'blob.upload',
      scope: this.push,
    })
    if (response.status === 401 && response.renewed) throw new TokenRenewedError(messages.renewed(what))
    if (response.status !== 201) throw digester ? this.finalError(what, response, digester, digest) : this.sessionError(what, response)
    if (!digester) return this.confirmed(response, {digest, size: source.size ?? offset}, source, digest, what)
    await hashedToTheEnd(digester)
    return this.confirmed(response, digester, source, digest, what)
  }

  /** POST was done; one streamed PATCH (the rest, from the session's offset), hashed on the way, then PUT ?digest= with that digest. */
  private async streamed(session: Session, source: BlobSource, options: UploadOptions, what: string, counter: ProgressTap): Promise<UploadResult> {
    const {offset} = session
    const digester = new Digester('sha256', await hashedPrefix(source, offset, 'sha256', what))
    const body = bytesFrom(source, offset, counter, digester)
    const headers: Record<string, string> = {'content-type': options.contentType ?? OCTET_STREAM}
    if (offset > 0 && source.size !== undefined) headers['content-range'] = `${offset}-${source.size - 1}`
    const patched = await this.connection.to(session.url, what, {
      body,
      contentLength: source.size === undefined ? undefined : source.size - offset,
      headers,
      method: 'PATCH',
      operation: 'blob.upload',
      scope: this.push,
    })
    if (patched.status === 401 && patched.renewed) throw new TokenRenewedError(messages.renewed(what))
    if (patched.status !== 202) throw this.sessionError(what, patched)
    await hashedToTheEnd(digester)
    const digest = digester.digest
    if (digest === undefined || (source.size !== undefined && digester.size !== source.size)) throw new ProtocolError(messages.answeredEarly(what))
    const next = this.sessionUrl(patched, what)
    return this.finish({...session, offset: digester.size, url: next}, digest, digester, source, what)
  }

  /** PATCH after PATCH with Content-Range, then the PUT; a failure says how to resume. */
  private async chunks(session: Session, source: BlobSource, options: UploadOptions, what: string): Promise<UploadResult> {
    const algorithm: DigestAlgorithm = options.digest ? parseDigest(options.digest).algorithm : 'sha256'
    const hash = createHash(algorithm)
    let {offset, url} = session
    if (offset > 0) {
      // What the session already holds is hashed from the file, not sent again.
      let seen = 0
      for await (const chunk of source.read(0, offset - 1)) {
        hash.update(chunk as Buffer)
        seen += (chunk as Buffer).length
      }

      if (seen !== offset) throw new RegshapeError(`${what}: ${messages.shorter(source.name, offset)}`)
    }

    const chunkSize = Math.max(options.chunkSize, session.minimumChunk ?? 0)
    try {
      for await (const chunk of chunksOf(source, offset, chunkSize, options.progress)) {
        const end = offset + chunk.length
        const response = await this.connection.to(url, what, {
          // A factory: the chunk can be sent again if the registry asks for credentials first.
          body: () => Readable.from([chunk]),
          contentLength: chunk.length,
          headers: {'content-range': `${offset}-${end - 1}`, 'content-type': options.contentType ?? OCTET_STREAM},
          method: 'PATCH',
          operation: 'blob.upload',
          scope: this.push,
        })
        if (response.status !== 202) throw this.sessionError(what, response)
        const range = header(response, 'range')
        if (range !== undefined && !new RegExp(`^(?:bytes=)?0-${end - 1}$`).test(range.trim())) throw new ProtocolError(messages.wrongOffset(what, terminalSafe(range), end))
        hash.update(chunk)
        offset = end
        url = this.sessionUrl(response, what)
      }
    } catch (error) {
      throw resumable(error, offset, url)
    }

    const computed = `${algorithm}:${hash.digest('hex')}`
    if (options.digest !== undefined && options.digest !== computed) {
      // The registry judges the digest given (DIGEST_INVALID); the session stays for a resume with the right one.
      const response = await this.connection.to(withDigest(url, options.digest), what, {method: 'PUT', operation: 'blob.upload', scope: this.push})
      if (response.status === 201) throw new ProtocolError(messages.expected(what, options.digest, computed))
      throw withComputed(this.sessionError(what, response), computed)
    }

    const counted = {digest: computed, size: offset}
    return this.finish({...session, offset, url}, computed, counted, source, what)
  }

  /** The closing PUT ?digest= without a body. */
  private async finish(session: Session, digest: string, hashed: {digest?: string; size: number}, source: BlobSource, what: string): Promise<UploadResult> {
    const response = await this.connection.to(withDigest(session.url, digest), what, {method: 'PUT', operation: 'blob.upload', scope: this.push})
    if (response.status !== 201) throw withComputed(this.sessionError(what, response), hashed.digest)
    return this.confirmed(response, hashed, source, digest, what)
  }

  /** A 201: the registry's digest must be the one the bytes hash to. */
  private confirmed(response: HttpResponse, hashed: {digest?: string; size: number}, source: BlobSource, digest: string, what: string): UploadResult {
    if (hashed.digest === undefined || (source.size !== undefined && hashed.size !== source.size)) throw new ProtocolError(messages.answeredEarly(what))
    if (hashed.digest !== digest) throw new ProtocolError(messages.expected(what, digest, hashed.digest))
    const confirmed = header(response, 'docker-content-digest')
    if (confirmed !== undefined && confirmed !== digest) throw new ProtocolError(messages.digestMismatch(what, terminalSafe(confirmed), hashed.digest))
    const location = header(response, 'location')
    if (location === undefined) throw new ProtocolError(`${what}: the registry answered 201 without the blob's Location`)
    return {digest, location, size: hashed.size}
  }

  /** DELETE on a session, best effort: a failed upload or a refused mount leaves nothing open. */
  private async cancel(session: Session): Promise<void> {
    try {
      await this.connection.to(session.url, 'blob upload cancel', {method: 'DELETE', operation: 'blob.upload', scope: this.push})
    } catch {}
  }

  /** The session's next URL, from the Location of `response`, resolved against the URL it answered. */
  private sessionUrl(response: HttpResponse, what: string): string {
    const location = header(response, 'location')
    if (location === undefined) throw new ProtocolError(messages.noLocation(what, response.status))
    return this.connection.resolve(location, response.url)
  }

  /** A refused POST or DELETE: a 401/403 to credentials that were sent names the right not granted. */
  private refused(what: string, response: HttpResponse & {authScheme?: string}, action: string, from?: string): RegistryApiError {
    const error = apiError(what, response)
    if ((response.status !== 401 && response.status !== 403) || !response.authScheme) return error
    const rights = from === undefined ? messages.notGranted(action, this.path) : messages.mountNotGranted(this.path, from)
    return new RegistryApiError(`${error.message} (${rights})`, error.status, error.errors, 'denied')
  }

  /** A session request's failure: a 404 means the session is gone. */
  private sessionError(what: string, response: HttpResponse & {authScheme?: string}): RegistryApiError {
    const error = this.refused(what, response, 'push')
    if (response.status !== 404) return error
    return new RegistryApiError(`${error.message} (${messages.cancelled})`, error.status, error.errors, error.kind)
  }

  /** A refused monolithic PUT: the registry's code, and what the bytes really hashed to when it doubts the digest. */
  private finalError(what: string, response: HttpResponse, digester: Digester, digest: string): RegistryApiError {
    const error = this.sessionError(what, response)
    return digester.digest !== undefined && digester.digest !== digest ? withComputed(error, digester.digest) : error
  }
}

/** The source's bytes, counted and hashed on their way to the socket (one-shot: never resent). */
/**
 * A registry answers once it has read Content-Length bytes, which can be before the body's stream
 * has seen its source end (a file's last, empty read) and so before the digest exists. A short
 * wait for that end tells such an answer from one that really came before the whole body was read.
 */
export async function hashedToTheEnd(digester: Digester, waitMs = 2000): Promise<void> {
  if (digester.digest !== undefined) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    new Promise<void>((resolvePromise) => {
      digester.once('finish', () => resolvePromise())
      digester.once('close', () => resolvePromise())
    }),
    new Promise<void>((resolvePromise) => {
      timer = setTimeout(resolvePromise, waitMs)
    }),
  ])
  clearTimeout(timer)
}

/** The source's bytes from `offset`, counted (each byte once, whatever was sent twice) and hashed on their way to the socket (one-shot). */
function bytesFrom(source: BlobSource, offset: number, counter: ProgressTap, digester: Digester | undefined): Readable {
  const input = source.read(offset)
  const stages = [input, counter.from(offset), ...(digester ? [digester] : [])]
  // An error anywhere (a read failure) fails the body, and so the request, with that error.
  return (pipeline as (...streams: Array<NodeJS.ReadableStream | NodeJS.WritableStream | ((error?: Error | null) => void)>) => Readable)(...stages, () => {})
}

/** The hash of a source's first `offset` bytes, read again (a file: local and cheap), for an upload going on from there. */
async function hashedPrefix(source: BlobSource, offset: number, algorithm: DigestAlgorithm, what: string): Promise<{hash: ReturnType<typeof createHash>; offset: number} | undefined> {
  if (offset === 0) return undefined
  const hash = createHash(algorithm)
  let seen = 0
  for await (const chunk of source.read(0, offset - 1)) {
    hash.update(chunk as Buffer)
    seen += (chunk as Buffer).length
  }

  if (seen !== offset) throw new RegshapeError(`${what}: ${messages.shorter(source.name, offset)}`)
  return {hash, offset}
}

/**
 * Progress of an upload that may send some bytes twice (a resumed one): each attempt's bytes pass
 * a counter of their own, which hands the caller's progress only the bytes it has not seen yet.
 */
class ProgressTap {
  private counted = 0

  constructor(private readonly progress: Transform | undefined) {
    // The caller's counter only counts: what it passes on is dropped.
    progress?.resume()
  }

  /** A counter for bytes that start at `offset`. */
  from(offset: number): Transform {
    let position = offset
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        const end = position + chunk.length
        if (end > this.counted) {
          this.progress?.write(chunk.subarray(Math.max(0, this.counted - position)))
          this.counted = end
        }

        position = end
        callback(null, chunk)
      },
    })
  }

  end(): void {
    if (this.progress && !this.progress.writableEnded) this.progress.end()
  }
}

/**
 * The source's bytes from `start` in chunks of `size`, in one reused buffer: a file is read into it
 * in place, a stream copied into it. Each chunk passes the progress counter on its way.
 */
async function* chunksOf(source: BlobSource, start: number, size: number, progress: Transform | undefined): AsyncGenerator<Buffer> {
  // The counter only counts: what it passes on is dropped.
  progress?.resume()
  const count = (chunk: Buffer) => progress?.write(chunk)
  try {
    if (source.readAt) {
      const buffer = Buffer.allocUnsafe(size)
      for (let position = start; ; ) {
        const length = await source.readAt(buffer, position)
        if (length === 0) break
        const chunk = length === size ? buffer : buffer.subarray(0, length)
        count(chunk)
        yield chunk
        position += length
        if (length < size) break
      }
    } else {
      for await (const chunk of exactChunks(source.read(start), size)) {
        count(chunk)
        yield chunk
      }
    }
  } finally {
    progress?.end()
  }
}

/**
 * Exact-size chunks of a stream (the last one shorter), copied into one buffer that is reused: a
 * chunk is valid until the next is asked for, so memory holds one chunk, whatever the blob's size.
 */
export async function* exactChunks(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let buffer: Buffer | undefined
  let held = 0
  for await (const data of stream) {
    let bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as string)
    while (bytes.length > 0) {
      buffer ??= Buffer.allocUnsafe(size)
      const take = Math.min(size - held, bytes.length)
      bytes.copy(buffer, held, 0, take)
      held += take
      bytes = bytes.subarray(take)
      if (held === size) {
        yield buffer
        held = 0
      }
    }
  }

  if (held > 0) yield buffer!.subarray(0, held)
}

/** A Location with `digest=` added to its query, the rest of it kept exactly as given. */
export function withDigest(url: string, digest: string): string {
  const hashAt = url.indexOf('#')
  const bare = hashAt === -1 ? url : url.slice(0, hashAt)
  return `${bare}${bare.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

function minimumChunk(response: HttpResponse): number | undefined {
  const value = Number(header(response, 'oci-chunk-min-length'))
  return Number.isSafeInteger(value) && value > 0 ? value : undefined
}

function withComputed(error: RegistryApiError, computed: string | undefined): RegistryApiError {
  if (computed === undefined || !error.errors.some((entry) => entry.code === 'DIGEST_INVALID')) return error
  return new RegistryApiError(`${error.message} (the bytes sent hash to ${computed})`, error.status, error.errors, error.kind)
}

/** A chunk that failed after others went: the session can be continued. */
function resumable(error: unknown, offset: number, url: string): Error {
  if (error instanceof RegistryApiError && error.status === 404) return error
  const message = error instanceof Error ? error.message : describeError(error)
  if (error instanceof RegistryApiError) return new RegistryApiError(`${message}; ${messages.resume(offset, terminalSafe(url))}`, error.status, error.errors, error.kind)
  return new UploadInterruptedError(`${message}; ${messages.resume(offset, terminalSafe(url))}`, {cause: error})
}

function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory'
  return code ?? describeError(error)
}
