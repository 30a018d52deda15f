import {terminalSafe} from '../util/text.js'
import {InputError} from '../errors.js'
import {isTag, parseDigest} from './image.js'

/**
 * OCI image layout references, `oci:PATH[:TAG]` or `oci:PATH@DIGEST`, as skopeo (containers/image's
 * `oci:` transport) names them: the path ends at the first `:` after `oci:`, so a path cannot hold
 * one; what follows is the `org.opencontainers.image.ref.name` of an index.json entry. Without a
 * tag, the layout's only entry is meant (skopeo's rule), which the store resolves.
 */

export interface LayoutRef {
  readonly digest?: string
  readonly input: string
  /** The layout's directory, as given (relative paths stay relative). */
  readonly path: string
  readonly tag?: string
}

export const LAYOUT_PREFIX = 'oci:'

export function isLayoutRef(input: string): boolean {
  return input.startsWith(LAYOUT_PREFIX)
}

/** Parses `oci:PATH[:TAG]` / `oci:PATH@DIGEST`; throws an InputError naming the bad part. */
export function parseLayoutRef(input: string): LayoutRef {
  const fail = (why: string) => new InputError(terminalSafe(`invalid layout reference "${input}": ${why}`))
  if (!isLayoutRef(input)) throw fail('it must start with oci:, as in oci:PATH[:TAG]')
  const rest = input.slice(LAYOUT_PREFIX.length)
  const at = rest.indexOf('@')
  const colon = rest.indexOf(':')
  if (at !== -1 && (colon === -1 || at < colon)) {
    const path = rest.slice(0, at)
    const digest = rest.slice(at + 1)
    if (path === '') throw fail('the path is empty')
    try {
      parseDigest(digest)
    } catch (error) {
      throw fail(`after '@' comes a digest: ${(error as Error).message}`)
    }

    return {digest, input, path}
  }

  const path = colon === -1 ? rest : rest.slice(0, colon)
  const tag = colon === -1 ? undefined : rest.slice(colon + 1)
  if (path === '') throw fail('the path is empty')
  if (tag !== undefined && !isTag(tag)) throw fail('the tag must be 1 to 128 of A-Z a-z 0-9 _ . - and not start with . or -')
  return {input, path, tag}
}

export function formatLayoutRef(ref: {digest?: string; path: string; tag?: string}): string {
  if (ref.digest) return `${LAYOUT_PREFIX}${ref.path}@${ref.digest}`
  return `${LAYOUT_PREFIX}${ref.path}${ref.tag ? `:${ref.tag}` : ''}`
}
