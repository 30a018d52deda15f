import type {BreakRule} from '../../break/rules.js'
import type {RegistryResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {MediaType} from '../../content/media-types.js'
import {urls} from '../../registry/urls.js'
import {type Level, type Outcome, SPEC, type SpecRef, codeText, digestOf, fail, header, judge, need, pass, skip, withDigest} from './case.js'
import {type ProbeCase, type ProbeContext, imageManifest} from './context.js'

/**
 * Push: blobs (POST then PUT, a single POST, chunks, a stream, mounts, cancels, the empty blob,
 * sha512) and manifests (by tag and digest, with a subject, a data field, nested indexes,
 * artifacts, non-distributable layers, unknown fields kept byte for byte).
 */

const write = (name: string, level: Level, spec: SpecRef, request: string, expected: string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({area: 'push', expected, level, name, request, run, spec, writes: true})

/** A blob's descriptor fields for a manifest. */
const ref = (blob: {digest: string; size: number}) => ({digest: blob.digest, size: blob.size})

const OCTETS = {'content-type': 'application/octet-stream'}

/** The blob must now be there: HEAD 200 with its size. */
async function present(context: ProbeContext, digest: string, size: number, repository = context.repository): Promise<void> {
  const head = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(repository, digest), scope: `repository:${repository}:pull`})
  if (head.status !== 200) fail(`the registry took it, yet a HEAD of ${digest} answers ${head.status}${codeText(head)}`, head)
  const length = header(head, 'content-length')
  if (length !== undefined && Number(length) !== size) fail(`the registry took it, yet a HEAD says ${length} bytes, not ${size}`, head)
}

/** The closing PUT of a session, recorded for the cleanup on 201. */
async function close(context: ProbeContext, session: string, digest: string, body?: Buffer, repository = context.repository): Promise<RegistryResponse> {
  const response = await context.send({body, headers: body ? OCTETS : {'content-length': '0'}, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digest), scope: context.pushScope(repository)})
  if (response.status === 201) context.createdBlob(digest, repository)
  return response
}

async function monolithic(context: ProbeContext, bytes: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<Outcome> {
  const digest = digestOf(bytes, algorithm)
  const session = await context.startSession()
  const response = await close(context, session, digest, bytes)
  if (response.status !== 201) {
    await context.cancel(session)
    fail(`expected 201, got ${response.status}${codeText(response)}`, response)
  }

  if (!header(response, 'location')) fail('the 201 has no Location', response)
  await present(context, digest, bytes.length)
  return pass(response)
}

/** A manifest PUT: 201, a Location, a Docker-Content-Digest equal to the digest of the bytes, and the same bytes read back by digest. */
async function manifestRoundTrip(context: ProbeContext, bytes: Buffer, mediaType: string, reference?: string): Promise<RegistryResponse> {
  const digest = digestOf(bytes)
  const response = await context.putManifest(bytes, mediaType, reference)
  need(response, [201])
  if (!header(response, 'location')) fail('the 201 has no Location', response)
  const announced = header(response, 'docker-content-digest')
  if (announced !== undefined && announced !== digest) fail(`Docker-Content-Digest is ${announced}, not ${digest}`, response)
  const back = await context.send({headers: {accept: mediaType}, method: 'GET', operation: 'manifest.get', path: urls.manifest(context.repository, reference ?? digest)})
  if (back.status !== 200) fail(`taken, but reading it back answers ${back.status}${codeText(back)}`, back)
  if (!back.body.equals(bytes)) fail('taken, but read back the bytes differ from those pushed', back)
  return response
}

/** The registry's minimum chunk (OCI-Chunk-Min-Length), or `fallback`; over 16 MiB is a skip. */
function chunkSize(response: RegistryResponse, fallback: number): number {
  const minimum = Number(header(response, 'oci-chunk-min-length') ?? 0)
  if (minimum > 16 * 1024 * 1024) skip(`the registry's minimum chunk is ${minimum} bytes; the probe sends no more than 16 MiB a chunk`)
  return Math.max(fallback, Number.isSafeInteger(minimum) ? minimum : 0)
}

async function openChunked(context: ProbeContext): Promise<{response: RegistryResponse; session: string}> {
  const response = await context.send({headers: {'content-length': '0'}, method: 'POST', operation: 'blob.upload', path: urls.uploads(context.repository)})
  need(response, [202], 'POST')
  return {response, session: context.sessionPath(response)}
}

function patch(context: ProbeContext, session: string, bytes: Buffer, from: number, rules: BreakRule[] = []): Promise<RegistryResponse> {
  return context.send({body: bytes, headers: {...OCTETS, 'content-range': `${from}-${from + bytes.length - 1}`}, method: 'PATCH', operation: 'blob.upload', path: session}, rules)
}

function expectRange(response: RegistryResponse, end: number, what: string): void {
  const range = header(response, 'range')
  if (range !== `0-${end}` && range !== `bytes=0-${end}`) fail(`${what}: Range is ${range ?? 'missing'}, not 0-${end}`, response)
  if (!header(response, 'location')) fail(`${what}: no Location`, response)
}

/** An artifact or image manifest with a subject, pushed by digest. */
async function referrer(context: ProbeContext, subject: {digest: string; mediaType: string; size: number}, artifactType: string): Promise<{bytes: Buffer; response: RegistryResponse}> {
  const empty = await context.pushBlob(Buffer.from('{}'))
  const {layer} = await context.fixture()
  const bytes = imageManifest({digest: empty, size: 2}, [{digest: layer.digest, size: layer.size}], {
    annotations: {'org.regshape.probe': context.runId},
    artifactType,
    config: {digest: empty, mediaType: MediaType.OciEmpty, size: 2},
    subject,
  })
  return {bytes, response: await context.putManifest(bytes, MediaType.OciManifest)}
}

export const PUSH: ProbeCase[] = [
  write('push-blob-post-put', 'MUST', SPEC.monolithic, 'POST, then PUT ?digest= with the bytes', '202 with a Location, then 201 with a Location; the blob is then there', (context) => monolithic(context, randomBytes(1024))),
  write('push-blob-single-post', 'MAY', SPEC.singlePost, 'one POST ?digest= carrying the bytes', '201 (or 202, an upload session: the registry does not take a blob in one POST)', async (context) => {
    const bytes = randomBytes(1024)
    const digest = digestOf(bytes)
    const response = await context.send({body: bytes, headers: OCTETS, method: 'POST', operation: 'blob.upload', path: urls.uploads(context.repository, {digest})})
    if (response.status === 202) {
      await context.cancel(context.sessionPath(response))
      skip('the registry does not take a blob in one POST (202, an upload session, as the spec allows)', response)
    }

    need(response, [201])
    context.createdBlob(digest)
    await present(context, digest, bytes.length)
    return pass(response)
  }),
  write('push-blob-chunked', 'MUST', SPEC.chunked, 'POST, three PATCHes with Content-Range, then PUT ?digest=', '202s with Location and Range: 0-<end>, then 201', async (context) => {
    const {response: opened, session: first} = await openChunked(context)
    const size = chunkSize(opened, 1000)
    const bytes = randomBytes(size * 3)
    let session = first
    for (let at = 0; at < bytes.length; at += size) {
      const response = await patch(context, session, bytes.subarray(at, at + size), at)
      if (response.status !== 202) {
        await context.cancel(session)
        fail(`PATCH of bytes ${at}-${at + size - 1}: expected 202, got ${response.status}${codeText(response)}`, response)
      }

      expectRange(response, at + size - 1, `PATCH of bytes ${at}-${at + size - 1}`)
      session = context.sessionPath(response)
    }

    const digest = digestOf(bytes)
    const closed = await close(context, session, digest)
    need(closed, [201], 'the closing PUT')
    await present(context, digest, bytes.length)
    return pass(closed)
  }),
  write('push-blob-upload-status', 'MUST', SPEC.chunked, 'GET of an upload session after one chunk', '204 with Location and Range: 0-<end>', async (context) => {
    const {response: opened, session} = await openChunked(context)
    const size = chunkSize(opened, 1000)
    const chunk = await patch(context, session, randomBytes(size), 0)
    need(chunk, [202], 'the PATCH')
    const next = context.sessionPath(chunk)
    const status = await context.send({method: 'GET', operation: 'blob.upload', path: next, scope: context.pushScope(context.repository)})
    await context.cancel(next)
    need(status, [204])
    expectRange(status, size - 1, 'the status')
    return pass(status)
  }),
  write('blob-chunk-out-of-order', 'MUST', SPEC.chunked, 'PATCH of a second chunk whose Content-Range skips 1000 bytes (header replace)', '416', async (context) => {
    const bytes = randomBytes(3000)
    const session = await context.startSession()
    const first = await patch(context, session, bytes.subarray(0, 1000), 0)
    if (first.status !== 202) {
      await context.cancel(session)
      skip(`the first, in-order chunk was not taken: HTTP ${first.status}`, first)
    }

    const next = context.sessionPath(first)
    const skipAhead: BreakRule = {action: 'replace', key: 'Content-Range', match: {method: ['PATCH'], operation: ['blob.upload']}, name: 'out-of-order Content-Range', target: 'header', value: '2000-2999'}
    const response = await patch(context, next, bytes.subarray(1000, 2000), 1000, [skipAhead])
    await context.cancel(response.headers.location?.[0] ? context.sessionPath(response) : next)
    const verdict = judge(response, {statuses: [416]})
    return response.status === 202 ? {...verdict, detail: 'the registry appended the chunk at the wrong offset'} : verdict
  }),
  write('push-blob-streamed', 'MAY', SPEC.chunked, 'POST, one PATCH of the whole blob without Content-Range, then PUT ?digest=', '202, then 201', async (context) => {
    const bytes = randomBytes(2048)
    const session = await context.startSession()
    const streamed = await context.send({body: bytes, headers: OCTETS, method: 'PATCH', operation: 'blob.upload', path: session})
    if (streamed.status !== 202) {
      await context.cancel(session)
      fail(`the PATCH: expected 202, got ${streamed.status}${codeText(streamed)}`, streamed)
    }

    const closed = await close(context, context.sessionPath(streamed), digestOf(bytes))
    need(closed, [201], 'the closing PUT')
    await present(context, digestOf(bytes), bytes.length)
    return pass(closed)
  }),
  write('push-blob-mount', 'SHOULD', SPEC.mount, 'POST ?mount=&from= of a blob another repository of the registry has', '201 with a Location (202: the registry does not mount)', async (context) => {
    const source = context.settings.mountSource
    const bytes = randomBytes(512)
    const digest = await context.pushBlob(bytes, {repository: source})
    const scope = `${context.pushScope(context.repository)} repository:${source}:pull`
    const response = await context.send({method: 'POST', operation: 'blob.mount', path: urls.uploads(context.repository, {from: source, mount: digest}), scope})
    if (response.status === 202) {
      await context.cancel(context.sessionPath(response))
      skip('the registry does not mount (202, an upload session, as the spec allows)', response)
    }

    need(response, [201])
    context.createdBlob(digest)
    if (!header(response, 'location')) fail('the 201 has no Location', response)
    await present(context, digest, bytes.length)
    return pass(response)
  }),
  write('push-blob-mount-missing', 'SHOULD', SPEC.mount, 'POST ?mount=&from= of a blob that repository does not have', '202, an upload session instead', async (context) => {
    const source = context.settings.mountSource
    const missing = digestOf(randomBytes(32))
    const scope = `${context.pushScope(context.repository)} repository:${source}:pull`
    const response = await context.send({method: 'POST', operation: 'blob.mount', path: urls.uploads(context.repository, {from: source, mount: missing}), scope})
    if (response.status === 202) await context.cancel(context.sessionPath(response))
    if (response.status === 201) fail('the registry mounted a blob that does not exist', response)
    return judge(response, {statuses: [202]})
  }),
  write('push-blob-cancel', 'SHOULD', SPEC.cancel, 'DELETE of an upload session, then GET of it', '204, then 404 BLOB_UPLOAD_UNKNOWN', async (context) => {
    const session = await context.startSession()
    const cancelled = await context.send(context.cancelRequest(session))
    need(cancelled, [204], 'the DELETE')
    const after = await context.send({method: 'GET', operation: 'blob.upload', path: session, scope: context.pushScope(context.repository)})
    const verdict = judge(after, {codes: ['BLOB_UPLOAD_UNKNOWN'], codesIfAny: true, statuses: [404]})
    return verdict.verdict === 'pass' ? pass(cancelled) : {...verdict, detail: `after the cancel, the session answers ${after.status}${codeText(after)}`}
  }),
  write('push-blob-empty', 'MUST', SPEC.pushBlobs, 'POST, then PUT of the empty (0-byte) blob', '201; HEAD then 200 with Content-Length 0', (context) => monolithic(context, Buffer.alloc(0))),
  write('push-blob-empty-json', 'MUST', SPEC.pushBlobs, 'POST, then PUT of the `{}` blob (the empty descriptor\'s)', '201; HEAD then 200', (context) => monolithic(context, Buffer.from('{}'))),
  write('push-blob-sha512', 'SHOULD', SPEC.pushBlobs, 'POST, then PUT ?digest=sha512:…', '201 (or 400: the registry refuses sha512 as unsupported)', async (context) => {
    const bytes = randomBytes(1024)
    const session = await context.startSession()
    const response = await close(context, session, digestOf(bytes, 'sha512'), bytes)
    if (response.status === 400) {
      await context.cancel(session)
      skip('the registry refuses sha512 digests as unsupported (400, as the spec allows)', response)
    }

    need(response, [201])
    await present(context, digestOf(bytes, 'sha512'), bytes.length)
    return pass(response)
  }),
  write('push-manifest-by-tag', 'MUST', SPEC.pushManifests, 'PUT of an image manifest by tag', '201, Location, Docker-Content-Digest of the bytes; read back byte for byte', async (context) => {
    const {config, layer} = await context.fixture()
    const bytes = imageManifest(ref(config), [ref(layer)], {annotations: {'org.regshape.probe': `${context.runId}-by-tag`}})
    return pass(await manifestRoundTrip(context, bytes, MediaType.OciManifest, `${context.runId}-by-tag`))
  }),
  write('push-manifest-by-digest', 'MUST', SPEC.pushManifests, 'PUT of an image manifest by digest', '201, Location, Docker-Content-Digest equal; read back byte for byte', async (context) => {
    const {config, layer} = await context.fixture()
    const bytes = imageManifest(ref(config), [ref(layer)], {annotations: {'org.regshape.probe': `${context.runId}-by-digest`}})
    return pass(await manifestRoundTrip(context, bytes, MediaType.OciManifest))
  }),
  write('push-manifest-subject', 'MUST', SPEC.subject, 'PUT of an artifact manifest whose subject is the run\'s image', '201', async (context) => {
    const {manifest} = await context.fixture()
    const {response} = await referrer(context, {digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length}, 'application/vnd.regshape.probe.subject')
    return judge(response, {statuses: [201]})
  }),
  write('push-manifest-subject-missing', 'MUST', SPEC.push, 'PUT of a manifest whose subject does not exist', '201 (the subject may come later)', async (context) => {
    const {response} = await referrer(context, {digest: digestOf(randomBytes(32)), mediaType: MediaType.OciManifest, size: 123}, 'application/vnd.regshape.probe.orphan')
    return judge(response, {statuses: [201]})
  }),
  write('push-manifest-subject-header', 'MUST', SPEC.subject, 'PUT of a manifest with a subject: the answer\'s OCI-Subject', 'OCI-Subject: <subject digest>, where the registry has the referrers API', async (context) => {
    const {manifest} = await context.fixture()
    const {response} = await referrer(context, {digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length}, 'application/vnd.regshape.probe.header')
    need(response, [201])
    if (!(await context.referrersApi())) skip('the registry has no referrers API (404): OCI-Subject is for registries that have one', response)
    const subject = header(response, 'oci-subject')
    if (subject !== manifest.digest) fail(`OCI-Subject is ${subject ?? 'missing'}, not ${manifest.digest}`, response)
    return pass(response)
  }),
  write('push-manifest-data-field', 'MUST', SPEC.descriptor, 'PUT of a manifest whose config descriptor carries its bytes in `data`', '201; read back byte for byte', async (context) => {
    const {config, layer} = await context.fixture()
    const bytes = imageManifest(ref(config), [ref(layer)], {annotations: {'org.regshape.probe': `${context.runId}-data`}, config: {data: config.bytes.toString('base64'), digest: config.digest, mediaType: config.mediaType, size: config.size}})
    return pass(await manifestRoundTrip(context, bytes, MediaType.OciManifest))
  }),
  write('push-index-nested', 'MUST', SPEC.imageIndex, 'PUT of an index whose entry is another index', '201; read back byte for byte', async (context) => {
    const inner = await context.variant('oci-index')
    const bytes = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{mediaType: MediaType.OciIndex, digest: inner.digest, size: inner.bytes.length}], annotations: {'org.regshape.probe': context.runId}}))
    return pass(await manifestRoundTrip(context, bytes, MediaType.OciIndex))
  }),
  write('push-artifact', 'MUST', SPEC.imageManifest, 'PUT of an artifact: artifactType, the empty config, a layer of its own type', '201; read back byte for byte', async (context) => {
    const empty = await context.pushBlob(Buffer.from('{}'))
    const payload = randomBytes(256)
    const blob = await context.pushBlob(payload)
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.regshape.probe.artifact',
      config: {mediaType: MediaType.OciEmpty, digest: empty, size: 2, data: 'e30='},
      layers: [{mediaType: 'application/vnd.regshape.probe.payload', digest: blob, size: payload.length}],
    }))
    return pass(await manifestRoundTrip(context, bytes, MediaType.OciManifest))
  }),
  write('push-manifest-nondistributable', 'MAY', SPEC.imageManifest, 'PUT of a manifest with a non-distributable layer (urls, never pushed)', '201', async (context) => {
    const {config, layer} = await context.fixture()
    const foreign = {digest: digestOf(randomBytes(64)), mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', size: 64, urls: ['https://example.com/layer.tar.gz']}
    const bytes = imageManifest(ref(config), [ref(layer)], {annotations: {'org.regshape.probe': `${context.runId}-foreign`}, layers: [{mediaType: MediaType.OciLayerGzip, ...ref(layer)}, foreign]})
    const response = await context.putManifest(bytes, MediaType.OciManifest)
    return judge(response, {statuses: [201]})
  }),
  write('push-manifest-unknown-fields', 'MUST', SPEC.pushManifests, 'PUT of a manifest with fields no spec names, odd spacing and escapes', '201; read back byte for byte', async (context) => {
    const {config, layer} = await context.fixture()
    // Key order, spacing, an escaped character and unknown fields at every level: a registry that
    // re-serialises the JSON changes them, and the digest with them.
    const text = `{\n  "schemaVersion" :2, "mediaType":"${MediaType.OciManifest}",\n\t"config": {"digest":"${config.digest}","mediaType":"${MediaType.OciConfig}","size":${config.size},"x-probe":[1,2.50,{"deep":null}]},\n  "layers":[ {"size":${layer.size},"mediaType":"${MediaType.OciLayerGzip}","digest":"${layer.digest}","x-layer":"\\u00e9t\\u00e9"} ],\n  "x-regshape-unknown": {"run":"${context.runId}", "n": 1e3}\n}\n`
    return pass(await manifestRoundTrip(context, Buffer.from(text), MediaType.OciManifest))
  }),
]
