import type {BreakRule} from '../../break/rules.js'
import type {RegistryResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {builtinRules} from '../../break/rules.js'
import {MediaType} from '../../content/media-types.js'
import {CATALOG_SCOPE, repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {CATALOG_N, type Expectation, type Level, MANIFEST_LIMIT, type Outcome, SPEC, type SpecRef, answer, describe, digestOf, judge, skip, withDigest} from './case.js'
import {type ProbeCase, type ProbeContext, imageManifest} from './context.js'

/**
 * Refusals: what the spec says a registry must refuse (a wrong or malformed digest, a corrupted
 * body, invalid names and tags, a manifest naming missing blobs or contradicting its
 * Content-Type, an oversized manifest, no or an expired token), and the rights cases: a push, a
 * delete, a mount and a catalog read by the read-only identity.
 */

const refuse = (name: string, level: Level, spec: SpecRef, writes: boolean, request: string, expectation: Expectation | string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({
  area: 'refusals',
  expected: typeof expectation === 'string' ? expectation : describe(expectation),
  level,
  name,
  request,
  run,
  spec,
  writes,
})

const uploadPut = {match: {method: ['PUT'], operation: ['blob.upload']}}
const rejectsBlob: Expectation = {codes: ['DIGEST_INVALID'], statuses: [400]}
const refused: Expectation = {statuses: [401, 403]}

/** An auth case on a registry that serves reads without credentials has nothing to refuse. */
function authRequired(context: ProbeContext, response: RegistryResponse, expected: Expectation): Outcome {
  if (!context.challenged) return {detail: 'the registry serves this repository without credentials: nothing to refuse', got: answer(response), verdict: 'skip'}
  return judge(response, expected)
}

/** A manifest of the run's blobs, with an annotation of its own. */
async function manifestOf(context: ProbeContext, note: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
  const {config, layer} = await context.fixture()
  return imageManifest({digest: config.digest, size: config.size}, [{digest: layer.digest, size: layer.size}], {annotations: {'org.regshape.probe': note}, ...extra})
}

/** A PUT of a blob's bytes to a new session, with `rules` applied; what the registry took is recorded. */
async function uploadWith(context: ProbeContext, bytes: Buffer, rules: BreakRule[], digest = digestOf(bytes)): Promise<RegistryResponse> {
  const session = await context.startSession()
  const response = await context.send({body: bytes, headers: {'content-type': 'application/octet-stream'}, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digest)}, rules)
  if (response.status === 201) context.createdBlob(response.headers['docker-content-digest']?.[0] ?? digestOf(bytes))
  else await context.cancel(session)
  return response
}

const invalidName = {codes: ['NAME_INVALID', 'NAME_UNKNOWN'], codesIfAny: true, statuses: [400, 404]} satisfies Expectation
const invalidTag = {codes: ['TAG_INVALID', 'MANIFEST_INVALID', 'NAME_INVALID', 'MANIFEST_UNKNOWN'], codesIfAny: true, statuses: [400, 404]} satisfies Expectation

export const REFUSALS: ProbeCase[] = [
  refuse('blob-wrong-digest', 'MUST', SPEC.pushBlobs, true, 'PUT of a blob with a digest= one hex digit off (wrong_digest)', rejectsBlob, async (context) =>
    judge(await uploadWith(context, randomBytes(512), [builtinRules.wrong_digest(uploadPut)]), rejectsBlob),
  ),
  refuse('blob-corrupt-body', 'MUST', SPEC.pushBlobs, true, 'PUT of a blob whose first byte was flipped after its digest was computed (corrupt_body)', rejectsBlob, async (context) =>
    judge(await uploadWith(context, randomBytes(512), [builtinRules.corrupt_body(uploadPut)]), rejectsBlob),
  ),
  refuse('blob-malformed-digest', 'SHOULD', SPEC.pushBlobs, true, 'PUT of a blob with digest=sha256:<not hex> (wrong_digest replace)', rejectsBlob, async (context) => {
    const rule = builtinRules.wrong_digest({...uploadPut, value: `sha256:${'z'.repeat(64)}`})
    return judge(await uploadWith(context, randomBytes(256), [rule]), rejectsBlob)
  }),
  refuse('manifest-wrong-digest', 'MUST', SPEC.pushManifests, true, 'PUT of a manifest to a digest one hex digit off its bytes (wrong_digest)', rejectsBlob, async (context) => {
    const body = await manifestOf(context, `${context.runId}-wrong-digest`)
    return judge(await context.putManifest(body, MediaType.OciManifest, undefined, [builtinRules.wrong_digest({match: {operation: ['manifest.put']}})]), rejectsBlob)
  }),
  refuse('manifest-get-malformed-digest', 'MUST', SPEC.manifests, false, 'GET of manifests/sha256:baddigeststring', {statuses: [400, 404]}, async (context) => {
    const response = await context.send({method: 'GET', operation: 'manifest.get', path: `/v2/${context.repository}/manifests/sha256:baddigeststring`})
    return judge(response, {statuses: [400, 404]})
  }),
  refuse('name-invalid-uppercase', 'MUST', SPEC.manifests, true, 'POST of an upload to <repository>/UPPER (names are lower case)', invalidName, async (context) => {
    const name = `${context.repository}/UPPER`
    const response = await context.send({method: 'POST', operation: 'blob.upload', path: `/v2/${name}/blobs/uploads/`, scope: `repository:${name}:pull,push`})
    if (response.status === 202) await context.cancel(context.sessionPath(response))
    return judge(response, invalidName)
  }),
  refuse('name-invalid-separator', 'MUST', SPEC.manifests, true, 'POST of an upload to <repository>/-x (a component may not start with a separator)', invalidName, async (context) => {
    const name = `${context.repository}/-x`
    const response = await context.send({method: 'POST', operation: 'blob.upload', path: `/v2/${name}/blobs/uploads/`, scope: `repository:${name}:pull,push`})
    if (response.status === 202) await context.cancel(context.sessionPath(response))
    return judge(response, invalidName)
  }),
  refuse('manifest-invalid-tag', 'MUST', SPEC.manifests, true, 'PUT of a manifest to the tag "-probe" (a tag may not start with "-")', {statuses: [400, 404]}, async (context) => {
    const body = await manifestOf(context, `${context.runId}-invalid-tag`)
    const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.invalidTagProbe(context.repository)})
    if (response.status === 201) context.createdManifest(response.headers['docker-content-digest']?.[0] ?? digestOf(body))
    return judge(response, {statuses: [400, 404]})
  }),
  refuse('manifest-tag-too-long', 'MUST', SPEC.manifests, true, 'PUT of a manifest to a tag of 129 characters (128 at most)', invalidTag, async (context) => {
    const body = await manifestOf(context, `${context.runId}-long-tag`)
    const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: `/v2/${context.repository}/manifests/${'t'.repeat(129)}`})
    if (response.status === 201) context.createdManifest(response.headers['docker-content-digest']?.[0] ?? digestOf(body))
    return judge(response, invalidTag)
  }),
  refuse('manifest-blob-unknown', 'MUST', SPEC.push, true, 'PUT of a manifest naming a layer the repository does not have', '400/404 MANIFEST_BLOB_UNKNOWN', async (context) => {
    const {config} = await context.fixture()
    const body = imageManifest({digest: config.digest, size: config.size}, [{digest: digestOf(randomBytes(64)), size: 64}])
    return judge(await context.putManifest(body, MediaType.OciManifest), {codes: ['MANIFEST_BLOB_UNKNOWN'], statuses: [400, 404]})
  }),
  refuse('manifest-content-type-mismatch', 'SHOULD', SPEC.pushManifests, true, 'PUT of an image manifest sent as an image index (invalid_content_type, CVE-2021-41190)', '400 MANIFEST_INVALID', async (context) => {
    const body = await manifestOf(context, `${context.runId}-content-type`)
    const rule = builtinRules.invalid_content_type({match: {operation: ['manifest.put']}, value: MediaType.OciIndex})
    return judge(await context.putManifest(body, MediaType.OciManifest, undefined, [rule]), {codes: ['MANIFEST_INVALID'], statuses: [400]})
  }),
  refuse('manifest-oversized', 'SHOULD', SPEC.pushManifests, true, `PUT of a manifest of ${MANIFEST_LIMIT / 1024 / 1024} MiB + 64 KiB (CVE-2017-11468)`, '400/413', async (context) => {
    const body = await manifestOf(context, 'x'.repeat(MANIFEST_LIMIT + 64 * 1024))
    return judge(await context.putManifest(body, MediaType.OciManifest), {statuses: [400, 413]})
  }),
  refuse('auth-missing', 'MUST', SPEC.token, false, 'GET of the tag list without Authorization (skip_auth)', '401', async (context) => {
    const response = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [builtinRules.skip_auth()])
    return authRequired(context, response, {statuses: [401]})
  }),
  refuse('auth-expired-token', 'MUST', SPEC.token, false, 'GET of the tag list with a Bearer token that expired in 2001 (expired_token)', '401', async (context) => {
    const response = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [builtinRules.expired_token({match: {operation: ['tag.list']}})])
    return authRequired(context, response, {statuses: [401]})
  }),
  refuse('catalog-huge-n', 'SHOULD', SPEC.catalog, false, `GET of the catalog with n=${CATALOG_N} (query replace, CVE-2023-2253)`, '200 (a bounded page) or 400 PAGINATION_NUMBER_INVALID', async (context) => {
    const rule: BreakRule = {action: 'replace', key: 'n', match: {operation: ['catalog.list']}, name: 'huge n', target: 'query', value: String(CATALOG_N)}
    const response = await context.send({method: 'GET', operation: 'catalog.list', path: urls.catalog({n: 10}), scope: CATALOG_SCOPE}, [rule])
    if (response.status === 401 || response.status === 403) skip('these credentials may not list the catalog', response)
    if (response.status === 200) {
      let count = Number.NaN
      try {
        count = ((JSON.parse(response.body.toString('utf8')) as {repositories?: unknown[]}).repositories ?? []).length
      } catch {}

      return Number.isFinite(count) ? {detail: `${count} repositories in the page`, got: answer(response), verdict: 'pass'} : {detail: 'the 200 is not a catalog', got: answer(response), verdict: 'fail'}
    }

    return judge(response, {codes: ['PAGINATION_NUMBER_INVALID'], statuses: [400]})
  }),
  refuse('blob-mount-unreadable', 'MUST', SPEC.mount, true, 'POST mount= of a blob from a repository these credentials cannot read', '202 (an upload session, not a mount) or 401/403/404', async (context) => {
    const {layer} = await context.fixture()
    const from = `${context.repository}-probe-unreadable-${randomBytes(4).toString('hex')}`
    const scope = `${repositoryScope(context.repository, ['pull', 'push'])} ${repositoryScope(from, ['pull'])}`
    const response = await context.send({method: 'POST', operation: 'blob.mount', path: urls.uploads(context.repository, {from, mount: layer.digest}), scope})
    if (response.status === 202) await context.cancel(context.sessionPath(response))
    if (response.status === 201) return {detail: 'the registry mounted a blob from a repository that does not exist for these credentials', got: answer(response), verdict: 'fail'}
    return judge(response, {statuses: [202, 401, 403, 404]})
  }),
  refuse('rights-push', 'MUST', SPEC.rights, true, 'POST of an upload by the read-only identity', '401/403', async (context) => {
    const response = await context.asReader({headers: {'content-length': '0'}, method: 'POST', operation: 'blob.upload', path: urls.uploads(context.repository), scope: context.pushScope(context.repository)})
    if (response.status === 202) await context.cancel(context.sessionPath(response))
    return judge(response, refused)
  }),
  refuse('rights-manifest-put', 'MUST', SPEC.rights, true, 'PUT of a manifest by the read-only identity', '401/403', async (context) => {
    const body = await manifestOf(context, `${context.runId}-reader`)
    const response = await context.asReader({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, `${context.runId}-reader`), scope: context.pushScope(context.repository)})
    if (response.status === 201) context.createdManifest(digestOf(body))
    return judge(response, refused)
  }),
  refuse('rights-delete', 'MUST', SPEC.rights, true, 'DELETE of a blob by the read-only identity', '401/403', async (context) => {
    const digest = await context.pushBlob(randomBytes(128))
    const response = await context.asReader({method: 'DELETE', operation: 'blob.delete', path: urls.blob(context.repository, digest), scope: repositoryScope(context.repository, ['pull', 'delete'])})
    if (response.status === 405) return {detail: 'deletes are switched off, for every identity', disabled: true, got: answer(response), verdict: 'skip'}
    return judge(response, refused)
  }),
  refuse('rights-mount', 'MUST', SPEC.rights, true, 'POST mount= into the scratch repository by the read-only identity', '401/403 (neither a mount nor an upload session)', async (context) => {
    const {layer} = await context.fixture()
    const source = context.settings.mountSource
    const scope = `${context.pushScope(context.repository)} ${repositoryScope(source, ['pull'])}`
    const response = await context.asReader({method: 'POST', operation: 'blob.mount', path: urls.uploads(context.repository, {from: source, mount: layer.digest}), scope})
    if (response.status === 202) await context.cancel(context.sessionPath(response))
    return judge(response, refused)
  }),
  refuse('rights-catalog', 'MUST', SPEC.rights, false, 'GET of the catalog by the read-only identity', '401/403', async (context) => {
    const response = await context.asReader({method: 'GET', operation: 'catalog.list', path: urls.catalog({n: 10}), scope: CATALOG_SCOPE})
    return judge(response, refused)
  }),
]
