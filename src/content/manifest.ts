import {type Descriptor, ManifestError, type Platform, formatPlatform, parseDescriptor, stringMap} from './descriptor.js'
import {MAX_JSON_DEPTH, nestsDeeperThan} from './json-text.js'
import {INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType, baseMediaType} from './media-types.js'

/**
 * Manifests and indexes as the registry sent them: parsed for what regshape needs to read
 * (descriptors, platforms, subject), with the original bytes kept, since a manifest's digest is the
 * digest of those bytes and any re-serialisation would change it.
 */

interface Common {
  annotations?: Record<string, string>
  artifactType?: string
  /** The exact bytes received. */
  bytes: Buffer
  /** The parsed body, every field kept. */
  json: Record<string, unknown>
  /** From the body's `mediaType`, else the Content-Type, else the shape. */
  mediaType: string
  subject?: Descriptor
}

export interface ImageManifest extends Common {
  config: Descriptor
  kind: 'manifest'
  layers: Descriptor[]
}

export interface ImageIndex extends Common {
  kind: 'index'
  manifests: Descriptor[]
}

export type Manifest = ImageIndex | ImageManifest

export function parseManifest(bytes: Buffer, contentType?: string): Manifest {
  let json: unknown
  const text = bytes.toString('utf8')
  try {
    json = JSON.parse(text)
  } catch {
    throw new ManifestError(`the manifest is not valid JSON (${bytes.length} bytes)`)
  }

  if (nestsDeeperThan(text)) throw new ManifestError(tooDeep('manifest'))

  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ManifestError('the manifest is not a JSON object')
  const body = json as Record<string, unknown>
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined
  const header = baseMediaType(contentType)
  const mediaType = declared ?? (header && (INDEX_MEDIA_TYPES.has(header) || MANIFEST_MEDIA_TYPES.has(header)) ? header : inferMediaType(body))
  const isIndex = INDEX_MEDIA_TYPES.has(mediaType)
  // A body that says one kind and a Content-Type that says the other is the ambiguity behind
  // CVE-2021-41190: refuse it rather than pick one.
  if (declared && header && (INDEX_MEDIA_TYPES.has(header) || MANIFEST_MEDIA_TYPES.has(header)) && INDEX_MEDIA_TYPES.has(header) !== isIndex) {
    throw new ManifestError(`the manifest's mediaType ${declared} contradicts its Content-Type ${header}`)
  }

  const common = {
    annotations: stringMap(body.annotations, 'annotations'),
    artifactType: typeof body.artifactType === 'string' ? body.artifactType : undefined,
    bytes,
    json: body,
    mediaType,
    subject: body.subject === undefined ? undefined : parseDescriptor(body.subject, 'subject'),
  }
  if (isIndex) {
    if (!Array.isArray(body.manifests)) throw new ManifestError('the index has no "manifests" array')
    return {...common, kind: 'index', manifests: body.manifests.map((entry, index) => parseDescriptor(entry, `manifests[${index}]`))}
  }

  if (!MANIFEST_MEDIA_TYPES.has(mediaType)) throw new ManifestError(`unsupported manifest media type ${mediaType}`)
  if (!Array.isArray(body.layers)) throw new ManifestError('the manifest has no "layers" array')
  return {
    ...common,
    config: parseDescriptor(body.config, 'config'),
    kind: 'manifest',
    layers: body.layers.map((entry, index) => parseDescriptor(entry, `layers[${index}]`)),
  }
}

/** The refusal of JSON nested deeper than regshape reads. */
export function tooDeep(what: string): string {
  return `the ${what} is nested more than ${MAX_JSON_DEPTH} levels deep; refused`
}

/**
 * The index entry for a platform. A wanted platform without a variant matches an entry with one
 * only when it is the only such entry (containerd's rule, simplified), so `linux/arm64` finds
 * `linux/arm64/v8`.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor {
  const candidates = index.manifests.filter((entry) => entry.platform?.os === wanted.os && entry.platform.architecture === wanted.architecture)
  const exact = candidates.filter((entry) => (entry.platform?.variant ?? '') === (wanted.variant ?? ''))
  const chosen = exact[0] ?? (wanted.variant === undefined && candidates.length === 1 ? candidates[0] : undefined)
  if (chosen) return chosen
  const available = index.manifests.filter((entry) => entry.platform).map((entry) => formatPlatform(entry.platform as Platform))
  throw new ManifestError(`no manifest for platform ${formatPlatform(wanted)} in the index; it has ${available.length > 0 ? available.join(', ') : 'no platform entries'}`)
}

function inferMediaType(body: Record<string, unknown>): string {
  if (Array.isArray(body.manifests)) return MediaType.OciIndex
  if (body.config !== undefined && Array.isArray(body.layers)) return MediaType.OciManifest
  throw new ManifestError('the manifest has no mediaType, and neither its Content-Type nor its fields say what it is')
}

/**
 * The Content-Type to push a manifest's bytes with when none is given: the body's own
 * `mediaType`, else an OCI index for a body with `manifests` and no `layers`, else an OCI
 * manifest (registry.md §2). A body that is not JSON is typed an OCI manifest too: the registry
 * is the judge of what it accepts.
 */
export function pushMediaType(bytes: Buffer): string {
  let body: unknown
  try {
    body = JSON.parse(bytes.toString('utf8'))
  } catch {
    return MediaType.OciManifest
  }

  if (body === null || typeof body !== 'object' || Array.isArray(body)) return MediaType.OciManifest
  const {layers, manifests, mediaType} = body as Record<string, unknown>
  if (typeof mediaType === 'string' && mediaType !== '') return mediaType
  return Array.isArray(manifests) && layers === undefined ? MediaType.OciIndex : MediaType.OciManifest
}
