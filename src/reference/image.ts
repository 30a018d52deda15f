import {type RegistryRef, parseRegistry} from './registry.js'
import {terminalSafe} from '../util/text.js'
import {InputError} from '../errors.js'

/**
 * Image references, `[host[:port]/]path[:tag][@digest]`, with the distribution reference grammar
 * and Docker's defaults (registry.md §1): parsed once, here, for every command.
 *
 * - The first path component is a registry when it contains `.` or `:` or is `localhost`;
 *   otherwise the registry is Docker Hub, and a one-component path there gets `library/`.
 * - `repo:tag@digest` addresses the digest; the tag is kept for display.
 * - An error names the part that is wrong, and never repeats anything that may be a password.
 */

export interface ImageRef {
  /** The digest (`sha256:…` or `sha512:…`) the reference pins, if any. */
  readonly digest?: string
  /** The reference exactly as given. */
  readonly input: string
  readonly registry: RegistryRef
  /** The repository path on the registry (`library/alpine` for Docker Hub's `alpine`). */
  readonly repository: string
  readonly tag?: string
}

export type DigestAlgorithm = 'sha256' | 'sha512'

/** Hex length of each digest algorithm regshape accepts. */
export const DIGEST_HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = {sha256: 64, sha512: 128}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
/** distribution's limit on the repository path (its RepositoryNameTotalLengthMax); the registry is not counted. */
const MAX_PATH_LENGTH = 255
const DOCKER_HUB_NAME = 'docker.io'
const STRAY_AT = "invalid reference: it contains credentials or a stray '@'; use --username and --password-stdin for credentials"

export interface ParseImageOptions {
  /** The reference must carry a digest (blob commands, manifest delete). */
  requireDigest?: boolean
  /** The reference must not carry a digest (tag delete). */
  forbidDigest?: boolean
}

/** Parses an image reference; throws an InputError naming the bad part. */
export function parseImageRef(input: string, options: ParseImageOptions = {}): ImageRef {
  const fail = (why: string) => new InputError(terminalSafe(`invalid reference "${input}": ${why}`))
  if (input.trim() === '') throw new InputError('invalid reference: it is empty')
  if (/\s/.test(input)) throw fail('it contains whitespace')
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw fail('a reference has no scheme; write host[:port]/repository[:tag][@digest]')

  let rest = input
  let digest: string | undefined
  const at = rest.lastIndexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    // What stands before an '@' may be user:password@: these errors never repeat the input.
    if (digest.includes('/') || rest.includes('@')) throw new InputError(STRAY_AT)
    checkDigest(digest, (why) => new InputError(terminalSafe(`invalid reference: after '@' comes a digest; ${why}`)))
  }

  // A colon after the last slash starts the tag (a colon before it belongs to host:port).
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw fail(`tag "${tag}" is invalid: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`)
  }

  const name = rest
  if (name === '') throw fail('the repository name is missing')
  const slash = name.indexOf('/')
  const first = slash === -1 ? '' : name.slice(0, slash)
  const hasRegistry = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost')
  const registryName = hasRegistry ? first : DOCKER_HUB_NAME
  let path = hasRegistry ? name.slice(slash + 1) : name
  if (path === '') throw fail('the repository path is missing after the registry')
  let registry: RegistryRef
  try {
    registry = parseRegistry(registryName)
  } catch (error) {
    throw fail(`registry "${first}": ${(error as Error).message.replace(/^invalid registry name(?: "[^"]*")?:? ?/, '')}`)
  }

  for (const component of path.split('/')) {
    if (component === '') throw fail('the repository path has an empty component (two slashes, or a trailing one)')
    if (!PATH_COMPONENT.test(component)) {
      throw fail(
        /[A-Z]/.test(component)
          ? `repository path component "${component}" must be lowercase`
          : `repository path component "${component}" is invalid: lowercase letters and digits, separated by '.', '_', '__' or '-'`,
      )
    }
  }

  if (registry.isDockerHub && !path.includes('/')) path = `library/${path}`
  if (path.length > MAX_PATH_LENGTH) throw fail(`the repository path is longer than ${MAX_PATH_LENGTH} characters`)
  if (options.requireDigest && digest === undefined) throw fail('a digest is required here (repository@sha256:…)')
  if (options.forbidDigest && digest !== undefined) throw fail('a digest is not allowed here: give a tag')
  return {digest, input, registry, repository: path, tag}
}

/**
 * Whether `text` is a tag of the distribution grammar (`v1.2`, `latest`): what may follow
 * `/manifests/` in a path without escaping it (no `/`, `?`, `#`, `%`, and never `.` or `..` alone).
 */
export function isTag(text: string): boolean {
  return TAG.test(text)
}

/** Whether `path` is a repository path of the distribution grammar (`team/app`, lowercase components). */
export function isRepositoryPath(path: string): boolean {
  return path.split('/').every((component) => PATH_COMPONENT.test(component))
}

/** Whether `text` is a digest regshape can verify (`sha256:` or `sha512:` and lowercase hex of the right length). */
export function isDigest(text: string): boolean {
  try {
    checkDigest(text, (why) => new Error(why))
    return true
  } catch {
    return false
  }
}

/**
 * Validates `algorithm:hex` for the algorithms regshape can verify. `fail` makes the error from
 * the reason, for a digest that came from elsewhere than the command line (a registry's answer).
 */
export function parseDigest(text: string, fail: (why: string) => Error = (why) => new InputError(terminalSafe(`invalid digest "${text}": ${why}`))): {algorithm: DigestAlgorithm; hex: string} {
  checkDigest(text, fail)
  const [algorithm, hex] = text.split(':') as [DigestAlgorithm, string]
  return {algorithm, hex}
}

function checkDigest(digest: string, fail: (why: string) => Error): void {
  const colon = digest.indexOf(':')
  if (colon === -1) throw fail(`digest "${digest}" must be algorithm:hex, e.g. sha256:<64 hex digits>`)
  const algorithm = digest.slice(0, colon)
  const hex = digest.slice(colon + 1)
  if (!Object.hasOwn(DIGEST_HEX_LENGTH, algorithm)) throw fail(`digest algorithm "${algorithm}" is not supported (sha256 or sha512)`)
  const length = DIGEST_HEX_LENGTH[algorithm as DigestAlgorithm]
  if (!/^[0-9a-f]*$/.test(hex)) throw fail(`the ${algorithm} digest must be lowercase hex`)
  if (hex.length !== length) throw fail(`a ${algorithm} digest has ${length} hex digits, not ${hex.length}`)
}

/** The reference in its full form, `host/path[:tag][@digest]` (Docker Hub as docker.io). */
export function formatImageRef(ref: ImageRef): string {
  const host = ref.registry.isDockerHub ? DOCKER_HUB_NAME : ref.registry.host
  return `${host}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`
}
