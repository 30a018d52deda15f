import {terminalSafe} from '../output.js'
import {isDigest, isRepositoryPath, isTag} from '../reference/image.js'
import {InputError} from '../services/errors.js'

/**
 * Every path of the distribution API that regshape uses, built here and nowhere else (oras-go's
 * url.go). Query values are encoded. Path parts are checked again here, though src/reference
 * validated what the user typed: a tag can also come from a layout's index.json (a ref.name) and a
 * digest from a registry's answer, and a `../`, `?` or `#` in a path would reach another
 * repository, add a query or be cut off (`new URL` resolves and splits them). Refused, not encoded:
 * no valid name needs encoding, and `new URL` resolves `%2e%2e` as `..` too.
 */

function withQuery(path: string, query: Record<string, number | string | undefined>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value))
  const text = search.toString()
  return text === '' ? path : `${path}?${text}`
}

const refuse = (what: string, value: string) => new InputError(terminalSafe(`refused to build a request path: ${what} ${JSON.stringify(value)} is not valid`))

function repositoryPart(repository: string): string {
  if (!isRepositoryPath(repository)) throw refuse('repository', repository)
  return repository
}

function digestPart(digest: string): string {
  if (!isDigest(digest)) throw refuse('digest', digest)
  return digest
}

function referencePart(reference: string): string {
  if (!isTag(reference) && !isDigest(reference)) throw refuse('tag or digest', reference)
  return reference
}

export const urls = {
  blob: (repository: string, digest: string) => `/v2/${repositoryPart(repository)}/blobs/${digestPart(digest)}`,
  catalog: (page: {last?: string; n?: number} = {}) => withQuery('/v2/_catalog', {n: page.n, last: page.last}),
  /** The probe's PUT to a tag the grammar forbids (a leading `-`), on purpose: nothing else may skip the check. */
  invalidTagProbe: (repository: string) => `/v2/${repositoryPart(repository)}/manifests/-probe`,
  manifest: (repository: string, reference: string) => `/v2/${repositoryPart(repository)}/manifests/${referencePart(reference)}`,
  ping: () => '/v2/',
  referrers: (repository: string, digest: string, artifactType?: string) => withQuery(`/v2/${repositoryPart(repository)}/referrers/${digestPart(digest)}`, {artifactType}),
  tags: (repository: string, page: {last?: string; n?: number} = {}) => withQuery(`/v2/${repositoryPart(repository)}/tags/list`, {n: page.n, last: page.last}),
  uploads: (repository: string, options: {digest?: string; from?: string; mount?: string} = {}) =>
    withQuery(`/v2/${repositoryPart(repository)}/blobs/uploads/`, {digest: options.digest, from: options.from, mount: options.mount}),
}
