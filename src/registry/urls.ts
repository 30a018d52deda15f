import {isTag, parseDigest} from '../reference/image.js'
import {terminalSafe} from '../output.js'
import {ProtocolError} from '../services/errors.js'

/**
 * Every path of the distribution API that regshape uses, built here and nowhere else (oras-go's
 * url.go). Repository names arrive validated (src/reference), so only query values need encoding.
 * Digests and tags are checked here once more, whatever their source: one a registry sent (an
 * index's children, a referrers list) could otherwise be `sha256:../../other/manifests/v1` and
 * send the request outside the repository.
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

export const urls = {
  blob: (repository: string, digest: string) => `/v2/${repository}/blobs/${digestSegment(digest)}`,
  catalog: (page: {last?: string; n?: number} = {}) => withQuery('/v2/_catalog', {n: page.n, last: page.last}),
  manifest: (repository: string, reference: string) => `/v2/${repository}/manifests/${referenceSegment(reference)}`,
  ping: () => '/v2/',
  referrers: (repository: string, digest: string, artifactType?: string) => withQuery(`/v2/${repository}/referrers/${digestSegment(digest)}`, {artifactType}),
  tags: (repository: string, page: {last?: string; n?: number} = {}) => withQuery(`/v2/${repository}/tags/list`, {n: page.n, last: page.last}),
  uploads: (repository: string, options: {digest?: string; from?: string; mount?: string} = {}) =>
    withQuery(`/v2/${repository}/blobs/uploads/`, {
      digest: options.digest === undefined ? undefined : digestSegment(options.digest),
      from: options.from,
      mount: options.mount === undefined ? undefined : digestSegment(options.mount),
    }),
}
