import {ProtocolError} from '../errors.js'
import {parseDigest} from '../reference/image.js'
import {terminalSafe} from '../util/text.js'

/**
 * The one Descriptor of regshape (OCI image spec, descriptor.md): what a manifest says of its
 * config, layers and subject, an index of its manifests, a referrers list of its referrers, a
 * layout's index.json of its roots. Registry, layout, copy and referrers all use this type, and
 * every descriptor read from elsewhere is checked by parseDescriptor before it is used.
 */

export interface Platform {
  architecture: string
  os: string
  'os.features'?: string[]
  'os.version'?: string
  variant?: string
}

export interface Descriptor {
  annotations?: Record<string, string>
  artifactType?: string
  digest: string
  mediaType: string
  platform?: Platform
  size: number
  urls?: string[]
  [field: string]: unknown
}

/** The registry sent a manifest that regshape cannot read as one. */
export class ManifestError extends ProtocolError {}

/** `os/arch[/variant]` as --platform takes it. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part === '')) {
    throw new ManifestError(`invalid platform "${text}": expected os/arch or os/arch/variant, e.g. linux/arm64/v8`)
  }

  return {architecture: parts[1], os: parts[0], ...(parts[2] ? {variant: parts[2]} : {})}
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/')
}

/**
 * A descriptor as a registry or a layout sent it (a manifest's config and layers, an index's
 * manifests, a referrers list), checked before any of it is used: its digest names a request path
 * or a file, its size a length, its media type a request header.
 */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ManifestError(`${where} is not a descriptor object`)
  const entry = value as Record<string, unknown>
  if (typeof entry.mediaType !== 'string' || entry.mediaType === '') throw new ManifestError(`${where} has no mediaType`)
  if (typeof entry.digest !== 'string') throw new ManifestError(`${where} has an invalid digest`)
  const {digest} = entry
  parseDigest(digest, (why) => new ManifestError(terminalSafe(`${where} has an invalid digest "${clip(digest)}": ${why}`)))
  if (typeof entry.size !== 'number' || !Number.isSafeInteger(entry.size) || entry.size < 0) throw new ManifestError(`${where} has an invalid size`)
  if (!MEDIA_TYPE.test(entry.mediaType)) throw new ManifestError(terminalSafe(`${where} has an invalid mediaType "${clip(entry.mediaType)}": RFC 6838 type/subtype expected`))
  if (entry.platform !== undefined) {
    const platform = entry.platform as Record<string, unknown>
    if (platform === null || typeof platform !== 'object' || typeof platform.os !== 'string' || typeof platform.architecture !== 'string') {
      throw new ManifestError(`${where}.platform needs os and architecture strings`)
    }
  }

  stringMap(entry.annotations, `${where}.annotations`)
  return entry as Descriptor
}

/**
 * RFC 6838's restricted names, `type/subtype` (the OCI spec requires them of media types), without
 * its 127-character limit: the point is that it can go in an Accept or Content-Type header as is.
 */
const MEDIA_TYPE = /^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*$/

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text
}

export function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((item) => typeof item !== 'string')) {
    throw new ManifestError(`${where} must map strings to strings`)
  }

  return value as Record<string, string>
}
