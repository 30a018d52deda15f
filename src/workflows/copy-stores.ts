import {PassThrough, type Readable, type Transform} from 'node:stream'

import type {Descriptor} from '../content/manifest.js'
import type {BlobWriter} from '../registry/upload.js'
import type {ManifestWriter} from '../registry/manifest-writes.js'
import type {Repository} from '../registry/repository.js'
import type {BlobOutcome, DestinationStore, SourceStore} from './copy.js'

import {OciLayout, REF_NAME, refNameAsTag} from '../layout/store.js'

/**
 * The two back ends of a copy (design.md: "one store interface, two back ends"): a registry
 * repository through Repository (reads), BlobWriter and ManifestWriter (writes); an OCI image
 * layout through OciLayout. Neither knows the other is there.
 */

/** Blob bytes for BlobWriter: the source's stream, opened when the writer reads it. */
function lazySource(descriptor: Descriptor, open: () => Readable) {
  return {name: descriptor.digest, read: open, seekable: false, size: descriptor.size}
}

export function registrySource(repository: Repository, display: string, tag: string | undefined, endpoint: string): SourceStore {
  return {
    display,
    mountable: {endpoint, repository: repository.path},
    tag: async () => tag,
    getManifest: (reference) => repository.getManifest(reference),
    getBlob: (digest) => repository.getBlob(digest),
    async referrers(digest) {
      const {index} = await repository.referrers(digest, {all: true})
      return index.manifests as unknown as Descriptor[]
    },
  }
}

export function registryDestination(
  parts: {blobs: BlobWriter; manifests: ManifestWriter; repository: Repository},
  display: string,
  endpoint: string,
): DestinationStore {
  const {blobs, manifests, repository} = parts
  const upload = (descriptor: Descriptor, open: () => Readable, counter: Transform) =>
    blobs.upload(lazySource(descriptor, open), {chunkSize: 0, chunked: false, digest: descriptor.digest, progress: counter})
  return {
    display,
    mountable: {endpoint, repository: repository.path},
    hasBlob: (descriptor) => repository.hasBlob(descriptor.digest),
    manifestDigest: (reference) => repository.manifestDigest(reference),
    async putBlob(descriptor, open, counter) {
      await upload(descriptor, open, counter)
    },
    async mountBlob(descriptor, from, open, counter): Promise<BlobOutcome> {
      const result = await blobs.mount(descriptor.digest, from, lazySource(descriptor, open), {chunkSize: 0, chunked: false, progress: counter})
      return result.status === 'mounted' ? 'mounted' : 'copied'
    },
    async putManifest(bytes, descriptor) {
      await manifests.put(bytes, {contentType: descriptor.mediaType, reference: descriptor.digest})
    },
    async tag(bytes, descriptor, tag) {
      if (tag !== undefined) await manifests.put(bytes, {contentType: descriptor.mediaType, reference: tag})
    },
  }
}

export async function layoutSource(path: string, reference: {digest?: string; tag?: string}): Promise<SourceStore & {reference: string}> {
  const layout = await OciLayout.open(path)
  const display = `oci:${path}`
  // Without a tag or digest, the layout's only entry (skopeo's rule); its ref.name becomes DST's
  // tag when DST names none, and is checked then (a copy that names DST's tag never uses it).
  const entry = reference.digest === undefined && reference.tag === undefined ? await layout.resolve() : undefined
  return {
    display,
    reference: reference.digest ?? reference.tag ?? (entry as Descriptor).digest,
    tag: async () => reference.tag ?? (entry && refNameAsTag(entry, path)),
    getManifest: (ref) => layout.getManifest(ref),
    getBlob: (digest, size) => layout.getBlob(digest, size),
    async referrers(digest) {
      return (await layout.referrers(digest)).index.manifests
    },
  }
}

/**
 * A layout to write: opened, or created where nothing is (skopeo creates one too), but only when
 * the first blob or manifest is written: a copy that fails before (a missing source) leaves no
 * empty layout behind.
 */
export async function layoutDestination(path: string): Promise<DestinationStore> {
  let opened = await OciLayout.openIfAny(path)
  let creating: Promise<OciLayout> | undefined
  const layout = (): Promise<OciLayout> => (opened ? Promise.resolve(opened) : (creating ??= OciLayout.openOrInit(path).then((made) => (opened = made))))
  const listed = async (descriptor: Descriptor) => {
    await (await layout()).updateIndex((index) => {
      if (!index.manifests.some((entry) => entry.digest === descriptor.digest)) index.manifests.push({mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size})
    })
  }

  return {
    display: `oci:${path}`,
    hasBlob: async (descriptor) => opened !== undefined && opened.hasBlob(descriptor.digest, descriptor.size),
    async manifestDigest(reference) {
      if (!opened) return undefined
      if (reference.includes(':')) return (await opened.hasBlob(reference)) ? reference : undefined
      const {manifests} = await opened.readIndex()
      return manifests.findLast((entry) => entry.annotations?.[REF_NAME] === reference)?.digest
    },
    async putBlob(descriptor, open, counter) {
      const target = await layout()
      const relay = new PassThrough()
      const source = open()
      source.once('error', (error) => relay.destroy(error))
      counter.once('error', (error) => relay.destroy(error))
      source.pipe(counter).pipe(relay)
      await target.putBlob(relay, {digest: descriptor.digest, size: descriptor.size})
    },
    async putManifest(bytes, descriptor, options) {
      await (await layout()).putManifest(bytes, {mediaType: descriptor.mediaType})
      // Referrers are found through index.json entries (as oras and regclient's ocidir store them).
      if (options.referrer) await listed(descriptor)
    },
    async tag(_bytes, descriptor, tag) {
      const entry = {digest: descriptor.digest, mediaType: descriptor.mediaType, size: descriptor.size}
      if (tag === undefined) await listed(entry)
      else await (await layout()).tag(tag, entry)
    },
  }
}
