import {createHash, randomUUID} from 'node:crypto'
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * A small in-memory registry (node:http) for what distribution 2.8 never does: Docker Hub's
 * rate-limit headers (RateLimit-Limit, RateLimit-Remaining, Docker-RateLimit-Source) on manifest
 * answers, 429 Too Many Requests with Retry-After, HEADs without Docker-Content-Digest. No auth;
 * blobs and manifests by digest, tags, monolithic uploads (POST, then PUT ?digest=). It records
 * every request. It stands for those registries in tests; it never replaces the real one.
 */

export interface FakeRegistryOptions {
  /** Headers on every manifest answer (GET and HEAD), e.g. Docker Hub's rate-limit headers. */
  manifestHeaders?: Record<string, string>
  /** Leave Docker-Content-Digest off manifest HEADs (as some registries and proxies do). */
  headWithoutDigest?: boolean
  /** Answer the first N requests matching each pattern with 429 and this Retry-After. */
  tooManyRequests?: Array<{first: number; method: string; path: RegExp; retryAfter: string}>
}

export interface FakeRegistry {
  blobs: Map<string, Buffer>
  close(): Promise<void>
  host: string
  manifests: Map<string, {bytes: Buffer; mediaType: string}>
  requests: Array<{method: string; path: string; status: number}>
  tags: Map<string, string>
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

export async function startFakeRegistry(options: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>()
  const manifests = new Map<string, {bytes: Buffer; mediaType: string}>()
  const tags = new Map<string, string>()
  const sessions = new Map<string, true>()
  const requests: FakeRegistry['requests'] = []
  const limited = (options.tooManyRequests ?? []).map((rule) => ({...rule, left: rule.first}))

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://fake')
    const method = request.method ?? 'GET'
    const answer = (status: number, headers: Record<string, string> = {}, body?: Buffer | string) => {
      requests.push({method, path: `${url.pathname}${url.search}`, status})
      response.writeHead(status, headers).end(method === 'HEAD' ? undefined : body)
    }

    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const rule = limited.find((candidate) => candidate.left > 0 && candidate.method === method && candidate.path.test(url.pathname))
      if (rule) {
        rule.left--
        answer(429, {'content-type': 'application/json', 'retry-after': rule.retryAfter}, '{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}')
        return
      }

      if (url.pathname === '/v2/') {
        answer(200, {'content-type': 'application/json'}, '{}')
        return
      }

      const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname)
      if (manifest) {
        const [, , reference] = manifest
        if (method === 'PUT') {
          const bytes = Buffer.concat(chunks)
          const digest = sha256(bytes)
          manifests.set(digest, {bytes, mediaType: request.headers['content-type'] ?? ''})
          if (!reference.includes(':')) tags.set(reference, digest)
          answer(201, {'docker-content-digest': digest, location: url.pathname})
          return
        }

        const digest = reference.includes(':') ? reference : tags.get(reference)
        const found = digest === undefined ? undefined : manifests.get(digest)
        if (!found || digest === undefined) {
          answer(404, {'content-type': 'application/json', ...options.manifestHeaders}, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
          return
        }

        const withDigest: Record<string, string> = method === 'HEAD' && options.headWithoutDigest ? {} : {'docker-content-digest': digest}
        answer(200, {'content-length': String(found.bytes.length), 'content-type': found.mediaType, ...withDigest, ...options.manifestHeaders}, found.bytes)
        return
      }

      const blob = /^\/v2\/(.+)\/blobs\/(sha256:[\da-f]{64})$/.exec(url.pathname)
      if (blob) {
        const bytes = blobs.get(blob[2])
        if (!bytes) answer(404, {'content-type': 'application/json'}, '{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        else answer(200, {'content-length': String(bytes.length), 'content-type': 'application/octet-stream', 'docker-content-digest': blob[2]}, bytes)
        return
      }

      const uploads = /^\/v2\/(.+)\/blobs\/uploads\/([\w-]*)$/.exec(url.pathname)
      if (uploads && method === 'POST') {
        const id = randomUUID()
        sessions.set(id, true)
        answer(202, {location: `/v2/${uploads[1]}/blobs/uploads/${id}`, range: '0-0'})
        return
      }

      if (uploads && method === 'PUT' && sessions.has(uploads[2])) {
        const bytes = Buffer.concat(chunks)
        const digest = url.searchParams.get('digest') ?? ''
        if (sha256(bytes) !== digest) {
          answer(400, {'content-type': 'application/json'}, '{"errors":[{"code":"DIGEST_INVALID"}]}')
          return
        }

        sessions.delete(uploads[2])
        blobs.set(digest, bytes)
        answer(201, {'docker-content-digest': digest, location: `/v2/${uploads[1]}/blobs/${digest}`})
        return
      }

      answer(404, {'content-type': 'application/json'}, '{"errors":[{"code":"UNSUPPORTED"}]}')
    })
  })
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  return {
    blobs,
    async close() {
      server.closeAllConnections()
      await new Promise((resolvePromise) => server.close(resolvePromise))
    },
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    manifests,
    requests,
    tags,
  }
}

/** Puts an image (or an index of images) into a fake registry: its blobs and manifests, the root under `tag`. */
export function seedFake(registry: FakeRegistry, tag: string, platforms: string[]): {digest: string} {
  const put = (bytes: Buffer, mediaType: string) => {
    const digest = sha256(bytes)
    registry.manifests.set(digest, {bytes, mediaType})
    return {digest, mediaType, size: bytes.length}
  }

  const children = platforms.map((platform) => {
    const [os, architecture] = platform.split('/')
    const config = Buffer.from(JSON.stringify({architecture, os, rootfs: {diff_ids: [], type: 'layers'}}))
    const layer = Buffer.from(`layer of ${platform}`)
    registry.blobs.set(sha256(config), config)
    registry.blobs.set(sha256(layer), layer)
    const manifest = Buffer.from(
      JSON.stringify({
        config: {digest: sha256(config), mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length},
        layers: [{digest: sha256(layer), mediaType: 'application/vnd.oci.image.layer.v1.tar', size: layer.length}],
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        schemaVersion: 2,
      }),
    )
    return {...put(manifest, 'application/vnd.oci.image.manifest.v1+json'), platform: {architecture, os}}
  })
  const root =
    children.length === 1
      ? children[0]
      : put(Buffer.from(JSON.stringify({manifests: children, mediaType: 'application/vnd.oci.image.index.v1+json', schemaVersion: 2})), 'application/vnd.oci.image.index.v1+json')
  registry.tags.set(tag, root.digest)
  return {digest: root.digest}
}
