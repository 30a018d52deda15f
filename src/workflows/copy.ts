import {PassThrough, type Readable, Transform, type TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import type {FetchedManifest, BlobDownload} from '../registry/repository.js'

import {type Descriptor, type Manifest, type Platform, formatPlatform, parseDescriptor, parseManifest, selectPlatform} from '../content/manifest.js'
import {INDEX_MEDIA_TYPES} from '../content/media-types.js'
import {RegshapeError, UsageError} from '../errors.js'

/**
 * `regshape copy` (registry.md §3) and `layout push` (§4): read from one store, write to the
 * other. A manifest's blobs go first (skipped when DST has them, mounted within one registry,
 * streamed otherwise), then its children, then the manifest itself by digest, then its referrers,
 * and the tag last: whatever fails, DST's tag never points at something partial, and a second
 * run finds what is there (HEAD) and sends only what is missing.
 */

/** Where a copy reads: a registry repository or an OCI layout. */
export interface SourceStore {
  readonly display: string
  /** A registry source: the registry's endpoint and the repository, for a mount on the same registry. */
  readonly mountable?: {endpoint: string; repository: string}
  /** The tag the reference names (a layout's only entry's ref.name when it names none). */
  tag(): Promise<string | undefined>
  getManifest(reference: string): Promise<FetchedManifest>
  getBlob(digest: string, size: number): Promise<BlobDownload>
  referrers(digest: string): Promise<Descriptor[]>
}

export type BlobOutcome = 'copied' | 'mounted' | 'skipped'

/** Where a copy writes. */
export interface DestinationStore {
  readonly display: string
  readonly mountable?: {endpoint: string; repository: string}
  hasBlob(descriptor: Descriptor): Promise<boolean>
  /** The digest a tag or digest names at DST, or undefined when it names nothing. */
  manifestDigest(reference: string): Promise<string | undefined>
  /** Streams a blob in; `open` gives its bytes (verified against the digest as they pass). */
  putBlob(descriptor: Descriptor, open: () => Readable, counter: Transform): Promise<void>
  /** Mounts from `from` on the same registry; 'copied' when the registry opened a session instead and the bytes were sent. */
  mountBlob?(descriptor: Descriptor, from: string, open: () => Readable, counter: Transform): Promise<BlobOutcome>
  /** A manifest by its digest; `referrer` ones are listed where the store lists referrers (a layout's index.json). */
  putManifest(bytes: Buffer, descriptor: Descriptor, options: {referrer: boolean}): Promise<void>
  /** Points `tag` at the manifest (last step), or, with no tag, records it where the store needs (layout index.json). */
  tag(bytes: Buffer, descriptor: Descriptor, tag: string | undefined): Promise<void>
}

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
  /** DST's own tag or digest; undefined takes SRC's tag. */
  target?: {digest?: string; tag?: string}
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

/** At most `limit` transfers or manifest requests at once; after a failure, no new one starts. */
class Slots {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(private readonly limit: number) {}

  async run<R>(operation: () => Promise<R>, stopped: () => Error | undefined): Promise<R> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    try {
      const stop = stopped()
      if (stop) throw stop
      return await operation()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }
}

export class Copier {
  private readonly blobs = new Map<string, Promise<void>>()
  private readonly manifests = new Map<string, Promise<void>>()
  private readonly referrersSeen = new Set<string>()
  private readonly slots: Slots
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
    private readonly source: SourceStore,
    private readonly destination: DestinationStore,
    private readonly options: CopyOptions,
  ) {
    this.slots = new Slots(Math.max(1, options.concurrency))
  }

  /** Stops the copy (Ctrl-C): streams in flight are destroyed, nothing new starts, no tag is pushed. */
  abort(error: Error): void {
    this.failure ??= error
    for (const stream of this.streams) stream.destroy(error)
  }

  async run(reference: string): Promise<CopyResult> {
    const started = performance.now()
    try {
      return await this.copy(reference, started)
    } catch (error) {
      // Ctrl-C's error wins over what the destroyed streams reported.
      throw this.failure ?? error
    }
  }

  private async copy(reference: string, started: number): Promise<CopyResult> {
    const {target} = this.options
    let fetched = await this.source.getManifest(reference)
    let root = parse(fetched, `manifest ${this.source.display}${suffix(reference)}`)
    let bytes = fetched.bytes
    let descriptor: Descriptor = {digest: fetched.digest, mediaType: root.mediaType, size: bytes.length}
    const {platforms} = this.options
    if (platforms.length > 0) {
      if (root.kind !== 'index') throw new UsageError(`--platform picks manifests of an index; ${this.source.display}${suffix(reference)} is an image manifest (${root.mediaType})`)
      const chosen = platforms.map((platform) => {
        try {
          return selectPlatform(root as Extract<Manifest, {kind: 'index'}>, platform)
        } catch (error) {
          throw new CopyError(`${this.source.display}${suffix(reference)}: ${(error as Error).message}`)
        }
      })
      if (chosen.length === 1) {
        fetched = await this.source.getManifest(chosen[0].digest)
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

    if (target?.digest !== undefined && target.digest !== descriptor.digest) {
      throw new UsageError(`the destination names ${target.digest}, but what is copied is ${descriptor.digest}`)
    }

    const tag = target?.digest === undefined ? (target?.tag ?? (await this.source.tag())) : undefined
    await this.manifest(descriptor, {bytes, manifest: root}, false)
    if (this.options.referrers) await this.referrers()
    this.stopIfFailed()
    // The tag last, and only when it does not already name this manifest.
    const tagged = tag === undefined || this.options.force ? undefined : await this.destination.manifestDigest(tag)
    if (tagged !== descriptor.digest) await this.destination.tag(bytes, descriptor, tag)
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

  /** A manifest and everything it references, once per digest. */
  private manifest(descriptor: Descriptor, known: {bytes: Buffer; manifest: Manifest} | undefined, referrer: boolean): Promise<void> {
    let job = this.manifests.get(descriptor.digest)
    if (!job) {
      job = this.copyManifest(descriptor, known, referrer)
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
      await this.io(() => this.destination.putManifest(bytes, descriptor, {referrer}))
    } catch (error) {
      throw this.fail(error, `manifest ${descriptor.digest}`)
    }

    this.result.manifests.copied++
    if (this.options.referrers) this.referrersSeen.add(descriptor.digest)
  }

  private async fetch(descriptor: Descriptor): Promise<{bytes: Buffer; manifest: Manifest}> {
    let fetched: FetchedManifest
    try {
      fetched = await this.io(() => this.source.getManifest(descriptor.digest))
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
          const entries = await this.io(() => this.source.referrers(digest))
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
    return this.slots.run(operation, () => this.failure)
  }

  /** One blob, once per digest: skipped, mounted or streamed. */
  private blob(descriptor: Descriptor): Promise<void> {
    let job = this.blobs.get(descriptor.digest)
    if (!job) {
      job = this.slots.run(() => this.transfer(descriptor), () => this.failure)
      this.blobs.set(descriptor.digest, job)
    }

    return job
  }

  private async transfer(descriptor: Descriptor): Promise<void> {
    const {progress} = this.options
    const what = `blob ${descriptor.digest}`
    try {
      if (!this.options.force && (await this.destination.hasBlob(descriptor))) {
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
    const open = (): Readable => {
      const relay = new PassThrough({highWaterMark: 1024 * 1024})
      this.streams.add(relay)
      relay.once('close', () => this.streams.delete(relay))
      this.source.getBlob(descriptor.digest, descriptor.size).then(
        (download) => {
          download.body.once('error', (error) => {
            sourceError ??= error
            relay.destroy(error)
          })
          relay.once('close', () => download.body.destroy())
          download.body.pipe(relay)
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
      const {mountable} = this.source
      const sameRegistry = mountable && this.destination.mountable && this.destination.mountBlob && mountable.endpoint === this.destination.mountable.endpoint
      const outcome: BlobOutcome = sameRegistry ? await this.destination.mountBlob!(descriptor, mountable.repository, open, counter) : (await this.destination.putBlob(descriptor, open, counter), 'copied')
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
    const named = message.includes(what) ? message : `${what}${where ? ` (${where})` : ''}: ${message}`
    this.failure = new CopyError(named, {cause: error, exitCode: error instanceof RegshapeError ? error.exitCode : undefined})
    return this.failure
  }
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

/** A source stream through the progress counter into a sink (a layout's putBlob). */
export async function counted(source: Readable, counter: Transform): Promise<Readable> {
  const relay = new PassThrough()
  pipeline(source, counter, relay).catch((error: Error) => relay.destroy(error))
  return relay
}
