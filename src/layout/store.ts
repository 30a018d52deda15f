import {constants as fsConstants, writeSync} from 'node:fs'
import {type FileHandle, open, readdir, rename, rm, stat, unlink} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {PassThrough, type Readable, type Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import type {BlobDownload, BlobInfo, FetchedManifest, PushBlobOptions, Store} from '../content/store.js'

import {DigestMismatchError, DigestVerifier, Digester, digestOf} from '../content/digest.js'
import {type Descriptor, ManifestError} from '../content/descriptor.js'
import {parseManifest} from '../content/manifest.js'
import {MediaType} from '../content/media-types.js'
import {terminalSafe} from '../util/text.js'
import {type DigestAlgorithm, isTag, parseDigest} from '../reference/image.js'
import {RegshapeError} from '../errors.js'
import {FileTooLargeError, NotRegularFileError, makeDirectoryDurably, readRegularFile, syncDirectory} from '../util/files.js'
import {type HeldLock, LockError, acquireLock, describeBusyLock} from '../util/lock.js'
import {LayoutError, NotLayoutError, layoutMessages as messages} from './errors.js'
import {flushingWriter, removeOnSignal, temporaryBeside, writeFileAtomic} from './files.js'

/**
 * An OCI image layout on disk (image-spec image-layout.md: `oci-layout`, `index.json`,
 * `blobs/<alg>/<hex>`): a Store (content/store.ts) like a registry repository, with the read
 * methods of registry/repository.ts under the same names and result types (getManifest,
 * headManifest, headBlob, getBlob, tags, referrers), and the writes the layout commands and a
 * copy need: putBlob from a stream, putManifest, tagging through index.json's
 * `org.opencontainers.image.ref.name`. A layout a copy writes into is created at its first write
 * (OciLayout.destination): a copy that fails before leaves no empty layout behind.
 *
 * - Blob bytes stream: into a temporary in blobs/<alg>/ through a digester, renamed to their name
 *   only once they hashed to it; out through a DigestVerifier, so a reader gets an error, not a
 *   quiet end, when a file does not hold the bytes its name promises.
 * - index.json changes under a lock (`index.json.lock`, src/util/lock.ts) and are written whole
 *   (temporary + rename): two processes tagging one layout both land.
 */

export const REF_NAME = 'org.opencontainers.image.ref.name'
export const LAYOUT_VERSION = '1.0.0'
/** JSON blobs (manifests, configs) are read whole; this bounds them (distribution's manifest limit). */
export const JSON_MAX_BYTES = 4 * 1024 * 1024
/** index.json, oci-layout and the staging file are read whole too: index.json lists every tag and referrer, so more room. */
export const METADATA_MAX_BYTES = 16 * 1024 * 1024

export interface IndexJson {
  annotations?: Record<string, string>
  manifests: Descriptor[]
  mediaType?: string
  schemaVersion: number
  [field: string]: unknown
}

export interface PutManifestOptions {
  /** Extra annotations of the index.json entry (a tagged manifest only). */
  annotations?: Record<string, string>
  mediaType: string
  /** Recorded in index.json as the entry's ref.name, replacing any entry of that name. */
  tag?: string
  /** The platform of the index.json entry, when known. */
  platform?: Descriptor['platform']
}

export class OciLayout implements Store {
  /** The directory, absolute. */
  readonly directory: string
  /** False for a destination not created yet (OciLayout.destination): it is, at the first write. */
  private created = true
  private creating?: Promise<unknown>
  private heldLock?: HeldLock
  private lockDepth = 0

  private constructor(
    /** The path as the user gave it, for messages. */
    readonly path: string,
  ) {
    this.directory = resolve(path)
  }

  /**
   * A new, empty layout; refused where one already is. Only the directory is made before the
   * lock is taken: whatever else appears in it is made under the lock, so another process that
   * finds the lock there knows to wait for it (see openIfAny).
   */
  static async init(path: string): Promise<OciLayout> {
    const layout = new OciLayout(path)
    if (await exists(layout.file('oci-layout'))) throw new LayoutError(messages.alreadyLayout(path))
    await layout.makeDirectory()
    await layout.writing(async () => {
      if (await exists(layout.file('oci-layout'))) throw new LayoutError(messages.alreadyLayout(path))
      await layout.populate()
    })
    return layout
  }

  /**
   * The layout at `path`, or undefined where there is nothing or an empty directory (a layout to
   * create: openOrInit). A directory holding only a lock is one another process is creating a
   * layout in (or writing): its lock is waited for, and the directory looked at again.
   */
  static async openIfAny(path: string): Promise<OciLayout | undefined> {
    let notLayout: NotLayoutError
    try {
      return await OciLayout.open(path)
    } catch (error) {
      if (!(error instanceof NotLayoutError)) throw error
      notLayout = error
    }

    const entries = await readdir(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : undefined))
    if (entries === undefined) throw notLayout
    if (entries.length === 0) return undefined
    if (!entries.some((name) => isLockEntry(name))) throw notLayout
    const layout = new OciLayout(path)
    return layout.writing(async () => {
      if (await exists(layout.file('oci-layout'))) return OciLayout.open(path)
      if ((await readdir(layout.directory)).some((name) => !isLockEntry(name))) throw notLayout
      return undefined
    })
  }

  /**
   * The layout at `path`, created there if there is nothing or an empty directory (a copy's
   * destination, as skopeo creates one). The look and the creation happen under the layout's
   * lock: of several processes copying into one new directory at once, one creates the layout
   * and the others open it.
   */
  static async openOrInit(path: string): Promise<OciLayout> {
    const existing = await OciLayout.openIfAny(path)
    if (existing) return existing
    const layout = new OciLayout(path)
    await layout.makeDirectory()
    return layout.writing(async () => {
      if (await exists(layout.file('oci-layout'))) return OciLayout.open(path)
      if ((await readdir(layout.directory)).some((name) => !isLockEntry(name))) throw new NotLayoutError(messages.notLayout(path))
      await layout.populate()
      return layout
    })
  }

  /**
   * A layout to write into (a copy's destination): the one at `path`, or one created there at the
   * first write, where there is nothing or an empty directory (as skopeo creates one).
   */
  static async destination(path: string): Promise<OciLayout> {
    const existing = await OciLayout.openIfAny(path)
    if (existing) return existing
    const layout = new OciLayout(path)
    layout.created = false
    return layout
  }

  /** An existing layout: its `oci-layout` marker must be there and name version 1.x. */
  static async open(path: string): Promise<OciLayout> {
    const layout = new OciLayout(path)
    let text: string
    try {
      text = (await readLayoutFile(layout.file('oci-layout'))).toString('utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotLayoutError(messages.notLayout(path))
      const why = unreadable(error)
      throw new LayoutError(messages.badMarker(path, why.startsWith('it ') ? why.slice(3) : `cannot be read: ${why}`))
    }

    let marker: unknown
    try {
      marker = JSON.parse(text)
    } catch {
      throw new LayoutError(messages.badMarker(path, 'is not JSON'))
    }

    const version = (marker as {imageLayoutVersion?: unknown})?.imageLayoutVersion
    if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) throw new LayoutError(messages.badMarker(path, `names imageLayoutVersion ${JSON.stringify(version)}, not 1.x`))
    return layout
  }

  file(name: string): string {
    return join(this.directory, name)
  }

  blobPath(digest: string): string {
    const {algorithm, hex} = parseDigest(digest)
    return join(this.directory, 'blobs', algorithm, hex)
  }

  private async makeDirectory(): Promise<void> {
    try {
      await makeDirectoryDurably(this.directory)
    } catch (error) {
      throw new LayoutError(messages.cannotWrite(this.path, (error as NodeJS.ErrnoException).code ?? (error as Error).message))
    }
  }

  /** What a new layout holds, the caller holding the lock; the marker last, so a directory with one is whole. */
  private async populate(): Promise<void> {
    try {
      await makeDirectoryDurably(join(this.directory, 'blobs', 'sha256'))
    } catch (error) {
      throw new LayoutError(messages.cannotWrite(this.path, (error as NodeJS.ErrnoException).code ?? (error as Error).message))
    }

    await this.write(this.file('index.json'), serialise(emptyIndex()))
    await this.write(this.file('oci-layout'), serialise({imageLayoutVersion: LAYOUT_VERSION}))
  }

  // ---- blobs ----

  /** The blob's size, from the file; a missing blob is an error naming it. */
  async headBlob(digest: string): Promise<BlobInfo & {size: number}> {
    const size = await this.blobSize(digest)
    if (size === undefined) throw new LayoutError(messages.blobNotFound(digest, this.path), {about: digest})
    return {digest, size}
  }

  /** Whether the blob is there (with `size` bytes, when given): what a copy asks before sending one. */
  async hasBlob(digest: string, size?: number): Promise<boolean> {
    const actual = await this.blobSize(digest)
    return actual !== undefined && (size === undefined || actual === size)
  }

  /** The blob's bytes as they stream, verified against its digest (and `expectedSize`, when given). */
  async getBlob(digest: string, expectedSize?: number): Promise<BlobDownload> {
    const {size} = await this.headBlob(digest)
    if (expectedSize !== undefined && size !== expectedSize) throw new LayoutError(messages.sizeMismatch(digest, expectedSize, size))
    // Opened without waiting, and looked at again once open: a FIFO put there since the stat
    // would otherwise hold the read (and a thread of libuv's pool) until a writer came.
    let handle: FileHandle
    try {
      handle = await open(this.blobPath(digest), fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY)
    } catch (error) {
      throw new LayoutError(`cannot read blob ${digest}: ${unreadable(error)}`)
    }

    if (!(await handle.stat()).isFile()) {
      await handle.close()
      throw new LayoutError(messages.blobNotFound(digest, this.path), {about: digest})
    }

    const verifier = new DigestVerifier(digest, size)
    const file = handle.createReadStream()
    file.once('error', (error) => verifier.destroy(new LayoutError(`cannot read blob ${digest}: ${(error as NodeJS.ErrnoException).code ?? error.message}`)))
    verifier.once('close', () => {
      if (!file.readableEnded) file.destroy()
    })
    file.pipe(verifier)
    return {body: verifier, size, verifier}
  }

  /** A JSON document (manifest, config) whole, verified; capped at JSON_MAX_BYTES. */
  async readJsonBlob(digest: string, by = `the layout at ${this.path}`): Promise<Buffer> {
    const size = await this.blobSize(digest)
    if (size === undefined) throw new LayoutError(messages.blobMissing(digest, by), {about: digest})
    if (size > JSON_MAX_BYTES) throw new LayoutError(messages.tooLarge(digest, JSON_MAX_BYTES), {about: digest})
    let bytes: Buffer
    try {
      bytes = (await readRegularFile(this.blobPath(digest), JSON_MAX_BYTES)).bytes
    } catch (error) {
      if (error instanceof FileTooLargeError) throw new LayoutError(messages.tooLarge(digest, JSON_MAX_BYTES), {about: digest})
      throw new LayoutError(`cannot read blob ${digest}: ${unreadable(error)}`)
    }

    const actual = digestOf(bytes, parseDigest(digest).algorithm)
    if (actual !== digest) throw new LayoutError(messages.mismatch(digest, actual))
    return bytes
  }

  /**
   * Writes a blob from a stream: into a temporary in blobs/<alg>/, hashed on the way, renamed to
   * its digest only if the bytes hash to `expected.digest` (and count `expected.size`) when given.
   * A blob already there is not written again (the stream is left unread for the caller to drop).
   */
  async putBlob(
    source: Readable,
    expected: {
      algorithm?: DigestAlgorithm
      digest?: string
      /** Awaited after the bytes are written and before the blob is committed: a rejection leaves no blob. */
      gate?: Promise<unknown>
      size?: number
    } = {},
  ): Promise<{digest: string; size: number}> {
    if (expected.digest && (await this.hasBlob(expected.digest, expected.size))) {
      source.destroy()
      return {digest: expected.digest, size: (await this.blobSize(expected.digest)) as number}
    }

    const algorithm = expected.digest ? parseDigest(expected.digest).algorithm : (expected.algorithm ?? 'sha256')
    const directory = join(this.directory, 'blobs', algorithm)
    const digester = expected.digest ? new DigestVerifier(expected.digest, expected.size) : new Digester(algorithm)
    const temporary = temporaryBeside(join(directory, 'blob'))
    const stopWatching = removeOnSignal(temporary)
    try {
      await makeDirectoryDurably(directory)
      // Through a handle of our own, so the bytes are flushed before the rename gives them their
      // name: after a crash, a blob under a digest's name must not be a truncated one (skopeo
      // flushes too), and the directory after it, so the name itself is not lost.
      const handle = await open(temporary, 'wx', 0o644)
      try {
        await pipeline(source, digester, flushingWriter(handle))
      } finally {
        await handle.close()
      }

      await expected.gate
      const digest = digester.digest as string
      await rename(temporary, this.blobPath(digest))
      await syncDirectory(directory)
      return {digest, size: digester.size}
    } catch (error) {
      source.destroy()
      await rm(temporary, {force: true})
      if (error instanceof DigestMismatchError) throw new LayoutError(`blob ${expected.digest}: ${error.message}; not written`, {about: expected.digest, cause: error})
      if (error instanceof RegshapeError) throw error
      throw new LayoutError(messages.cannotWrite(this.path, (error as NodeJS.ErrnoException).code ?? (error as Error).message), {cause: error})
    } finally {
      stopWatching()
    }
  }

  /**
   * Writes a blob from another store's download, checked by that download's own digest check
   * (the bytes are not hashed a second time): each read of the source written where it lands
   * when the download can hand its reads over (a registry's), else as it streams. Flushed, then
   * renamed to its digest, as putBlob does.
   */
  private async putDownload(descriptor: Descriptor, fetch: () => Promise<BlobDownload>, progress?: Transform): Promise<void> {
    const {digest} = descriptor
    const directory = join(this.directory, 'blobs', parseDigest(digest).algorithm)
    const temporary = temporaryBeside(join(directory, 'blob'))
    const stopWatching = removeOnSignal(temporary)
    let body: Readable | undefined
    try {
      await makeDirectoryDurably(directory)
      const handle = await open(temporary, 'wx', 0o644)
      try {
        const download = await fetch()
        body = download.body
        const sinkable = body as Readable & {sink?(write: (chunk: Buffer) => void): void}
        if (typeof sinkable.sink === 'function') {
          // The caller's counter only counts: what it passes on is dropped.
          progress?.resume()
          const {fd} = handle
          let position = 0
          await new Promise<void>((resolvePromise, rejectPromise) => {
            sinkable.once('end', () => resolvePromise())
            sinkable.once('error', rejectPromise)
            sinkable.sink!((chunk) => {
              for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, position + done)
              position += chunk.length
              progress?.write(chunk)
            })
          })
        } else {
          if (progress) await pipeline(body, progress, flushingWriter(handle, false))
          else await pipeline(body, flushingWriter(handle, false))
        }

        if (download.verifier.digest !== digest || (descriptor.size !== undefined && download.verifier.size !== descriptor.size)) {
          throw new DigestMismatchError(`the source's check ended at ${download.verifier.digest ?? 'no digest'}, not ${digest}`, digest, download.verifier.digest ?? 'unknown')
        }

        await handle.sync()
      } finally {
        await handle.close()
      }

      await rename(temporary, this.blobPath(digest))
      await syncDirectory(directory)
    } catch (error) {
      body?.destroy()
      await rm(temporary, {force: true})
      if (error instanceof DigestMismatchError) throw new LayoutError(`blob ${digest}: ${error.message}; not written`, {about: digest, cause: error})
      if (error instanceof RegshapeError) throw error
      throw new LayoutError(messages.cannotWrite(this.path, (error as NodeJS.ErrnoException).code ?? (error as Error).message), {cause: error})
    } finally {
      if (progress && !progress.writableEnded) progress.end()
      stopWatching()
    }
  }

  /** A small blob (a config, a manifest) from bytes. */
  async putBytes(bytes: Buffer): Promise<{digest: string; size: number}> {
    const digest = digestOf(bytes)
    if (await this.hasBlob(digest, bytes.length)) return {digest, size: bytes.length}
    try {
      await makeDirectoryDurably(join(this.directory, 'blobs', 'sha256'))
      await writeFileAtomic(this.blobPath(digest), bytes)
    } catch (error) {
      throw new LayoutError(messages.cannotWrite(this.path, (error as NodeJS.ErrnoException).code ?? (error as Error).message), {cause: error})
    }

    return {digest, size: bytes.length}
  }

  // ---- index.json and manifests ----

  async readIndex(): Promise<IndexJson> {
    return parseIndexJson(await this.readIndexFile(), this.path)
  }

  /** index.json's bytes as they are on disk (for `layout show`), checked to be an index. */
  async readIndexBytes(): Promise<Buffer> {
    const bytes = await this.readIndexFile()
    parseIndexJson(bytes, this.path)
    return bytes
  }

  private async readIndexFile(): Promise<Buffer> {
    try {
      return await readLayoutFile(this.file('index.json'))
    } catch (error) {
      throw new LayoutError(messages.badIndex(this.path, unreadable(error)))
    }
  }

  /** Changes index.json under the lock; `change` gets the current index and edits it in place. */
  async updateIndex<R>(change: (index: IndexJson) => Promise<R> | R): Promise<R> {
    return this.writing(async () => {
      const index = await this.readIndex()
      const before = serialise(index)
      const result = await change(index)
      const after = serialise(index)
      if (after !== before) await this.write(this.file('index.json'), after)
      return result
    })
  }

  /**
   * The index.json entry a reference names: a tag (ref.name), a digest, or, with neither, the
   * layout's only entry (skopeo's rule for `oci:DIR`).
   */
  async resolve(reference?: string): Promise<Descriptor> {
    const {manifests} = await this.readIndex()
    if (reference === undefined) {
      if (manifests.length !== 1) throw new LayoutError(messages.tagAmbiguous(this.path, manifests.length))
      return manifests[0]
    }

    if (isDigest(reference)) {
      const entry = manifests.find((candidate) => candidate.digest === reference)
      if (entry) return entry
      const bytes = await this.readJsonBlob(reference)
      return {digest: reference, mediaType: mediaTypeOf(bytes), size: bytes.length}
    }

    const named = manifests.filter((candidate) => candidate.annotations?.[REF_NAME] === reference)
    if (named.length === 0) throw new LayoutError(messages.tagNotFound(reference, this.path))
    return named.at(-1) as Descriptor
  }

  /** A manifest's exact bytes by tag or digest, verified against the digest. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const entry = await this.resolve(reference)
    const bytes = await this.readJsonBlob(entry.digest, isDigest(reference) ? `the layout at ${this.path}` : `${REF_NAME} ${reference} in index.json`)
    return {bytes, contentType: entry.mediaType, digest: entry.digest}
  }

  async headManifest(reference: string): Promise<Pick<Descriptor, 'digest' | 'mediaType' | 'size'>> {
    const {digest, mediaType, size} = await this.resolve(reference)
    return {digest, mediaType, size}
  }

  /**
   * Writes a manifest's blob, and with a tag, records it in index.json: the entry of that ref.name
   * is replaced (there is one per name), others are kept. Without a tag the manifest is only a blob,
   * as the children of an index are.
   */
  async putManifest(bytes: Buffer, options: PutManifestOptions): Promise<Descriptor> {
    // The manifest must parse: a layout is read by tools that trust what index.json points to.
    try {
      parseManifest(bytes, options.mediaType)
    } catch (error) {
      if (error instanceof ManifestError) throw new LayoutError(`the manifest cannot be stored: ${error.message}`)
      throw error
    }

    return this.writing(async () => {
      const {digest, size} = await this.putBytes(bytes)
      const annotations = {...options.annotations, ...(options.tag === undefined ? {} : {[REF_NAME]: options.tag})}
      const entry: Descriptor = {
        mediaType: options.mediaType,
        digest,
        size,
        ...(options.platform ? {platform: options.platform} : {}),
        ...(Object.keys(annotations).length > 0 ? {annotations} : {}),
      }
      if (options.tag === undefined) return entry
      return this.setTag(options.tag, entry)
    })
  }

  /**
   * Names a manifest already in the layout (copy pushes children, then the parent, then tags):
   * index.json gets `descriptor` under ref.name `name`, in place of any entry of that name.
   */
  async setTag(name: string, descriptor: Descriptor): Promise<Descriptor> {
    return this.writing(async () => {
      if (!(await this.hasBlob(descriptor.digest, descriptor.size))) throw new LayoutError(messages.blobNotFound(descriptor.digest, this.path), {about: descriptor.digest})
      const entry: Descriptor = {...descriptor, annotations: {...descriptor.annotations, [REF_NAME]: name}}
      await this.updateIndex((index) => {
        const at = index.manifests.findIndex((candidate) => candidate.annotations?.[REF_NAME] === name)
        index.manifests = index.manifests.filter((candidate) => candidate.annotations?.[REF_NAME] !== name)
        // The entry keeps its place in index.json when it replaces one.
        index.manifests.splice(at === -1 ? index.manifests.length : at, 0, entry)
      })
      return entry
    })
  }

  /** The ref.names of index.json, in its order (the layout's "tags"). */
  async tags(): Promise<{name: string; tags: string[]}> {
    const {manifests} = await this.readIndex()
    const tags = manifests.map((entry) => entry.annotations?.[REF_NAME]).filter((name): name is string => typeof name === 'string')
    return {name: this.path, tags}
  }

  /**
   * Referrers in a layout: the index.json entries whose manifest names `digest` as its subject
   * (where regclient's ocidir and oras put them), filtered by artifactType when asked.
   */
  async referrers(digest: string, options: {artifactType?: string} = {}): Promise<{index: IndexJson; source: 'layout'}> {
    const {manifests} = await this.readIndex()
    const found: Descriptor[] = []
    for (const entry of manifests) {
      const size = await this.blobSize(entry.digest)
      if (size === undefined || size > JSON_MAX_BYTES) continue
      let manifest
      try {
        manifest = parseManifest(await this.readJsonBlob(entry.digest), entry.mediaType)
      } catch {
        continue
      }

      if (manifest.subject?.digest !== digest) continue
      const artifactType = manifest.artifactType ?? (manifest.kind === 'manifest' ? manifest.config.mediaType : undefined)
      if (options.artifactType !== undefined && artifactType !== options.artifactType) continue
      found.push({
        mediaType: entry.mediaType,
        digest: entry.digest,
        size: entry.size,
        ...(artifactType ? {artifactType} : {}),
        ...(manifest.annotations ? {annotations: manifest.annotations} : {}),
      })
    }

    return {index: {schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: found}, source: 'layout'}
  }

  // ---- the Store interface (content/store.ts) ----

  /** How messages name the layout: `oci:PATH`. */
  get display(): string {
    return `oci:${this.path}`
  }

  async manifestDigest(reference: string): Promise<string | undefined> {
    if (!this.created) return undefined
    if (isDigest(reference)) return (await this.hasBlob(reference)) ? reference : undefined
    const {manifests} = await this.readIndex()
    return manifests.findLast((entry) => entry.annotations?.[REF_NAME] === reference)?.digest
  }

  fetchManifest(reference: string): Promise<FetchedManifest> {
    return this.getManifest(reference)
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    return this.created && this.hasBlob(descriptor.digest, descriptor.size)
  }

  fetchBlob(descriptor: Descriptor): Promise<BlobDownload> {
    return this.getBlob(descriptor.digest, descriptor.size)
  }

  async listTags(): Promise<string[]> {
    return (await this.tags()).tags
  }

  async listReferrers(digest: string, options: {artifactType?: string} = {}): Promise<Descriptor[]> {
    return (await this.referrers(digest, options)).index.manifests
  }

  async pushBlob(descriptor: Descriptor, content: (offset?: number) => Readable, options: PushBlobOptions = {}): Promise<void> {
    await this.create()
    if (options.download) {
      if (!(await this.hasBlob(descriptor.digest, descriptor.size))) await this.putDownload(descriptor, options.download, options.progress)
      return
    }

    const source = content()
    const {progress} = options
    let bytes: Readable = source
    if (progress) {
      // Failures on either side reach putBlob through the relay.
      bytes = new PassThrough()
      source.once('error', (error) => bytes.destroy(error))
      progress.once('error', (error) => bytes.destroy(error))
      source.pipe(progress).pipe(bytes as PassThrough)
    }

    await this.putBlob(bytes, {digest: descriptor.digest, size: descriptor.size})
  }

  async pushManifest(bytes: Buffer, descriptor: Descriptor, options: {referrer?: boolean} = {}): Promise<void> {
    await this.create()
    await this.putManifest(bytes, {mediaType: descriptor.mediaType})
    // Referrers are found through index.json entries (as oras and regclient's ocidir store them).
    if (options.referrer) await this.listInIndex(descriptor)
  }

  async tag(descriptor: Descriptor, _bytes: Buffer, tag?: string): Promise<void> {
    await this.create()
    const entry = {digest: descriptor.digest, mediaType: descriptor.mediaType, size: descriptor.size}
    if (tag === undefined) await this.listInIndex(entry)
    else await this.setTag(tag, entry)
  }

  /** A destination's layout, made at its first write; concurrent writers share the making. */
  private async create(): Promise<void> {
    if (this.created) return
    this.creating ??= OciLayout.openOrInit(this.path).then(() => {
      this.created = true
    })
    await this.creating
  }

  /** An entry of index.json without a name, unless the manifest has one already. */
  private async listInIndex(descriptor: Descriptor): Promise<void> {
    await this.updateIndex((index) => {
      if (!index.manifests.some((entry) => entry.digest === descriptor.digest)) index.manifests.push({mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size})
    })
  }

  // ---- what index.json still needs ----

  /** Every digest reachable from index.json: its manifests, and their indexes' children, configs, layers and subjects. */
  async referencedDigests(): Promise<Set<string>> {
    const seen = new Set<string>()
    const visit = async (entry: Descriptor): Promise<void> => {
      if (seen.has(entry.digest)) return
      seen.add(entry.digest)
      if (!(await this.hasBlob(entry.digest)) || (await this.blobSize(entry.digest))! > JSON_MAX_BYTES) return
      let manifest
      try {
        manifest = parseManifest((await readRegularFile(this.blobPath(entry.digest), JSON_MAX_BYTES)).bytes, entry.mediaType)
      } catch {
        return
      }

      const children = manifest.kind === 'index' ? manifest.manifests : [manifest.config, ...manifest.layers]
      for (const child of children) await visit(child)
    }

    for (const entry of (await this.readIndex()).manifests) await visit(entry)
    return seen
  }

  /**
   * Removes the blobs of `digests` that nothing reachable from index.json (nor `keep`) still needs;
   * returns those removed. Under the lock, so no other regshape tags them meanwhile.
   */
  async removeUnreferenced(digests: readonly string[], keep: readonly string[] = []): Promise<string[]> {
    return this.writing(async () => {
      const referenced = await this.referencedDigests()
      const removed: string[] = []
      for (const digest of new Set(digests)) {
        if (referenced.has(digest) || keep.includes(digest)) continue
        await unlink(this.blobPath(digest)).then(
          () => removed.push(digest),
          () => {},
        )
      }

      return removed
    })
  }

  // ---- the lock ----

  /**
   * Runs `operation` holding the layout's lock (`index.json.lock`); nested calls of one store
   * share the hold. Everything that reads index.json or the staging file to rewrite it runs here.
   */
  async writing<R>(operation: () => Promise<R>): Promise<R> {
    if (this.lockDepth === 0) {
      try {
        this.heldLock = await acquireLock(this.file('index.json.lock'))
      } catch (error) {
        if (error instanceof LockError) {
          if (error.problem.kind === 'busy') throw new LayoutError(messages.busy(this.path, this.file('index.json.lock'), describeBusyLock(error.problem)))
          if (error.problem.kind === 'fs') throw new LayoutError(messages.cannotWrite(this.path, error.problem.cause.code ?? error.problem.cause.message))
          throw new LayoutError(messages.cannotWrite(this.path, `index.json.lock: ${error.problem.kind}`))
        }

        throw error
      }
    }

    this.lockDepth++
    try {
      return await operation()
    } finally {
      this.lockDepth--
      if (this.lockDepth === 0) {
        const held = this.heldLock
        this.heldLock = undefined
        await held?.release()
      }
    }
  }

  /** A whole file of the layout, atomically, only while the lock is held. */
  async write(target: string, data: Buffer | string): Promise<void> {
    if (this.lockDepth === 0) throw new Error(`internal: ${target} written without the layout lock`)
    try {
      await writeFileAtomic(target, data)
    } catch (error) {
      throw new LayoutError(messages.cannotWrite(this.path, (error as NodeJS.ErrnoException).code ?? (error as Error).message), {cause: error})
    }
  }

  private async blobSize(digest: string): Promise<number | undefined> {
    const info = await stat(this.blobPath(digest)).catch(() => undefined)
    return info?.isFile() ? info.size : undefined
  }
}

/**
 * An index.json entry's ref.name where it is to become a tag (of a registry, or of another
 * layout): undefined without one, an error when it is not a valid tag. The image spec allows
 * more in a ref.name (`/`, `:`, `@`, `+`), and a layout may hold anything at all; a name such as
 * `../../other/manifests/v1` or `v9?x=1` would otherwise change the request's path.
 */
export function refNameAsTag(entry: Descriptor, path: string): string | undefined {
  const name = entry.annotations?.[REF_NAME]
  if (name === undefined || isTag(name)) return name
  throw new LayoutError(terminalSafe(messages.refNameNotTag(name, entry.digest, path)))
}

/** A metadata file of a layout (oci-layout, index.json, the staging file): a regular file only, capped, never waited on. */
export async function readLayoutFile(path: string): Promise<Buffer> {
  return (await readRegularFile(path, METADATA_MAX_BYTES)).bytes
}

/** Why a layout file could not be read, for a message: `it is missing`, `it is a FIFO, not a regular file`, `EACCES`... */
export function unreadable(error: unknown): string {
  if (error instanceof NotRegularFileError) return `it is ${error.kind}, not a regular file`
  if (error instanceof FileTooLargeError) return `it is larger than ${error.limit / 1024 / 1024} MiB`
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOENT' ? 'it is missing' : (code ?? (error as Error).message)
}

export function emptyIndex(): IndexJson {
  return {schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: []}
}

/** Compact JSON, as skopeo and umoci write index.json. */
export function serialise(value: unknown): string {
  return JSON.stringify(value)
}

export function parseIndexJson(bytes: Buffer, path: string): IndexJson {
  let parsed
  try {
    parsed = parseManifest(bytes, MediaType.OciIndex)
  } catch (error) {
    throw new LayoutError(messages.badIndex(path, (error as Error).message.replace(/^the manifest/, 'it')))
  }

  if (parsed.kind !== 'index') throw new LayoutError(messages.badIndex(path, 'it is not an index'))
  const json = parsed.json as IndexJson
  if (json.schemaVersion !== 2) throw new LayoutError(messages.badIndex(path, `schemaVersion is ${JSON.stringify(json.schemaVersion)}, not 2`))
  return json
}

function mediaTypeOf(bytes: Buffer): string {
  try {
    return parseManifest(bytes).mediaType
  } catch {
    return 'application/octet-stream'
  }
}

function isDigest(reference: string): boolean {
  return reference.includes(':')
}

/** The layout's lock (index.json.lock) and the directories a contender builds it in beside it (src/util/lock.ts). */
function isLockEntry(name: string): boolean {
  return name === 'index.json.lock' || /^index\.json\.lock\.\d+\.[0-9a-f]{8}\.new$/.test(name)
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}
