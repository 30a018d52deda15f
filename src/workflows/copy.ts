import {PassThrough, type Readable, Transform, type TransformCallback} from 'node:stream'

import type {BlobOutcome, FetchedManifest, Store} from '../content/store.js'

import {type Descriptor, type Platform, formatPlatform, parseDescriptor} from '../content/descriptor.js'
import {type Manifest, parseManifest, selectPlatform} from '../content/manifest.js'
import {INDEX_MEDIA_TYPES} from '../content/media-types.js'
import {RegshapeError, UsageError} from '../errors.js'
import {Limiter} from '../util/limit.js'

/**
 * `regshape copy` (registry.md §3) and `layout push` (§4): read from one store, write to the
 * other. A manifest's blobs go first (skipped when DST has them, mounted within one registry,
 * streamed otherwise), then its children, then the manifest itself by digest, then its referrers,
 * and the tag last: whatever fails, DST's tag never points at something partial, and a second
 * run finds what is there (HEAD) and sends only what is missing.
 */

export type {BlobOutcome} from '../content/store.js'

/** Progress of the blobs in flight (bars on a terminal, lines in CI, nothing). */
export interface CopyProgress {
  started(descriptor: Descriptor): void
  advanced(descriptor: Descriptor, bytes: number): void
  finished(descriptor: Descriptor, outcome: 'failed' | BlobOutcome): void
  close(): void
}

export interface CopyOptions {
  concurrency: number
  /** HEAD nothing: send every blob and manifest (layout push --force). */
  force?: boolean
  platforms: Platform[]
  progress: CopyProgress
  referrers: boolean
  /** DST's tag, pushed last (DST's own, else SRC's); none: the manifest goes by digest (a layout lists it). */
  tag?: string
  /** DST names a digest: what is copied must be it, and no tag is pushed. */
  digest?: string
  /**
   * Told, once the first manifest is read, how many more manifests the copy reads from the source
   * (an index's children): a registry that counts pulls may have fewer left.
   */
  planned?(reads: {manifests: number}): void
  /**
   * --platform picks from an index of platforms only: an image manifest, or an index whose entries
   * name no platform, is copied as it is, not refused (a sync, whose tags are of every kind).
   */
  platformsOfIndexesOnly?: boolean
  /** Shared by the Copiers of one run (a sync): each blob and manifest goes into a store once at a time. */
  uploads?: UploadCoordinator
}

/** What a copy writes last and tags: the manifest named, or what --platform made of it. */
export interface CopyRoot {
  bytes: Buffer
  descriptor: Descriptor
  manifest: Manifest
}

export interface CopyResult {
  blobs: {copied: number; mounted: number; skipped: number}
  /** Bytes of the blobs streamed (not those skipped or mounted). */
  bytes: number
  digest: string
  manifests: {copied: number; skipped: number}
  mediaType: string
  referrers: number
  seconds: number
  size: number
  tag?: string
}

/** A failure of one blob or manifest: the message names it. */
export class CopyError extends RegshapeError {}

/**
 * The blobs and manifests that several Copiers (the images of a sync) are writing into their
 * stores, by store and digest. Tags of a mirror share blobs: two images that both found a blob
 * missing uploaded it twice at once, and distribution 2.8 then failed a later manifest PUT with
 * MANIFEST_BLOB_UNKNOWN. Here the first Copier uploads and the others wait for it; once it is
 * done, the others skip it without a HEAD. When the upload fails, a waiter tries itself: the
 * failure may be the first Copier's own (it stopped after another blob failed).
 */
export class UploadCoordinator {
  private readonly done = new Set<string>()
  private readonly inFlight = new Map<string, Promise<unknown>>()

  /** Runs `write` unless another Copier is writing, or wrote, `key`: 'written' by this one, else 'shared'. */
  async once(key: string, write: () => Promise<unknown>): Promise<'shared' | 'written'> {
    for (;;) {
      if (this.done.has(key)) return 'shared'
      const running = this.inFlight.get(key)
      if (running === undefined) break
      try {
        await running
        return 'shared'
      } catch {}
    }

    const job = write()
    this.inFlight.set(key, job)
    try {
      await job
      this.done.add(key)
      return 'written'
    } finally {
      if (this.inFlight.get(key) === job) this.inFlight.delete(key)
    }
  }
}

/**
 * Copies what a reference names from one store to another: a registry repository or an OCI
 * layout on either side (content/store.ts), at most --concurrency transfers and manifest requests
 * at once. After a failure no new one starts.
 */
export class Copier {
  private readonly blobs = new Map<string, Promise<void>>()
  private readonly manifests = new Map<string, Promise<void>>()
  private readonly referrersSeen = new Set<string>()
  private readonly slots: Limiter
  private readonly streams = new Set<Readable>()
  private failure?: Error
  private readonly result: CopyResult = {
    blobs: {copied: 0, mounted: 0, skipped: 0},
    bytes: 0,
    digest: '',
    manifests: {copied: 0, skipped: 0},
    mediaType: '',
    referrers: 0,
    seconds: 0,
    size: 0,
  }

  constructor(
    private readonly source: Store,
    private readonly destination: Store,
    private readonly options: CopyOptions,
  ) {
    this.slots = new Limiter(Math.max(1, options.concurrency))
  }

  /** Stops the copy (Ctrl-C): streams in flight are destroyed, nothing new starts, no tag is pushed. */
  abort(error: Error): void {
    this.failure ??= error
    for (const stream of this.streams) stream.destroy(error)
  }

  async run(reference: CopyRoot | string): Promise<CopyResult> {
    const started = performance.now()
    try {
      return await this.copy(typeof reference === 'string' ? await this.root(reference) : reference, started)
    } catch (error) {
      // Ctrl-C's error wins over what the destroyed streams reported.
      throw this.failure ?? error
    }
  }

  /**
   * The manifest a reference names at the source, or what --platform makes of it: the one
   * platform's manifest, or a new index of the platforms asked for. Its digest is what DST's tag
   * will name (a sync compares it with DST's before copying).
   */
  async root(reference: string): Promise<CopyRoot> {
    let fetched = await this.source.fetchManifest(reference)
    let root = parse(fetched, `manifest ${this.source.display}${suffix(reference)}`)
    let bytes = fetched.bytes
    let descriptor: Descriptor = {digest: fetched.digest, mediaType: root.mediaType, size: bytes.length}
    const {platforms} = this.options
    // A sync copies as it is what --platform cannot narrow: an image manifest, or an index whose
    // entries name no platform (the referrers tag schema's).
    const narrowable = root.kind === 'index' && root.manifests.some((entry) => entry.platform !== undefined)
    if (platforms.length > 0 && !(this.options.platformsOfIndexesOnly && !narrowable)) {
      if (root.kind !== 'index') throw new UsageError(`--platform picks manifests of an index; ${this.source.display}${suffix(reference)} is an image manifest (${root.mediaType})`)
      const chosen = platforms.map((platform) => {
        try {
          return selectPlatform(root as Extract<Manifest, {kind: 'index'}>, platform)
        } catch (error) {
          throw new CopyError(`${this.source.display}${suffix(reference)}: ${(error as Error).message}`)
        }
      })
      if (chosen.length === 1) {
        fetched = await this.source.fetchManifest(chosen[0].digest)
        root = parse(fetched, `manifest ${this.source.display}@${chosen[0].digest} (${formatPlatform(platforms[0])})`)
        bytes = fetched.bytes
        descriptor = {digest: fetched.digest, mediaType: root.mediaType, size: bytes.length}
      } else {
        // A new index of just those platforms, in the order asked, every other field kept.
        const unique = chosen.filter((entry, at) => chosen.findIndex((other) => other.digest === entry.digest) === at)
        bytes = Buffer.from(JSON.stringify({...root.json, manifests: unique}))
        root = parseManifest(bytes, root.mediaType)
        const {digestOf} = await import('../content/digest.js')
        descriptor = {digest: digestOf(bytes), mediaType: root.mediaType, size: bytes.length}
      }
    }

    return {bytes, descriptor, manifest: root}
  }

  private async copy({bytes, descriptor, manifest: root}: CopyRoot, started: number): Promise<CopyResult> {
    this.options.planned?.({manifests: root.kind === 'index' ? new Set(root.manifests.map((entry) => entry.digest)).size : 0})
    const {digest: pinned} = this.options
    if (pinned !== undefined && pinned !== descriptor.digest) {
      throw new UsageError(`the destination names ${pinned}, but what is copied is ${descriptor.digest}`)
    }

    const tag = pinned === undefined ? this.options.tag : undefined
    await this.manifest(descriptor, {bytes, manifest: root}, false)
    if (this.options.referrers) await this.referrers()
    this.stopIfFailed()
    // The tag last, and only when it does not already name this manifest.
    const tagged = tag === undefined || this.options.force ? undefined : await this.destination.manifestDigest(tag)
    if (tagged !== descriptor.digest) await this.destination.tag(descriptor, bytes, tag)
    this.options.progress.close()
    return {
      ...this.result,
      digest: descriptor.digest,
      mediaType: descriptor.mediaType,
      seconds: (performance.now() - started) / 1000,
      size: descriptor.size,
      ...(tag === undefined ? {} : {tag}),
    }
  }

  private stopIfFailed(): void {
    if (this.failure) throw this.failure
  }

  /** A manifest and everything it references, once per digest (and with `uploads`, once per store at a time). */
  private manifest(descriptor: Descriptor, known: {bytes: Buffer; manifest: Manifest} | undefined, referrer: boolean): Promise<void> {
    let job = this.manifests.get(descriptor.digest)
    if (!job) {
      const {uploads} = this.options
      job = uploads
        ? uploads.once(`${this.destination.display}\nmanifest\n${descriptor.digest}`, () => this.copyManifest(descriptor, known, referrer)).then((outcome) => {
            if (outcome === 'written') return
            // Another image wrote it (and what it references): as if found at DST.
            this.result.manifests.skipped++
            if (this.options.referrers) this.referrersSeen.add(descriptor.digest)
          })
        : this.copyManifest(descriptor, known, referrer)
      this.manifests.set(descriptor.digest, job)
    }

    return job
  }

  private async copyManifest(descriptor: Descriptor, known: {bytes: Buffer; manifest: Manifest} | undefined, referrer: boolean): Promise<void> {
    this.stopIfFailed()
    if (!this.options.force && (await this.io(() => this.destination.manifestDigest(descriptor.digest))) === descriptor.digest) {
      // DST has it, so it has all it references (registries check; a copy writes children first).
      this.result.manifests.skipped++
      if (this.options.referrers) this.referrersSeen.add(descriptor.digest)
      if (this.options.referrers && INDEX_MEDIA_TYPES.has(descriptor.mediaType)) {
        // The children's referrers may be new: their digests are in the index.
        const {manifest} = known ?? (await this.fetch(descriptor))
        if (manifest.kind === 'index') for (const child of manifest.manifests) this.referrersSeen.add(child.digest)
      }

      return
    }

    const {bytes, manifest} = known ?? (await this.fetch(descriptor))
    if (manifest.kind === 'index') {
      await Promise.all(manifest.manifests.map((child) => this.manifest(child, undefined, false)))
    } else {
      await Promise.all([manifest.config, ...manifest.layers].map((blob) => this.blob(blob)))
    }

    this.stopIfFailed()
    try {
      await this.io(() => this.destination.pushManifest(bytes, descriptor, {referrer}))
    } catch (error) {
      throw this.fail(error, `manifest ${descriptor.digest}`)
    }

    this.result.manifests.copied++
    if (this.options.referrers) this.referrersSeen.add(descriptor.digest)
  }

  private async fetch(descriptor: Descriptor): Promise<{bytes: Buffer; manifest: Manifest}> {
    let fetched: FetchedManifest
    try {
      fetched = await this.io(() => this.source.fetchManifest(descriptor.digest))
    } catch (error) {
      throw this.fail(error, `manifest ${descriptor.digest}`)
    }

    return {bytes: fetched.bytes, manifest: parse(fetched, `manifest ${this.source.display}@${descriptor.digest}`)}
  }

  /** Referrers of every manifest copied or found, and theirs, until none are new. */
  private async referrers(): Promise<void> {
    const listed = new Set<string>()
    for (;;) {
      const pending = [...this.referrersSeen].filter((digest) => !listed.has(digest))
      if (pending.length === 0) return
      for (const digest of pending) listed.add(digest)
      const found = await Promise.all(pending.map(async (digest) => {
        try {
          // Entries as the source listed them: each is checked before its digest names a request.
          const entries = await this.io(() => this.source.listReferrers(digest))
          return entries.map((entry, at) => parseDescriptor(entry, `manifests[${at}]`))
        } catch (error) {
          throw this.fail(error, `referrers of ${digest}`)
        }
      }))
      const referrers = found.flat().filter((entry) => !this.manifests.has(entry.digest))
      this.result.referrers += new Set(referrers.map((entry) => entry.digest)).size
      await Promise.all(referrers.map((entry) => this.manifest({digest: entry.digest, mediaType: entry.mediaType, size: entry.size}, undefined, true)))
    }
  }

  /**
   * A manifest's request (HEAD, GET, PUT, a referrers list) within --concurrency, like a blob's
   * transfer: an index of 300 children otherwise opened 300 connections (or files) at once, and
   * failed with EMFILE under `ulimit -n 256`. Only the request holds the slot, never the wait
   * for children or blobs, so a manifest cannot block the work it waits for.
   */
  private io<R>(operation: () => Promise<R>): Promise<R> {
    return this.slots.run(() => {
      this.stopIfFailed()
      return operation()
    })
  }

  /** One blob, once per digest: skipped, mounted or streamed; with `uploads`, once per store at a time. */
  private blob(descriptor: Descriptor): Promise<void> {
    let job = this.blobs.get(descriptor.digest)
    if (!job) {
      const {uploads} = this.options
      // A slot is taken for the transfer only, not for the wait on another image's upload.
      const transfer = () => this.io(() => this.transfer(descriptor))
      job = uploads
        ? uploads.once(`${this.destination.display}\nblob\n${descriptor.digest}`, transfer).then((outcome) => {
            if (outcome === 'written') return
            this.result.blobs.skipped++
            this.options.progress.finished(descriptor, 'skipped')
          })
        : transfer()
      this.blobs.set(descriptor.digest, job)
    }

    return job
  }

  private async transfer(descriptor: Descriptor): Promise<void> {
    const {progress} = this.options
    const what = `blob ${descriptor.digest}`
    try {
      if (!this.options.force && (await this.destination.exists(descriptor))) {
        this.result.blobs.skipped++
        progress.finished(descriptor, 'skipped')
        return
      }
    } catch (error) {
      throw this.fail(error, what)
    }

    // The source's failure (a lying digest, a missing blob) is the one worth reporting, not the
    // destination's complaint about a body that stopped.
    let sourceError: Error | undefined
    // Called again with an offset when the destination lost its connection mid-blob: the source
    // reads from there (a store that can only start at 0 has its first bytes skipped here).
    const open = (offset = 0): Readable => {
      const relay = new PassThrough({highWaterMark: 1024 * 1024})
      this.streams.add(relay)
      relay.once('close', () => this.streams.delete(relay))
      this.source.fetchBlob(descriptor, offset > 0 ? {offset} : undefined).then(
        (download) => {
          download.body.once('error', (error) => {
            sourceError ??= error
            relay.destroy(error)
          })
          relay.once('close', () => download.body.destroy())
          const skip = offset - (download.offset ?? 0)
          ;(skip > 0 ? download.body.pipe(skipping(skip)) : download.body).pipe(relay)
        },
        (error: Error) => {
          sourceError ??= error
          relay.destroy(error)
        },
      )
      return relay
    }

    progress.started(descriptor)
    let bytes = 0
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        bytes += chunk.length
        progress.advanced(descriptor, chunk.length)
        callback(null, chunk)
      },
    })
    try {
      const from = this.source.mountSource
      // The download itself, for a destination that reads it in bulk (a layout); its failures are the source's.
      const download = () =>
        this.source.fetchBlob(descriptor).then(
          (fetched) => {
            this.streams.add(fetched.body)
            fetched.body.once('close', () => this.streams.delete(fetched.body))
            fetched.body.once('error', (error) => {
              sourceError ??= error
            })
            return fetched
          },
          (error: Error) => {
            sourceError ??= error
            throw error
          },
        )
      const outcome: BlobOutcome =
        from && this.destination.mountBlob
          ? await this.destination.mountBlob(descriptor, from, open, {download, progress: counter})
          : (await this.destination.pushBlob(descriptor, open, {download, progress: counter}), 'copied')
      this.result.blobs[outcome]++
      if (outcome === 'copied') this.result.bytes += bytes
      progress.finished(descriptor, outcome)
    } catch (error) {
      progress.finished(descriptor, 'failed')
      throw this.fail(sourceError ?? error, what, sourceError ? this.source.display : this.destination.display)
    }
  }

  /** The first failure stops the copy; its message names the blob or manifest. */
  private fail(error: unknown, what: string, where?: string): Error {
    if (this.failure) return this.failure
    const message = error instanceof Error ? error.message : String(error)
    // An error that names the blob or manifest already (a layout's `blob sha256:… does not
    // exist`) is not named twice.
    const named = error instanceof RegshapeError && error.about !== undefined && what.endsWith(` ${error.about}`) ? message : `${what}${where ? ` (${where})` : ''}: ${message}`
    this.failure = new CopyError(named, {cause: error, exitCode: error instanceof RegshapeError ? error.exitCode : undefined})
    return this.failure
  }
}

/** Drops the first `count` bytes of a stream (a source that read from 0 when asked from an offset). */
function skipping(count: number): Transform {
  let left = count
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (left >= chunk.length) {
        left -= chunk.length
        callback()
        return
      }

      const rest = chunk.subarray(left)
      left = 0
      callback(null, rest)
    },
  })
}

function parse(fetched: FetchedManifest, what: string): Manifest {
  try {
    return parseManifest(fetched.bytes, fetched.contentType)
  } catch (error) {
    throw new CopyError(`${what}: ${(error as Error).message}`)
  }
}

function suffix(reference: string): string {
  return reference.includes(':') ? `@${reference}` : `:${reference}`
}
