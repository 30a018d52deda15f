import type {BreakRule} from '../../break/rules.js'
import type {RegistryResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {builtinRules} from '../../break/rules.js'
import {MediaType} from '../../content/media-types.js'
import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {CATALOG_N, type Expectation, MANIFEST_LIMIT, answer, describe, digestOf, imageManifest, judge, withDigest} from './case.js'
import type {ProbeCase, ProbeContext} from './context.js'

/** Today's cases: requests the spec says a registry must refuse. */

export interface Fixture {
  config: {digest: string; size: number}
  layer: {digest: string; size: number}
}

export function refusals(fixture: () => Promise<Fixture>): ProbeCase[] {
  const uploadPut = {match: {method: ['PUT'], operation: ['blob.upload']}}
  const rejectsBlob: Expectation = {codes: ['DIGEST_INVALID'], statuses: [400]}
  const authRequired = (context: ProbeContext, response: RegistryResponse, expected: Expectation) =>
    !context.challenged && response.status < 300
      ? {detail: 'the registry serves this repository without credentials: nothing to refuse', got: answer(response), verdict: 'skip' as const}
      : judge(response, expected)

  return [
    {
      expected: describe(rejectsBlob),
      name: 'blob-wrong-digest',
      request: 'PUT of a blob with a digest= one hex digit off (wrong_digest)',
      async run(context) {
        const bytes = randomBytes(512)
        const session = await context.startSession()
        const response = await context.send({body: bytes, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digestOf(bytes))}, [builtinRules.wrong_digest(uploadPut)])
        if (response.status === 201) context.created.blobs.add(response.headers['docker-content-digest']?.[0] ?? digestOf(bytes))
        else await context.cancel(session)
        return judge(response, rejectsBlob)
      },
    },
    {
      expected: describe(rejectsBlob),
      name: 'blob-corrupt-body',
      request: 'PUT of a blob whose first byte was flipped after its digest was computed (corrupt_body)',
      async run(context) {
        const bytes = randomBytes(512)
        const session = await context.startSession()
        const response = await context.send({body: bytes, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digestOf(bytes))}, [builtinRules.corrupt_body(uploadPut)])
        if (response.status === 201) context.created.blobs.add(digestOf(bytes))
        else await context.cancel(session)
        return judge(response, rejectsBlob)
      },
    },
    {
      expected: '416',
      name: 'blob-chunk-out-of-order',
      request: 'PATCH of a second chunk whose Content-Range skips 1000 bytes (header replace)',
      async run(context) {
        const bytes = randomBytes(3000)
        const session = await context.startSession()
        const first = await context.send({body: bytes.subarray(0, 1000), headers: {'content-range': '0-999', 'content-type': 'application/octet-stream'}, method: 'PATCH', operation: 'blob.upload', path: session})
        if (first.status !== 202) {
          await context.cancel(session)
          return {detail: `the first, in-order chunk was not taken: HTTP ${first.status}`, got: answer(first), verdict: 'skip'}
        }

        const next = context.sessionPath(first)
        const skip: BreakRule = {action: 'replace', key: 'Content-Range', match: {method: ['PATCH'], operation: ['blob.upload']}, name: 'out-of-order Content-Range', target: 'header', value: '2000-2999'}
        const response = await context.send({body: bytes.subarray(1000, 2000), headers: {'content-range': '1000-1999', 'content-type': 'application/octet-stream'}, method: 'PATCH', operation: 'blob.upload', path: next}, [skip])
        await context.cancel(response.headers.location?.[0] ? context.sessionPath(response) : next)
        const verdict = judge(response, {statuses: [416]})
        return response.status === 202 ? {...verdict, detail: 'the registry appended the chunk at the wrong offset'} : verdict
      },
    },
    {
      expected: '400/404 MANIFEST_BLOB_UNKNOWN',
      name: 'manifest-blob-unknown',
      request: 'PUT of a manifest naming a layer the repository does not have',
      async run(context) {
        const {config} = await fixture()
        const missing = {digest: digestOf(randomBytes(64)), size: 64}
        const body = imageManifest(config, [missing])
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, digestOf(body))})
        if (response.status === 201) context.created.manifests.add(digestOf(body))
        return judge(response, {codes: ['MANIFEST_BLOB_UNKNOWN'], statuses: [400, 404]})
      },
    },
    {
      expected: '400 MANIFEST_INVALID',
      name: 'manifest-content-type-mismatch',
      request: 'PUT of an image manifest sent as an image index (invalid_content_type, CVE-2021-41190)',
      async run(context) {
        const {config, layer} = await fixture()
        const body = imageManifest(config, [layer], {'org.regshape.probe': 'content-type'})
        const rule = builtinRules.invalid_content_type({match: {operation: ['manifest.put']}, value: MediaType.OciIndex})
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, digestOf(body))}, [rule])
        if (response.status === 201) context.created.manifests.add(digestOf(body))
        return judge(response, {codes: ['MANIFEST_INVALID'], statuses: [400]})
      },
    },
    {
      expected: '400/413',
      name: 'manifest-oversized',
      request: `PUT of a manifest of ${MANIFEST_LIMIT / 1024 / 1024} MiB + 64 KiB (CVE-2017-11468)`,
      async run(context) {
        const {config, layer} = await fixture()
        const padding = 'x'.repeat(MANIFEST_LIMIT + 64 * 1024)
        const body = imageManifest(config, [layer], {'org.regshape.probe.padding': padding})
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, digestOf(body))})
        if (response.status === 201) context.created.manifests.add(digestOf(body))
        return judge(response, {statuses: [400, 413]})
      },
    },
    {
      expected: '400/404',
      name: 'manifest-invalid-tag',
      request: 'PUT of a manifest to the tag "-probe" (a tag may not start with "-")',
      async run(context) {
        const {config, layer} = await fixture()
        const body = imageManifest(config, [layer], {'org.regshape.probe': 'invalid-tag'})
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.invalidTagProbe(context.repository)})
        if (response.status === 201) context.created.manifests.add(response.headers['docker-content-digest']?.[0] ?? digestOf(body))
        return judge(response, {statuses: [400, 404]})
      },
    },
    {
      expected: '404',
      name: 'blob-head-unknown',
      request: 'HEAD of a blob no one pushed',
      async run(context) {
        const response = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(context.repository, digestOf(randomBytes(32)))})
        return judge(response, {statuses: [404]})
      },
    },
    {
      expected: '401',
      name: 'auth-missing',
      request: 'GET of the tag list without Authorization (skip_auth)',
      async run(context) {
        const response = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [builtinRules.skip_auth()])
        return authRequired(context, response, {statuses: [401]})
      },
    },
    {
      expected: '401',
      name: 'auth-expired-token',
      request: 'GET of the tag list with a Bearer token that expired in 2001 (expired_token)',
      async run(context) {
        const response = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [builtinRules.expired_token({match: {operation: ['tag.list']}})])
        return authRequired(context, response, {statuses: [401]})
      },
    },
    {
      expected: '200 (a bounded page) or 400 PAGINATION_NUMBER_INVALID',
      name: 'catalog-huge-n',
      request: `GET of the catalog with n=${CATALOG_N} (query replace, CVE-2023-2253)`,
      async run(context) {
        const rule: BreakRule = {action: 'replace', key: 'n', match: {operation: ['catalog.list']}, name: 'huge n', target: 'query', value: String(CATALOG_N)}
        const response = await context.send({method: 'GET', operation: 'catalog.list', path: urls.catalog({n: 10}), scope: 'registry:catalog:*'}, [rule])
        if (response.status === 401 || response.status === 403) return {detail: 'these credentials may not list the catalog', got: answer(response), verdict: 'skip'}
        if (response.status === 200) {
          let count = Number.NaN
          try {
            count = ((JSON.parse(response.body.toString('utf8')) as {repositories?: unknown[]}).repositories ?? []).length
          } catch {}

          return Number.isFinite(count) ? {detail: `${count} repositories in the page`, got: answer(response), verdict: 'pass'} : {detail: 'the 200 is not a catalog', got: answer(response), verdict: 'fail'}
        }

        return judge(response, {codes: ['PAGINATION_NUMBER_INVALID'], statuses: [400]})
      },
    },
    {
      expected: '202 (an upload session, not a mount) or 401/403/404',
      name: 'blob-mount-unreadable',
      request: 'POST mount= of a blob from a repository these credentials cannot read',
      async run(context) {
        const {layer} = await fixture()
        const from = `${context.repository}-probe-unreadable-${randomBytes(4).toString('hex')}`
        const scope = `${repositoryScope(context.repository, ['pull', 'push'])} ${repositoryScope(from, ['pull'])}`
        const response = await context.send({method: 'POST', operation: 'blob.mount', path: urls.uploads(context.repository, {from, mount: layer.digest}), scope})
        if (response.status === 202) await context.cancel(context.sessionPath(response))
        if (response.status === 201) return {detail: 'the registry mounted a blob from a repository that does not exist for these credentials', got: answer(response), verdict: 'fail'}
        return judge(response, {statuses: [202, 401, 403, 404]})
      },
    },
  ]
}

