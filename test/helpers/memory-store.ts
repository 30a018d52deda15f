import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import type {Descriptor} from '../../src/content/descriptor.js'
import type {BlobDownload, FetchedManifest, MountSource, PushBlobOptions, Store} from '../../src/content/store.js'

import {DigestVerifier, digestOf} from '../../src/content/digest.js'
import {parseManifest} from '../../src/content/manifest.js'
import {MediaType} from '../../src/content/media-types.js'

/**
 * A Store held in memory, for the Copier's unit tests: what a copy reads and writes, and nothing
 * else. It verifies blobs it is given (as both real stores do), logs every call in order, can
 * fail or hold chosen operations, and counts how many of its calls run at once.
 */
export class MemoryStore implements Store {
  readonly blobs = new Map<string, Buffer>()
  readonly manifests = new Map<string, {bytes: Buffer; mediaType: string}>()
  readonly tags = new Map<string, string>()
  /** Referrers of a digest, as listReferrers answers them. */
  readonly referrers = new Map<string, Descriptor[]>()
  /** Roots recorded without a tag (a layout's unnamed index.json entries). */
  readonly roots: string[] = []
  /** Every call, in order: `pushBlob sha256:…`, `pushManifest sha256:…`, `tag v1`. */
  readonly log: string[] = []
  /** Operations (`pushBlob`, `fetchBlob`, …) to fail with this error, by digest or tag ('*' for all). */
  readonly failures = new Map<string, Error>()
  /** Calls running now, and the most that ran at once. */
  inFlight = 0
  peakInFlight = 0
  /** Every call waits this long before it answers (to see concurrency). */
  delayMs = 0

  /** The repositories of each in-memory registry, so that a mount finds the blob it mounts. */
  private static readonly repositories = new Map<string, MemoryStore>()

  constructor(
    readonly display: string,
    readonly mountSource?: MountSource,
  ) {
    if (mountSource) MemoryStore.repositories.set(`${mountSource.endpoint}/${mountSource.repository}`, this)
  }

  /** Adds a blob; returns its descriptor. */
  addBlob(bytes: Buffer | string, mediaType: string = MediaType.OciLayerGzip): Descriptor {
    const buffer = Buffer.from(bytes)
    const digest = digestOf(buffer)
    this.blobs.set(digest, buffer)
    return {digest, mediaType, size: buffer.length}
  }

  /** Adds a manifest (tagged when `tag` is given); returns its descriptor. */
  addManifest(body: Record<string, unknown>, tag?: string): Descriptor {
    const bytes = Buffer.from(JSON.stringify(body))
    const mediaType = body.mediaType as string
    const digest = digestOf(bytes)
    this.manifests.set(digest, {bytes, mediaType})
    if (tag !== undefined) this.tags.set(tag, digest)
    return {digest, mediaType, size: bytes.length}
  }

  /** An image of `layers` blobs with a config, tagged `tag`. */
  addImage(tag: string | undefined, layers: string[], extra: Record<string, unknown> = {}): Descriptor {
    const config = this.addBlob(`{"config":${JSON.stringify(layers)}}`, MediaType.OciConfig)
    return this.addManifest({schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: layers.map((layer) => this.addBlob(layer)), ...extra}, tag)
  }

  async resolve(reference: string): Promise<Descriptor> {
    return this.call('resolve', reference, async () => this.lookup(reference))
  }

  async manifestDigest(reference: string): Promise<string | undefined> {
    return this.call('manifestDigest', reference, async () => {
      const digest = reference.includes(':') ? reference : this.tags.get(reference)
      return digest !== undefined && this.manifests.has(digest) ? digest : undefined
    })
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    return this.call('fetchManifest', reference, async () => {
      const {digest} = this.lookup(reference)
      const {bytes, mediaType} = this.manifests.get(digest)!
      return {bytes, contentType: mediaType, digest}
    })
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    return this.call('exists', descriptor.digest, async () => this.blobs.has(descriptor.digest))
  }

  async fetchBlob(descriptor: Descriptor): Promise<BlobDownload> {
    return this.call('fetchBlob', descriptor.digest, async () => {
      const bytes = this.blobs.get(descriptor.digest)
      if (!bytes) throw new Error(`blob ${descriptor.digest} not found in ${this.display}`)
      const verifier = new DigestVerifier(descriptor.digest, bytes.length)
      Readable.from([bytes]).pipe(verifier)
      return {body: verifier, size: bytes.length, verifier}
    })
  }

  async listTags(): Promise<string[]> {
    return [...this.tags.keys()]
  }

  async listReferrers(digest: string): Promise<Descriptor[]> {
    return this.call('listReferrers', digest, async () => this.referrers.get(digest) ?? [])
  }

  async pushBlob(descriptor: Descriptor, content: () => Readable, options: PushBlobOptions = {}): Promise<void> {
    return this.call('pushBlob', descriptor.digest, async () => {
      const chunks: Buffer[] = []
      const collect = async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) chunks.push(chunk)
      }

      // As the real stores do: a failure of the source (its digest check) fails the push.
      await (options.progress ? pipeline(content(), options.progress, collect) : pipeline(content(), collect))
      const bytes = Buffer.concat(chunks)
      if (digestOf(bytes) !== descriptor.digest) throw new Error(`blob ${descriptor.digest}: the bytes hash to ${digestOf(bytes)}`)
      this.blobs.set(descriptor.digest, bytes)
    })
  }

  async mountBlob(descriptor: Descriptor, from: MountSource, content: () => Readable, options?: PushBlobOptions): Promise<'copied' | 'mounted'> {
    const peer = MemoryStore.repositories.get(`${from.endpoint}/${from.repository}`)
    const bytes = peer?.blobs.get(descriptor.digest)
    if (this.mountSource && from.endpoint === this.mountSource.endpoint && bytes) {
      return this.call('mountBlob', descriptor.digest, async () => {
        this.blobs.set(descriptor.digest, bytes)
        return 'mounted' as const
      })
    }

    await this.pushBlob(descriptor, content, options)
    return 'copied'
  }

  async pushManifest(bytes: Buffer, descriptor: Descriptor, options: {referrer?: boolean} = {}): Promise<void> {
    return this.call('pushManifest', descriptor.digest, async () => {
      // As a registry does: every blob and child the manifest names must be there already.
      const manifest = parseManifest(bytes, descriptor.mediaType)
      const children = manifest.kind === 'index' ? manifest.manifests.map((child) => [child.digest, this.manifests.has(child.digest)] as const) : [manifest.config, ...manifest.layers].map((blob) => [blob.digest, this.blobs.has(blob.digest)] as const)
      const missing = children.find(([, present]) => !present)
      if (missing) throw new Error(`manifest ${descriptor.digest} names ${missing[0]}, which ${this.display} does not have`)
      this.manifests.set(descriptor.digest, {bytes, mediaType: descriptor.mediaType})
      if (options.referrer) this.roots.push(descriptor.digest)
    })
  }

  async tag(descriptor: Descriptor, _bytes: Buffer, tag?: string): Promise<void> {
    return this.call('tag', tag ?? descriptor.digest, async () => {
      if (!this.manifests.has(descriptor.digest)) throw new Error(`tag ${tag}: ${descriptor.digest} is not in ${this.display}`)
      if (tag === undefined) this.roots.push(descriptor.digest)
      else this.tags.set(tag, descriptor.digest)
    })
  }

  private lookup(reference: string): Descriptor {
    const digest = reference.includes(':') ? reference : this.tags.get(reference)
    const manifest = digest === undefined ? undefined : this.manifests.get(digest)
    if (!manifest || digest === undefined) throw new Error(`${reference} not found in ${this.display}`)
    return {digest, mediaType: manifest.mediaType, size: manifest.bytes.length}
  }

  private async call<R>(operation: string, subject: string, run: () => Promise<R>): Promise<R> {
    this.log.push(`${operation} ${subject}`)
    this.inFlight++
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight)
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs))
      const failure = this.failures.get(`${operation} ${subject}`) ?? this.failures.get(`${operation} *`)
      if (failure) throw failure
      return await run()
    } finally {
      this.inFlight--
    }
  }
}
