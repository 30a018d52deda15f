import {Readable} from 'node:stream'

import type {BlobDownload, BlobInfo, FetchedManifest, MountSource, PushBlobOptions, Store} from '../content/store.js'
import type {RegistryResponse, RegistryStreamResponse} from '../transport/transport.js'

import {DigestMismatchError, digestOf} from '../content/digest.js'
import {type BlobSegment, Checkpoints, type HashState, type ResumeInfo, VerifiedBlob} from '../content/resumable.js'
import {nestsDeeperThan} from '../content/json-text.js'
import {type Descriptor, parseDescriptor} from '../content/descriptor.js'
import {tooDeep} from '../content/manifest.js'
import {MANIFEST_ACCEPT, MediaType, baseMediaType} from '../content/media-types.js'
import {type DigestAlgorithm, parseDigest} from '../reference/image.js'
import {repositoryScope} from '../reference/scope.js'
import {ProtocolError} from '../errors.js'
import {terminalSafe} from '../util/text.js'
import {type RateLimit, parseRateLimit} from '../transport/ratelimit.js'
import {formatImageRef} from '../reference/image.js'
import {readCapped} from '../transport/body.js'
import {apiError} from './api-error.js'
import {type LabelledRequest, MANIFEST_MAX_BYTES, type RegistryConnection, header, isNetworkBreak, parseJsonAnswer} from './connection.js'
import {type DeleteResult, ManifestWriter, type PushResult} from './manifest-writes.js'
import {type BlobSource, BlobWriter, type MountResult, type UploadOptions, type UploadResult} from './upload.js'
import {ListBudget, PageWalker, walkList} from './pagination.js'
import {referrersTag} from './referrers.js'
import {urls} from './urls.js'

/**
 * The read side of one repository on one registry: every request carries its operation label
 * and the token scope the operation needs, so callers never spell a path, a scope or a status.
 * Errors name what was asked for (`manifest get host/repo:tag: MANIFEST_UNKNOWN: …`).
 */

export {MANIFEST_MAX_BYTES, isNetworkBreak} from './connection.js'
export {referrersTag} from './referrers.js'
export type {BlobDownload, BlobInfo, FetchedManifest} from '../content/store.js'

export interface Page {
  last?: string
  n?: number
}

export interface ListOptions extends Page {
  /** Follow `Link` to the last page; otherwise one page. */
  follow: boolean
}

/** A manifest's descriptor: its digest, media type and size. */
export type ManifestDescriptor = Pick<Descriptor, 'digest' | 'mediaType' | 'size'>

export interface ReferrerList {
  /** The index as received (pages merged), with `manifests` filtered when the registry did not. */
  index: Record<string, unknown> & {manifests: Array<Record<string, unknown>>}
  /** referrers-api, or tag-schema when the registry has no referrers API (404). */
  source: 'referrers-api' | 'tag-schema'
  /** The tag read under the tag schema. */
  tag?: string
}

/**
 * One repository of one registry (oras-go's Repository): its tags, manifests, blobs, uploads and
 * referrers. Every request carries its operation label and the token scope it needs, so callers
 * never spell a path, a scope or a status; errors name what was asked for (`manifest get
 * host/repo:tag: MANIFEST_UNKNOWN: …`). It is also a Store (content/store.ts): what a copy reads
 * from and writes to.
 */
export class Repository implements Store {
  /** How messages name the repository: `host/path`. */
  readonly display: string
  private readonly blobWriter: BlobWriter
  private readonly manifestWriter: ManifestWriter
  private readonly pull: string
  /** Hash states of the blobs read, so a second read from an offset need not start at 0. */
  private readonly checkpoints = new Checkpoints()
  private seenRateLimit?: RateLimit

  constructor(
    readonly connection: RegistryConnection,
    /** The repository path (`library/alpine`). */
    readonly path: string,
  ) {
    const {registry} = connection
    this.display = formatImageRef({input: path, registry, repository: path})
    this.pull = repositoryScope(path, ['pull'])
    this.blobWriter = new BlobWriter(path, connection, this.display)
    this.manifestWriter = new ManifestWriter(path, connection, this.display)
  }

  /** The registry the repository is on. */
  get registry() {
    return this.connection.registry
  }

  /** Lets the process exit: idle connections of a transport the repository opened itself are closed. */
  close(): void {
    this.connection.close()
  }

  /** Its blobs can be mounted by another repository of the same registry. */
  get mountSource(): MountSource {
    const {registry} = this.connection
    return {endpoint: `${registry.scheme ?? ''}${registry.endpoint}`, repository: this.path}
  }

  /**
   * The repository's tags, in the registry's order. When a single page is asked for, a registry
   * that ignored `n` or `last` (distribution 2.8 does, for tags, and does not sort them either) is
   * held to them here: the answer is sorted lexically, as the spec orders tag lists, and cut to the
   * tags after `last`, n of them at most.
   */
  async tags(options: ListOptions): Promise<{name: string; tags: string[]}> {
    const what = `tag list ${this.display}`
    const budget = new ListBudget(what, 'tags', 'Read it a page at a time: --n N, then --last with the last tag of each page.')
    const {items, name} = await walkList(this.connection, urls.tags(this.path, options), {operation: 'tag.list', scope: this.pull}, what, 'tags', options.follow, budget)
    let tags = items
    const {last, n} = options
    const ignored = (last !== undefined && tags.some((tag) => tag <= last)) || (n !== undefined && tags.length > n)
    if (!options.follow && ignored) {
      tags = [...tags].sort().filter((tag) => last === undefined || tag > last)
      if (n !== undefined) tags = tags.slice(0, n)
    }

    return {name: name ?? this.path, tags}
  }

  /**
   * A manifest's exact bytes. Fetched by digest, they must hash to it; fetched by tag, they must
   * hash to the Docker-Content-Digest the registry sent, if it sent one. Capped at 4 MiB.
   */
  async getManifest(reference: string, options: {accept?: string; display?: string} = {}): Promise<FetchedManifest> {
    const what = `manifest get ${options.display ?? `${this.display}${referenceSuffix(reference)}`}`
    const response = await this.connection.send(what, {
      headers: {accept: options.accept ?? MANIFEST_ACCEPT},
      maxBodyBytes: MANIFEST_MAX_BYTES,
      method: 'GET',
      operation: 'manifest.get',
      path: urls.manifest(this.path, reference),
      scope: this.pull,
    })

    this.noteRateLimit(response)
    if (response.status !== 200) throw apiError(what, response)
    const {body: bytes} = response
    const headerDigest = header(response, 'docker-content-digest')
    const pinned = isDigest(reference) ? reference : undefined
    const expected = pinned ?? (headerDigest && isKnownDigest(headerDigest) ? headerDigest : undefined)
    const algorithm: DigestAlgorithm = expected ? parseDigest(expected).algorithm : 'sha256'
    const digest = digestOf(bytes, algorithm)
    if (expected && digest !== expected) {
      const against = pinned ? 'the digest asked for' : 'the Docker-Content-Digest the registry sent'
      throw new DigestMismatchError(`${what}: the manifest's bytes hash to ${digest}, not ${expected} (${against}); refused`, expected, digest)
    }

    if (pinned && headerDigest && headerDigest !== pinned) {
      throw new DigestMismatchError(`${what}: the registry announced Docker-Content-Digest ${headerDigest} for ${pinned}; refused`, pinned, headerDigest)
    }

    // Every reader of a manifest (printing, --part, copy) is then safe from the depth.
    if (nestsDeeperThan(bytes.toString('utf8'))) throw new ProtocolError(`${what}: ${tooDeep('manifest')}`)

    return {bytes, contentType: header(response, 'content-type'), digest, headerDigest}
  }

  /**
   * A manifest's descriptor from a HEAD. When the registry's answer lacks the digest, type or size,
   * the manifest is fetched and hashed instead: the descriptor must be one that can be trusted.
   */
  async headManifest(reference: string, options: {accept?: string} = {}): Promise<ManifestDescriptor> {
    const what = `manifest head ${this.display}${referenceSuffix(reference)}`
    const accept = options.accept ?? MANIFEST_ACCEPT
    const path = urls.manifest(this.path, reference)
    const response = await this.connection.send(what, {headers: {accept}, method: 'HEAD', operation: 'manifest.head', path, scope: this.pull})
    this.noteRateLimit(response)
    if (response.status !== 200) throw await this.explainHead(response, what, {headers: {accept}, maxBodyBytes: MANIFEST_MAX_BYTES, operation: 'manifest.get', path})
    const digest = header(response, 'docker-content-digest')
    const mediaType = baseMediaType(header(response, 'content-type'))
    const size = Number(header(response, 'content-length'))
    const pinned = isDigest(reference) ? reference : undefined
    if (digest && isKnownDigest(digest) && mediaType && Number.isSafeInteger(size) && size >= 0) {
      if (pinned && digest !== pinned) throw new DigestMismatchError(`${what}: the registry announced Docker-Content-Digest ${digest} for ${pinned}; refused`, pinned, digest)
      return {digest, mediaType, size}
    }

    const fetched = await this.getManifest(reference, {accept})
    return {digest: fetched.digest, mediaType: manifestMediaType(fetched), size: fetched.bytes.length}
  }

  /**
   * Whether the repository has a blob (HEAD: 200 yes, 404 no), for a copy deciding what to send:
   * no GET follows a 404, as `blob head` sends to learn the error code.
   */
  async hasBlob(digest: string): Promise<boolean> {
    const what = `blob head ${this.display}@${digest}`
    const response = await this.connection.send(what, {method: 'HEAD', operation: 'blob.head', path: urls.blob(this.path, digest), scope: this.pull})
    if (response.status === 404) return false
    if (response.status !== 200) throw apiError(what, response)
    const announced = header(response, 'docker-content-digest')
    if (announced && announced !== digest) throw new DigestMismatchError(`${what}: the registry announced Docker-Content-Digest ${announced}; refused`, digest, announced)
    return true
  }

  /**
   * The digest a tag or digest resolves to in the repository (HEAD), or undefined on 404: what a
   * copy asks before pushing a manifest. HEAD only, never a GET (which a registry that counts
   * pulls would count): a digest the registry answers 200 for is there, whatever headers came
   * with it; a tag whose HEAD lacks Docker-Content-Digest is undefined, as if absent, so the copy
   * sets it again (the same PUT, harmless).
   */
  async manifestDigest(reference: string): Promise<string | undefined> {
    const what = `manifest head ${this.display}${referenceSuffix(reference)}`
    const response = await this.connection.send(what, {headers: {accept: MANIFEST_ACCEPT}, method: 'HEAD', operation: 'manifest.head', path: urls.manifest(this.path, reference), scope: this.pull})
    this.noteRateLimit(response)
    if (response.status === 404) return undefined
    if (response.status !== 200) throw apiError(what, response)
    const digest = header(response, 'docker-content-digest')
    if (digest && isKnownDigest(digest)) {
      if (isDigest(reference) && digest !== reference) throw new DigestMismatchError(`${what}: the registry announced Docker-Content-Digest ${digest} for ${reference}; refused`, reference, digest)
      return digest
    }

    return isDigest(reference) ? reference : undefined
  }

  /**
   * The rate limit the registry announces (Docker Hub's RateLimit-Limit and RateLimit-Remaining),
   * from a HEAD of a manifest, which Docker Hub does not count as a pull; undefined when the
   * answer announces none. A missing manifest still tells: the HEAD's answer carries the headers.
   */
  async rateLimit(reference = 'latest'): Promise<RateLimit | undefined> {
    const what = `rate limit ${this.display}${referenceSuffix(reference)}`
    const response = await this.connection.send(what, {headers: {accept: MANIFEST_ACCEPT}, method: 'HEAD', operation: 'manifest.head', path: urls.manifest(this.path, reference), scope: this.pull})
    if (response.status !== 200 && response.status !== 404) throw apiError(what, response)
    return this.noteRateLimit(response)
  }

  /** The rate limit of the last manifest answer that announced one (a copy compares it with the pulls it needs). */
  get lastRateLimit(): RateLimit | undefined {
    return this.seenRateLimit
  }

  private noteRateLimit(response: {headers: Record<string, string[]>}): RateLimit | undefined {
    const limit = parseRateLimit(response.headers)
    if (limit) this.seenRateLimit = limit
    return limit
  }

  /** A blob's metadata from a HEAD; a Docker-Content-Digest other than the one asked for is refused. */
  async headBlob(digest: string): Promise<BlobInfo> {
    const what = `blob head ${this.display}@${digest}`
    const path = urls.blob(this.path, digest)
    const response = await this.connection.send(what, {method: 'HEAD', operation: 'blob.head', path, scope: this.pull})
    // A GET for the error body only: it is sent when the blob is not there to be downloaded.
    if (response.status !== 200) throw await this.explainHead(response, what, {maxBodyBytes: 64 * 1024, operation: 'blob.get', path})
    const announced = header(response, 'docker-content-digest')
    if (announced && announced !== digest) throw new DigestMismatchError(`${what}: the registry announced Docker-Content-Digest ${announced}; refused`, digest, announced)
    const length = Number(header(response, 'content-length'))
    return {contentType: header(response, 'content-type'), digest, size: Number.isSafeInteger(length) && length >= 0 ? length : undefined}
  }

  /**
   * A blob's bytes as they stream, through a digest check: nothing is held, and whoever reads
   * `body` gets an error, not a quiet end, if the bytes (or their count, against Content-Length)
   * are not the blob's. A redirect to storage elsewhere is followed without the Authorization.
   *
   * A body that breaks (a reset, an end before Content-Length, a stall of --timeout) is asked for
   * again with `Range: bytes=N-` and the hash goes on from byte N, at most --retries times; a 206
   * must say it starts at N, and a 200 instead starts the blob over (content/resumable.ts).
   * `offset`: the body starts there, the bytes before it hashed from a checkpoint of an earlier
   * read of this blob, or read again (an upload going on from where its destination stands).
   * `start`: the hash of bytes the caller already holds (a `.part` file), asked from its offset.
   */
  async getBlob(digest: string, options: {offset?: number; start?: HashState} = {}): Promise<BlobDownload & {body: VerifiedBlob}> {
    const what = `blob get ${this.display}@${digest}`
    const start = options.start ?? (options.offset ? this.checkpoints.before(digest, options.offset) : undefined)
    const first = await this.blobSegment(digest, start?.offset ?? 0, what)
    let pending: BlobSegment | undefined = first
    const body = new VerifiedBlob({
      checkpoints: this.checkpoints,
      deliverFrom: options.offset,
      digest,
      isBreak: isNetworkBreak,
      async open(offset, resume) {
        const segment = pending
        pending = undefined
        if (segment && offset === (start?.offset ?? 0) && !resume) return segment
        segment?.body.destroy()
        return open(offset, resume)
      },
      resumes: this.connection.transport.retries,
      size: first.size,
      start,
    })
    const open = async (offset: number, resume?: ResumeInfo): Promise<BlobSegment> => {
      // A failure here reaches the reader of the body, which names the blob already.
      const segment = await this.blobSegment(digest, offset, `resuming at byte ${offset}`, resume)
      if (first.size !== undefined && segment.size !== undefined && segment.size !== first.size) {
        segment.body.destroy()
        throw new ProtocolError(`resuming at byte ${offset}: the registry gave the blob's size as ${first.size} bytes, then as ${segment.size}`)
      }

      return segment
    }

    return {body, contentType: first.contentType, offset: options.offset ?? 0, size: first.size, verifier: body}
  }

  /**
   * One GET of a blob's bytes from `offset`: the whole blob (200), or the rest of it (206, whose
   * Content-Range must start at `offset`). A 416 whose Content-Range says the blob ends at
   * `offset` is an empty rest: a `.part` file that was complete.
   */
  private async blobSegment(digest: string, offset: number, what: string, resume?: ResumeInfo): Promise<BlobSegment & {contentType?: string; size?: number}> {
    const response: RegistryStreamResponse = await this.connection.open(what, {
      headers: offset > 0 ? {range: `bytes=${offset}-`} : undefined,
      method: 'GET',
      operation: 'blob.get',
      path: urls.blob(this.path, digest),
      resume,
      scope: this.pull,
    })
    const contentType = response.headers['content-type']?.[0]
    const range = response.headers['content-range']?.[0]
    if (response.status === 200) {
      const length = Number(response.headers['content-length']?.[0])
      return {body: response.body, contentType, size: Number.isSafeInteger(length) && length >= 0 ? length : undefined, start: 0}
    }

    if (response.status === 206 && offset > 0) {
      const parsed = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range?.trim() ?? '')
      if (!parsed || Number(parsed[1]) !== offset) {
        response.body.destroy()
        throw new ProtocolError(`${what}: the registry answered Range bytes=${offset}- with Content-Range ${terminalSafe(range ?? '(none)')}, not the bytes from ${offset}`)
      }

      return {body: response.body, contentType, size: parsed[3] === '*' ? undefined : Number(parsed[3]), start: offset}
    }

    if (response.status === 416 && offset > 0 && range?.trim() === `bytes */${offset}`) {
      response.body.destroy()
      return {body: Readable.from([]), contentType, size: offset, start: offset}
    }

    throw apiError(what, {body: await readCapped(response.body, 64 * 1024), status: response.status, statusText: response.statusText})
  }

  /**
   * The referrers of a manifest: the referrers API, or, when the registry answers it with 404, the
   * referrers tag schema (`<alg>-<hex>` holding an index). Filtered by artifactType here whenever
   * the registry did not say (OCI-Filters-Applied) that it filtered.
   */
  async referrers(digest: string, options: {all: boolean; artifactType?: string}): Promise<ReferrerList> {
    const what = `referrer list ${this.display}@${digest}`
    const first = urls.referrers(this.path, digest, options.artifactType)
    const request = {headers: {accept: MediaType.OciIndex}, maxBodyBytes: MANIFEST_MAX_BYTES, operation: 'referrers.list', scope: this.pull}
    let index: ReferrerList['index'] | undefined
    let filtered = options.artifactType === undefined
    let walker: PageWalker | undefined
    const budget = new ListBudget(what, 'referrers', 'Without --all, only the first page is read.')
    for (let path: string | undefined = first; path !== undefined; ) {
      const response = await this.connection.send(what, {...request, method: 'GET', path})

      if (response.status === 404 && index === undefined) return this.referrersByTag(digest, options.artifactType, what)
      if (response.status !== 200) throw apiError(what, response)
      const page = parseIndex(response.body, what)
      budget.add(response.body.length, page.manifests.length)

      const applied = (header(response, 'oci-filters-applied') ?? '').split(',').map((name) => name.trim())
      if (applied.includes('artifactType')) filtered = true
      if (index === undefined) index = page
      else for (const entry of page.manifests) index.manifests.push(entry)
      if (!options.all) break
      walker ??= new PageWalker(this.connection.origin())
      try {
        path = walker.next(path, response.headers.link)
      } catch (error) {
        throw new ProtocolError(`${what}: ${(error as Error).message}`)
      }
    }

    const result = index as ReferrerList['index']
    if (!filtered) result.manifests = result.manifests.filter((entry) => entry.artifactType === options.artifactType)
    return {index: result, source: 'referrers-api'}
  }

  private async referrersByTag(digest: string, artifactType: string | undefined, what: string): Promise<ReferrerList> {
    const tag = referrersTag(digest)
    const response = await this.connection.send(what, {
      headers: {accept: `${MediaType.OciIndex}, ${MediaType.DockerManifestList}`},
      maxBodyBytes: MANIFEST_MAX_BYTES,
      method: 'GET',
      operation: 'referrers.tag',
      path: urls.manifest(this.path, tag),
      scope: this.pull,
    })
    if (response.status === 404) {
      // No tag, so no referrers, as long as the manifest itself is there.
      await this.headManifest(digest)
      return {index: {manifests: [], mediaType: MediaType.OciIndex, schemaVersion: 2}, source: 'tag-schema', tag}
    }

    if (response.status !== 200) throw apiError(`${what} (tag ${tag})`, response)
    const index = parseIndex(response.body, `${what} (tag ${tag})`)
    if (artifactType !== undefined) index.manifests = index.manifests.filter((entry) => entry.artifactType === artifactType)
    return {index, source: 'tag-schema', tag}
  }

  // --- writes -----------------------------------------------------------------------------

  /** Uploads a blob (a new session, or `options.resume`'s) and returns what the registry confirmed. */
  uploadBlob(source: BlobSource, options: UploadOptions): Promise<UploadResult> {
    return this.blobWriter.upload(source, options)
  }

  /**
   * Mounts a blob from another repository of the registry. A 202 is a session instead of a mount:
   * with a source, the blob is uploaded into it; without, it is cancelled and the mount refused.
   */
  mountFrom(digest: string, from: string, source: BlobSource | undefined, options: Omit<UploadOptions, 'digest' | 'resume'>): Promise<MountResult> {
    return this.blobWriter.mount(digest, from, source, options)
  }

  /** Deletes a blob by digest. */
  deleteBlob(digest: string): Promise<void> {
    return this.blobWriter.delete(digest)
  }

  /**
   * PUTs a manifest's exact bytes under `reference` (a tag, or a digest they must hash to), or
   * under their own digest; a manifest with a subject is indexed as the registry answers.
   */
  putManifest(bytes: Buffer, options: {contentType: string; reference?: string}): Promise<PushResult> {
    return this.manifestWriter.put(bytes, options)
  }

  /** Deletes a manifest by digest (and its entry in its subject's referrers tag). */
  deleteManifest(digest: string): Promise<DeleteResult> {
    return this.manifestWriter.deleteManifest(digest)
  }

  /** Deletes a tag, where the registry supports it. */
  deleteTag(tag: string): Promise<void> {
    return this.manifestWriter.deleteTag(tag)
  }

  // --- the Store interface (content/store.ts) ------------------------------------------------

  resolve(reference: string): Promise<Descriptor> {
    return this.headManifest(reference)
  }

  fetchManifest(reference: string): Promise<FetchedManifest> {
    return this.getManifest(reference)
  }

  exists(descriptor: Descriptor): Promise<boolean> {
    return this.hasBlob(descriptor.digest)
  }

  fetchBlob(descriptor: Descriptor, options: {offset?: number} = {}): Promise<BlobDownload> {
    return this.getBlob(descriptor.digest, {offset: options.offset})
  }

  async listTags(): Promise<string[]> {
    return (await this.tags({follow: true})).tags
  }

  /**
   * The referrers of a manifest, every page, each descriptor checked before it is used (a
   * failure names the entry: `manifests[3] has an invalid digest …`; the caller names the subject).
   */
  async listReferrers(digest: string, options: {artifactType?: string} = {}): Promise<Descriptor[]> {
    const {index} = await this.referrers(digest, {all: true, artifactType: options.artifactType})
    return index.manifests.map((entry, at) => parseDescriptor(entry, `manifests[${at}]`))
  }

  async pushBlob(descriptor: Descriptor, content: (offset?: number) => Readable, options: PushBlobOptions = {}): Promise<void> {
    await this.blobWriter.upload(lazySource(descriptor, content), {chunkSize: 0, chunked: false, digest: descriptor.digest, progress: options.progress})
  }

  async mountBlob(descriptor: Descriptor, from: MountSource, content: (offset?: number) => Readable, options: PushBlobOptions = {}): Promise<'copied' | 'mounted'> {
    if (from.endpoint !== this.mountSource.endpoint) {
      await this.pushBlob(descriptor, content, options)
      return 'copied'
    }

    const result = await this.blobWriter.mount(descriptor.digest, from.repository, lazySource(descriptor, content), {chunkSize: 0, chunked: false, progress: options.progress})
    return result.status === 'mounted' ? 'mounted' : 'copied'
  }

  async pushManifest(bytes: Buffer, descriptor: Descriptor): Promise<void> {
    await this.manifestWriter.put(bytes, {contentType: descriptor.mediaType, reference: descriptor.digest})
  }

  async tag(descriptor: Descriptor, bytes: Buffer, tag?: string): Promise<void> {
    if (tag !== undefined) await this.manifestWriter.put(bytes, {contentType: descriptor.mediaType, reference: tag})
  }

  /**
   * A HEAD has no body, so no OCI error code: the same path is asked with a GET to learn it. If
   * that GET somehow succeeds, the HEAD's own status is reported.
   */
  private async explainHead(head: RegistryResponse, what: string, get: Omit<LabelledRequest, 'method' | 'scope'>): Promise<Error> {
    if (head.status === 401 || head.status === 403 || head.status === 404) {
      const response = await this.connection.request({...get, method: 'GET', scope: this.pull}).catch(() => undefined)
      if (response && response.status === head.status) return apiError(what, response)
    }

    return apiError(what, head)
  }
}

/**
 * Blob bytes for the upload writer: the source store's stream, opened when the writer reads it,
 * from any offset (an upload going on where its session stands), verified by the source's check.
 */
function lazySource(descriptor: Descriptor, open: (offset?: number) => Readable): BlobSource {
  return {name: descriptor.digest, read: (start = 0) => open(start), seekable: true, size: descriptor.size, verified: true}
}

/** A manifest's media type: the body's own, else its Content-Type. */
export function manifestMediaType(fetched: FetchedManifest): string {
  try {
    const body = JSON.parse(fetched.bytes.toString('utf8')) as {mediaType?: unknown}
    if (typeof body?.mediaType === 'string') return body.mediaType
  } catch {}

  return baseMediaType(fetched.contentType) ?? 'application/octet-stream'
}

function referenceSuffix(reference: string): string {
  return isDigest(reference) ? `@${reference}` : `:${reference}`
}

function isDigest(reference: string): boolean {
  return reference.includes(':')
}

function isKnownDigest(text: string): boolean {
  try {
    parseDigest(text)
    return true
  } catch {
    return false
  }
}

function parseIndex(body: Buffer, what: string): ReferrerList['index'] {
  const index = parseJsonAnswer(body, what)
  const {manifests} = index
  if (!Array.isArray(manifests) || manifests.some((entry) => entry === null || typeof entry !== 'object' || Array.isArray(entry))) {
    throw new ProtocolError(`${what}: the registry's answer is not an index (no "manifests" list)`)
  }

  return index as ReferrerList['index']
}
