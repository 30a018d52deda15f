import {isRepositoryPath, isTag, parseDigest} from '../reference/image.js'
import {terminalSafe} from '../util/text.js'
import {ProtocolError} from '../errors.js'

/**
 * Every path of the distribution API that regshape uses, built here and nowhere else (oras-go's
 * url.go). Query values are encoded. Repositories, digests and tags are checked here once more,
 * whatever their source, though src/reference validated what the user typed: a tag can also come
 * from a layout's index.json (a ref.name) and a digest from a registry's answer (an index's
 * children, a referrers list), and a `../`, `?` or `#` in a path would reach another repository
 * (`sha256:../../other/manifests/v1`), add a query or be cut off (`new URL` resolves and splits
 * them). Refused, not encoded: no valid name needs encoding, and `new URL` resolves `%2e%2e` as `..`.
 */

function refused(kind: string, text: string, why: string): ProtocolError {
  const shown = text.length > 100 ? `${text.slice(0, 100)}…` : text
  return new ProtocolError(terminalSafe(`refusing to build a request path from the ${kind} "${shown}": ${why}`))
}

function digestSegment(digest: string): string {
  parseDigest(digest, (why) => refused('digest', digest, why))
  return digest
}

/** A manifest reference: a digest if it has a colon (as the API reads it), else a tag. */
function referenceSegment(reference: string): string {
  if (reference.includes(':')) return digestSegment(reference)
  if (!isTag(reference)) throw refused('tag', reference, "a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'")
  return reference
}

function withQuery(path: string, query: Record<string, number | string | undefined>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value))
  const text = search.toString()
  return text === '' ? path : `${path}?${text}`
}

function repositorySegment(repository: string): string {
  if (!isRepositoryPath(repository)) throw refused('repository', repository, 'a repository is lowercase components of letters, digits and separators, joined by /')
  return repository
}

export const urls = {
  blob: (repository: string, digest: string) => `/v2/${repositorySegment(repository)}/blobs/${digestSegment(digest)}`,
  catalog: (page: {last?: string; n?: number} = {}) => withQuery('/v2/_catalog', {n: page.n, last: page.last}),
  /** The probe's PUT to a tag the grammar forbids (a leading `-`), on purpose: nothing else may skip the check. */
  invalidTagProbe: (repository: string) => `/v2/${repositorySegment(repository)}/manifests/-probe`,
  manifest: (repository: string, reference: string) => `/v2/${repositorySegment(repository)}/manifests/${referenceSegment(reference)}`,
  ping: () => '/v2/',
  referrers: (repository: string, digest: string, artifactType?: string) => withQuery(`/v2/${repositorySegment(repository)}/referrers/${digestSegment(digest)}`, {artifactType}),
  tags: (repository: string, page: {last?: string; n?: number} = {}) => withQuery(`/v2/${repositorySegment(repository)}/tags/list`, {n: page.n, last: page.last}),
  uploads: (repository: string, options: {digest?: string; from?: string; mount?: string} = {}) =>
    withQuery(`/v2/${repositorySegment(repository)}/blobs/uploads/`, {
      digest: options.digest === undefined ? undefined : digestSegment(options.digest),
      from: options.from === undefined ? undefined : repositorySegment(options.from),
      mount: options.mount === undefined ? undefined : digestSegment(options.mount),
    }),
}
