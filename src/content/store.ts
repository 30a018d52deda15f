import type {Readable, Transform} from 'node:stream'

import type {Descriptor} from './descriptor.js'

/**
 * The one store interface (oras-go's content.Storage, regclient's scheme.API): manifests and
 * blobs resolved, fetched, checked and pushed, tags and referrers listed, whatever holds them. A
 * registry repository (registry/repository.ts) and an OCI image layout on disk
 * (layout/store.ts) implement it, so a copy is "read from one store, write to the other" and
 * knows neither.
 */

/** A manifest's exact bytes, as fetched. */
export interface FetchedManifest {
  bytes: Buffer
  contentType?: string
  /** The digest of the bytes, checked against the reference's digest or Docker-Content-Digest. */
  digest: string
  /** The digest the registry announced, if any. */
  headerDigest?: string
}

/** A blob on its way: `body` yields its bytes and fails at its end unless they hash to the digest. */
export interface BlobDownload {
  body: Readable
  contentType?: string
  /**
   * Where `body` starts in the blob: the offset asked for (the bytes before it still covered by
   * the digest check), or 0 when the store read from the start whatever it was asked (absent: 0).
   */
  offset?: number
  /** From Content-Length (a registry) or the file's size (a layout), when known. */
  size?: number
  /** The check's outcome once `body` ended: the digest it matched, and the blob's size. */
  verifier: {readonly digest?: string; readonly size: number}
}

export interface BlobInfo {
  contentType?: string
  digest: string
  size?: number
}

/** Where a store's blobs may be mounted from (one registry, another repository). */
export interface MountSource {
  /** The registry's endpoint, with its scheme when one was given (`http://localhost:5000`). */
  endpoint: string
  repository: string
}

export type BlobOutcome = 'copied' | 'mounted' | 'skipped'

export interface PushBlobOptions {
  /** Counts the bytes as they pass (progress), handing them on unchanged. */
  progress?: Transform
  /**
   * The source's download of the blob itself (what `content` relays), for a destination that
   * would rather read it in bulk: its bytes are verified by the source's own check.
   */
  download?: () => Promise<BlobDownload>
}

export interface Store {
  /** How messages name it: `host/repository` or `oci:PATH`. */
  readonly display: string
  /** A registry repository: where its blobs can be mounted from by another repository of its registry. */
  readonly mountSource?: MountSource

  /** The descriptor of the manifest a tag or digest names. */
  resolve(reference: string): Promise<Descriptor>
  /** The digest a tag or digest names in the store, or undefined when it names nothing. */
  manifestDigest(reference: string): Promise<string | undefined>
  /** A manifest's exact bytes, by tag or digest, checked against the digest. */
  fetchManifest(reference: string): Promise<FetchedManifest>
  /** Whether the store holds a blob. */
  exists(descriptor: Descriptor): Promise<boolean>
  /**
   * A blob's bytes as they stream, checked against its digest (and size) on the way. With
   * `offset`, the bytes from there (an upload going on where its destination stands): the check
   * still covers the whole blob. A store may start at 0 instead and say so (BlobDownload.offset).
   */
  fetchBlob(descriptor: Descriptor, options?: {offset?: number}): Promise<BlobDownload>
  /** The store's tags, in its order. */
  listTags(): Promise<string[]>
  /** The referrers of a manifest (descriptors, checked), filtered by artifactType when one is given. */
  listReferrers(digest: string, options?: {artifactType?: string}): Promise<Descriptor[]>

  /**
   * Streams a blob in from `content` (called when the bytes are wanted), verified against its
   * digest. A destination that lost its connection mid-blob may call it again, with the offset it
   * holds (0 to start over).
   */
  pushBlob(descriptor: Descriptor, content: (offset?: number) => Readable, options?: PushBlobOptions): Promise<void>
  /**
   * Mounts a blob from `from` when both are repositories of one registry; otherwise, or when the
   * registry declines (it opens an upload instead), the bytes are pushed from `content`.
   */
  mountBlob?(descriptor: Descriptor, from: MountSource, content: (offset?: number) => Readable, options?: PushBlobOptions): Promise<Exclude<BlobOutcome, 'skipped'>>
  /** A manifest by its digest. `referrer`: it is a referrer, listed where the store lists them (a layout's index.json). */
  pushManifest(bytes: Buffer, descriptor: Descriptor, options?: {referrer?: boolean}): Promise<void>
  /**
   * Points `tag` at a manifest the store holds; without a tag, records it where the store keeps
   * its roots (a layout's index.json: an entry without a name; a registry: nothing to do).
   */
  tag(descriptor: Descriptor, bytes: Buffer, tag?: string): Promise<void>
}
