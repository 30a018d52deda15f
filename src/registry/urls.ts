/**
 * Every path of the distribution API that regshape uses, built here and nowhere else (oras-go's
 * url.go). Repository names and references arrive validated (src/reference), so only query values
 * need encoding.
 */

function withQuery(path: string, query: Record<string, number | string | undefined>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value))
  const text = search.toString()
  return text === '' ? path : `${path}?${text}`
}

export const urls = {
  blob: (repository: string, digest: string) => `/v2/${repository}/blobs/${digest}`,
  catalog: (page: {last?: string; n?: number} = {}) => withQuery('/v2/_catalog', {n: page.n, last: page.last}),
  manifest: (repository: string, reference: string) => `/v2/${repository}/manifests/${reference}`,
  ping: () => '/v2/',
  referrers: (repository: string, digest: string, artifactType?: string) => withQuery(`/v2/${repository}/referrers/${digest}`, {artifactType}),
  tags: (repository: string, page: {last?: string; n?: number} = {}) => withQuery(`/v2/${repository}/tags/list`, {n: page.n, last: page.last}),
  uploads: (repository: string, options: {digest?: string; from?: string; mount?: string} = {}) =>
    withQuery(`/v2/${repository}/blobs/uploads/`, {digest: options.digest, from: options.from, mount: options.mount}),
}
