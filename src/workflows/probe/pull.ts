import type {RegistryResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {baseMediaType} from '../../content/media-types.js'
import {urls} from '../../registry/urls.js'
import {type Level, type Outcome, SPEC, type SpecRef, digestOf, fail, header, judge, need, pass, skip} from './case.js'
import {type ManifestRef, type ProbeCase, type ProbeContext, VARIANT_TYPES, type Variant} from './context.js'

/**
 * Pull: manifests by tag and by digest, GET and HEAD, Accept negotiation, Docker-Content-Digest,
 * blobs, Range requests, and what an unknown manifest, blob or repository answers. Under
 * --read-only they read the image named by --image; otherwise an image the run pushed.
 */

const read = (name: string, level: Level, spec: SpecRef, request: string, expected: string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({area: 'pull', expected, level, name, request, run, spec, writes: false})

function manifestPath(context: ProbeContext, reference: string): string {
  return urls.manifest(context.repository, reference)
}

function byTag(manifest: ManifestRef): string {
  if (manifest.tag === undefined) skip('the image was named by digest: no tag to read it by')
  return manifest.tag
}

/** The body must be the manifest's exact bytes (or, read-only, bytes that hash to its digest). */
function sameManifest(context: ProbeContext, response: RegistryResponse, manifest: ManifestRef): void {
  if (context.readOnly || manifest.bytes.length === 0) {
    if (digestOf(response.body) !== manifest.digest) fail(`the body hashes to ${digestOf(response.body)}, not ${manifest.digest}`, response)
  } else if (!response.body.equals(manifest.bytes)) {
    fail(`the body is not the manifest pushed (${response.body.length} bytes, ${manifest.bytes.length} pushed)`, response)
  }
}

function headOf(response: RegistryResponse, digest: string, size: number): Outcome {
  need(response, [200])
  const announced = header(response, 'docker-content-digest')
  if (announced === undefined) fail('no Docker-Content-Digest header', response)
  if (announced !== digest) fail(`Docker-Content-Digest is ${announced}, not ${digest}`, response)
  const length = header(response, 'content-length')
  if (length === undefined) fail('no Content-Length header', response)
  if (Number(length) !== size) fail(`Content-Length is ${length}, not ${size}`, response)
  return pass(response)
}

function accept(kind: Variant): ProbeCase {
  const type = VARIANT_TYPES[kind]
  return read(`pull-accept-${kind}`, 'SHOULD', SPEC.manifests, `GET of a ${type} by tag with Accept: ${type}`, `200, Content-Type ${type}`, async (context) => {
    const manifest = await context.variant(kind)
    const response = await context.send({headers: {accept: type}, method: 'GET', operation: 'manifest.get', path: manifestPath(context, byTag(manifest))})
    need(response, [200])
    const contentType = baseMediaType(header(response, 'content-type'))
    if (contentType !== type) fail(`Content-Type is ${contentType ?? 'missing'}, not ${type}`, response)
    sameManifest(context, response, manifest)
    return pass(response)
  })
}

/** A Range request on the fixture's largest blob: `range(size)` gives the first and last byte asked for (last undefined: to the end; first negative: a suffix). */
function ranged(name: string, what: string, range: (size: number) => [number, number | undefined]): ProbeCase {
  return read(name, 'SHOULD', SPEC.range, `GET of a blob with Range: bytes=${what}`, '206, Content-Range and exactly those bytes', async (context) => {
    const {layer} = await context.fixture()
    if (layer.size < 200) skip(`the largest blob has ${layer.size} bytes, too few to cut`)
    const [first, last] = range(layer.size)
    const spec = first < 0 ? `${first}` : `${first}-${last ?? ''}`
    const response = await context.send({headers: {range: `bytes=${spec}`}, method: 'GET', operation: 'blob.get', path: urls.blob(context.repository, layer.digest)})
    need(response, [206])
    const start = first < 0 ? layer.size + first : first
    const end = last ?? layer.size - 1
    const contentRange = header(response, 'content-range')
    if (contentRange !== `bytes ${start}-${end}/${layer.size}` && contentRange !== `bytes ${start}-${end}/*`) fail(`Content-Range is ${contentRange ?? 'missing'}, not bytes ${start}-${end}/${layer.size}`, response)
    if (response.body.length !== end - start + 1) fail(`${response.body.length} bytes, not ${end - start + 1}`, response)
    if (layer.bytes.length > 0 && !response.body.equals(layer.bytes.subarray(start, end + 1))) fail('the bytes are not those of the range', response)
    return pass(response)
  })
}

export const PULL: ProbeCase[] = [
  read('pull-manifest-by-tag', 'MUST', SPEC.manifests, 'GET of a manifest by tag', '200 and the manifest pushed, byte for byte', async (context) => {
    const {manifest} = await context.fixture()
    const response = await context.send({headers: {accept: manifest.mediaType}, method: 'GET', operation: 'manifest.get', path: manifestPath(context, byTag(manifest))})
    need(response, [200])
    sameManifest(context, response, manifest)
    return pass(response)
  }),
  read('pull-manifest-by-digest', 'MUST', SPEC.manifests, 'GET of a manifest by digest', '200 and bytes that hash to the digest', async (context) => {
    const {manifest} = await context.fixture()
    const response = await context.send({headers: {accept: manifest.mediaType}, method: 'GET', operation: 'manifest.get', path: manifestPath(context, manifest.digest)})
    need(response, [200])
    sameManifest(context, response, manifest)
    return pass(response)
  }),
  read('pull-manifest-head-by-tag', 'MUST', SPEC.exists, 'HEAD of a manifest by tag', '200 with Docker-Content-Digest and Content-Length', async (context) => {
    const {manifest} = await context.fixture()
    const response = await context.send({headers: {accept: manifest.mediaType}, method: 'HEAD', operation: 'manifest.head', path: manifestPath(context, byTag(manifest))})
    return headOf(response, manifest.digest, manifest.bytes.length)
  }),
  read('pull-manifest-head-by-digest', 'MUST', SPEC.exists, 'HEAD of a manifest by digest', '200 with Docker-Content-Digest and Content-Length', async (context) => {
    const {manifest} = await context.fixture()
    const response = await context.send({headers: {accept: manifest.mediaType}, method: 'HEAD', operation: 'manifest.head', path: manifestPath(context, manifest.digest)})
    return headOf(response, manifest.digest, manifest.bytes.length)
  }),
  read('pull-manifest-digest-header', 'MUST', SPEC.manifests, 'GET of a manifest by tag: its Docker-Content-Digest', 'Docker-Content-Digest present, equal to the digest of the bytes sent', async (context) => {
    const {manifest} = await context.fixture()
    const response = await context.send({headers: {accept: manifest.mediaType}, method: 'GET', operation: 'manifest.get', path: manifestPath(context, byTag(manifest))})
    need(response, [200])
    const announced = header(response, 'docker-content-digest')
    if (announced === undefined) fail('no Docker-Content-Digest header', response)
    const actual = digestOf(response.body, announced.startsWith('sha512:') ? 'sha512' : 'sha256')
    if (announced !== actual) fail(`Docker-Content-Digest is ${announced}, the bytes hash to ${actual}`, response)
    return pass(response)
  }),
  accept('oci-manifest'),
  accept('oci-index'),
  accept('docker-manifest'),
  accept('docker-list'),
  read('pull-blob-get', 'MUST', SPEC.blobs, 'GET of a blob', '200, the bytes of the digest, and a Docker-Content-Digest (if any) equal to it', async (context) => {
    const {config} = await context.fixture()
    const response = await context.send({method: 'GET', operation: 'blob.get', path: urls.blob(context.repository, config.digest)})
    need(response, [200])
    const actual = digestOf(response.body, config.digest.startsWith('sha512:') ? 'sha512' : 'sha256')
    if (actual !== config.digest) fail(`the body hashes to ${actual}`, response)
    const announced = header(response, 'docker-content-digest')
    if (announced !== undefined && announced !== config.digest) fail(`Docker-Content-Digest is ${announced}`, response)
    return pass(response)
  }),
  read('pull-blob-head', 'MUST', SPEC.exists, 'HEAD of a blob', '200 with Docker-Content-Digest and Content-Length', async (context) => {
    const {layer} = await context.fixture()
    const response = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(context.repository, layer.digest)})
    return headOf(response, layer.digest, layer.size)
  }),
  ranged('pull-blob-range-first', '0-99', () => [0, 99]),
  ranged('pull-blob-range-middle', 'a quarter to a half', (size) => [Math.floor(size / 4), Math.floor(size / 2) - 1]),
  ranged('pull-blob-range-suffix', '-N (the last N bytes)', (size) => [-Math.min(500, Math.floor(size / 2)), undefined]),
  ranged('pull-blob-range-open', 'N- (from the middle to the end)', (size) => [Math.floor(size / 2), undefined]),
  read('pull-blob-range-past-end', 'SHOULD', SPEC.range, 'GET of a blob with a Range past its end', '416, a well-formed answer', async (context) => {
    const {layer} = await context.fixture()
    // Streamed, so that an answer whose body is shorter than its Content-Length still shows its status.
    const response = await context.open({headers: {range: `bytes=${layer.size + 100}-${layer.size + 200}`}, method: 'GET', operation: 'blob.get', path: urls.blob(context.repository, layer.digest)})
    let received = 0
    try {
      for await (const chunk of response.body) {
        received += (chunk as Buffer).length
        if (received > 64 * 1024) break
      }
    } catch {
      const promised = response.headers['content-length']?.[0]
      return {detail: `${response.status}, but its Content-Length says ${promised ?? '?'} bytes and ${received} came: a client sees the connection cut`, got: {status: response.status}, verdict: 'fail'}
    } finally {
      response.body.destroy()
    }

    return response.status === 416 ? {got: {status: 416}, verdict: 'pass'} : {detail: 'expected 416', got: {status: response.status}, verdict: 'fail'}
  }),
  read('pull-blob-head-accept-ranges', 'MAY', SPEC.range, 'HEAD of a blob: its Accept-Ranges', 'Accept-Ranges: bytes', async (context) => {
    const {layer} = await context.fixture()
    const response = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(context.repository, layer.digest)})
    need(response, [200])
    const ranges = header(response, 'accept-ranges')
    if (ranges !== 'bytes') fail(`Accept-Ranges is ${ranges ?? 'missing'}`, response)
    return pass(response)
  }),
  read('pull-manifest-unknown', 'MUST', SPEC.manifests, 'GET of a manifest under a tag no one pushed', '404 MANIFEST_UNKNOWN', async (context) => {
    // In a repository that exists: one that does not is pull-repository-unknown.
    await context.fixture()
    const response = await context.send({method: 'GET', operation: 'manifest.get', path: manifestPath(context, `${context.runId}-missing`)})
    return judge(response, {codes: ['MANIFEST_UNKNOWN'], codesIfAny: true, statuses: [404]})
  }),
  read('pull-blob-unknown', 'MUST', SPEC.blobs, 'GET of a blob no one pushed', '404 BLOB_UNKNOWN', async (context) => {
    const response = await context.send({method: 'GET', operation: 'blob.get', path: urls.blob(context.repository, digestOf(randomBytes(32)))})
    return judge(response, {codes: ['BLOB_UNKNOWN'], codesIfAny: true, statuses: [404]})
  }),
  read('blob-head-unknown', 'MUST', SPEC.exists, 'HEAD of a blob no one pushed', '404', async (context) => {
    const response = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(context.repository, digestOf(randomBytes(32)))})
    return judge(response, {statuses: [404]})
  }),
  read('pull-repository-unknown', 'MUST', SPEC.pushManifests, 'GET of a manifest in a repository that does not exist', '404 NAME_UNKNOWN or MANIFEST_UNKNOWN', async (context) => {
    const missing = `${context.repository}-missing-${randomBytes(4).toString('hex')}`
    const response = await context.send({method: 'GET', operation: 'manifest.get', path: urls.manifest(missing, 'latest'), scope: `repository:${missing}:pull`})
    return judge(response, {codes: ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN'], codesIfAny: true, statuses: [404]})
  }),
]
