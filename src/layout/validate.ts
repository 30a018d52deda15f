import {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import type {Descriptor} from '../content/descriptor.js'

import {DigestMismatchError} from '../content/digest.js'
import {INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES} from '../content/media-types.js'
import {parseManifest} from '../content/manifest.js'
import {LayoutError, layoutMessages as messages} from './errors.js'
import {JSON_MAX_BYTES, OciLayout} from './store.js'

/**
 * `layout validate`: the marker, index.json, and every blob reachable from it — each present,
 * of the size its descriptor gives, and hashing to its digest (streamed: layers are never held).
 * Manifests and indexes are parsed and followed; the first violation is the error, naming the blob
 * and what references it.
 */

export interface ValidationReport {
  blobs: number
  bytes: number
  manifests: number
}

export async function validateLayout(path: string): Promise<ValidationReport> {
  const layout = await OciLayout.open(path)
  const index = await layout.readIndex()
  const report: ValidationReport = {blobs: 0, bytes: 0, manifests: 0}
  const checked = new Set<string>()

  const check = async (descriptor: Descriptor, by: string): Promise<void> => {
    if (checked.has(descriptor.digest)) return
    checked.add(descriptor.digest)
    if (!(await layout.hasBlob(descriptor.digest))) throw new LayoutError(messages.blobMissing(descriptor.digest, by), {about: descriptor.digest})
    const {size} = await layout.headBlob(descriptor.digest)
    if (size !== descriptor.size) throw new LayoutError(messages.sizeMismatch(descriptor.digest, descriptor.size, size))
    const isManifest = INDEX_MEDIA_TYPES.has(descriptor.mediaType) || MANIFEST_MEDIA_TYPES.has(descriptor.mediaType)
    if (!isManifest) {
      const {body} = await layout.getBlob(descriptor.digest, descriptor.size)
      try {
        await pipeline(body, discard())
      } catch (error) {
        if (error instanceof DigestMismatchError) throw new LayoutError(messages.mismatch(descriptor.digest, error.actual))
        throw error
      }

      report.blobs++
      report.bytes += size
      return
    }

    if (size > JSON_MAX_BYTES) throw new LayoutError(messages.tooLarge(descriptor.digest, JSON_MAX_BYTES), {about: descriptor.digest})
    const bytes = await layout.readJsonBlob(descriptor.digest, by)
    let manifest
    try {
      manifest = parseManifest(bytes, descriptor.mediaType)
    } catch (error) {
      throw new LayoutError(`manifest ${descriptor.digest} referenced by ${by} is not valid: ${(error as Error).message}`, {about: descriptor.digest})
    }

    if (manifest.mediaType !== descriptor.mediaType) {
      throw new LayoutError(`manifest ${descriptor.digest} referenced by ${by} is a ${manifest.mediaType}, but its descriptor says ${descriptor.mediaType}`, {about: descriptor.digest})
    }

    report.manifests++
    report.bytes += size
    const children = manifest.kind === 'index' ? manifest.manifests : [manifest.config, ...manifest.layers]
    for (const child of children) await check(child, descriptor.digest)
  }

  for (const entry of index.manifests) await check(entry, 'index.json')
  return report
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
}
