import type {Descriptor} from '../content/descriptor.js'

import {MediaType} from '../content/media-types.js'
import {parseDigest} from '../reference/image.js'

/**
 * The referrers tag schema (OCI distribution spec 1.1, "Pushing Manifests with Subject"), for
 * registries without the referrers API: the `<alg>-<hex>` tag of a subject holds an OCI image
 * index whose `manifests` are descriptors of the subject's referrers, each with the referrer's
 * artifactType and annotations. Pure: the requests live in manifest-writes.ts.
 */

/** A referrer's entry in the index, as the spec builds it: the one Descriptor, with no platform. */
export type ReferrerDescriptor = Pick<Descriptor, 'annotations' | 'artifactType' | 'digest' | 'mediaType' | 'size'>

/** What a pushed manifest says about its subject, when it has one. */
export interface SubjectOf {
  /** The entry to add to the subject's referrers index. */
  referrer: ReferrerDescriptor
  subject: {digest: string; mediaType?: string; size?: number}
}

/**
 * The subject of a manifest's body and the descriptor that lists it, or undefined when the body
 * has no usable subject (not JSON, no `subject`, or a subject without a valid digest: the
 * registry judges those). The artifactType is the manifest's own, else its config's media type
 * (the spec's rule for image manifests); the annotations are the manifest's, all of them.
 */
export function subjectOf(bytes: Buffer, digest: string, mediaType: string): SubjectOf | undefined {
  let body: unknown
  try {
    body = JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }

  if (!isObject(body) || !isObject(body.subject) || typeof body.subject.digest !== 'string') return undefined
  try {
    parseDigest(body.subject.digest)
  } catch {
    return undefined
  }

  const {subject} = body
  const config = isObject(body.config) ? body.config : undefined
  const artifactType = typeof body.artifactType === 'string' && body.artifactType !== '' ? body.artifactType : typeof config?.mediaType === 'string' ? config.mediaType : undefined
  const annotations = isObject(body.annotations) && Object.values(body.annotations).every((value) => typeof value === 'string') ? (body.annotations as Record<string, string>) : undefined
  return {
    referrer: {
      mediaType,
      digest,
      size: bytes.length,
      ...(artifactType === undefined ? {} : {artifactType}),
      ...(annotations === undefined || Object.keys(annotations).length === 0 ? {} : {annotations}),
    },
    subject: {
      digest: body.subject.digest as string,
      mediaType: typeof subject.mediaType === 'string' ? subject.mediaType : undefined,
      size: typeof subject.size === 'number' ? subject.size : undefined,
    },
  }
}

/**
 * The referrers list with `referrer` added, or undefined when it is already there (the spec:
 * duplicate entries SHOULD NOT be created). Existing entries are kept exactly as they were.
 */
export function withReferrer(manifests: ReadonlyArray<Record<string, unknown>>, referrer: ReferrerDescriptor): Array<Record<string, unknown>> | undefined {
  if (manifests.some((entry) => entry.digest === referrer.digest)) return undefined
  return [...manifests, {...referrer}]
}

/** The referrers list without `digest`, or undefined when it was not listed. */
export function withoutReferrer(manifests: ReadonlyArray<Record<string, unknown>>, digest: string): Array<Record<string, unknown>> | undefined {
  const kept = manifests.filter((entry) => entry.digest !== digest)
  return kept.length === manifests.length ? undefined : kept
}

/** The bytes of a referrers index, as oras writes one: schemaVersion, mediaType, manifests. */
export function referrersIndexBytes(manifests: ReadonlyArray<Record<string, unknown>>): Buffer {
  return Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciIndex, manifests}))
}

/**
 * The referrers list held by the bytes of a referrers tag, or a reason why they are not an image
 * index (then the spec says to report a failure and leave the tag alone).
 */
export function readReferrersIndex(bytes: Buffer, contentType: string | undefined): {manifests: Array<Record<string, unknown>>} | {problem: string} {
  let body: unknown
  try {
    body = JSON.parse(bytes.toString('utf8'))
  } catch {
    return {problem: 'it is not JSON'}
  }

  if (!isObject(body)) return {problem: 'it is not a JSON object'}
  const declared = typeof body.mediaType === 'string' ? body.mediaType : contentType
  if (declared !== MediaType.OciIndex) return {problem: `it is ${declared === undefined ? 'untyped' : declared}, not an OCI image index`}
  if (!Array.isArray(body.manifests) || !body.manifests.every((entry) => isObject(entry))) return {problem: 'it has no "manifests" list of descriptors'}
  return {manifests: body.manifests as Array<Record<string, unknown>>}
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The referrers tag schema's tag for a digest: `<alg>-<hex>`, cut to 32 and 64 characters. */
export function referrersTag(digest: string): string {
  const [algorithm, hex] = digest.split(':')
  return `${algorithm.slice(0, 32)}-${hex.slice(0, 64)}`
}
