import type {RegistryResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {MediaType} from '../../content/media-types.js'
import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {CaseEnd, type Level, type Outcome, SPEC, type SpecRef, codeText, digestOf, fail, judge, need, pass} from './case.js'
import {type ProbeCase, type ProbeContext, imageManifest} from './context.js'

/**
 * Content management: deleting a manifest, a tag and a blob, and the 404s that follow. A
 * registry may switch deletes off: its 400 or 405 is reported as "disabled", not as a failure.
 */

const manage = (name: string, level: Level, spec: SpecRef, request: string, expected: string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({area: 'management', expected, level, name, request, run, spec, writes: true})

function remove(context: ProbeContext, path: string, operation: string): Promise<RegistryResponse> {
  return context.send({method: 'DELETE', operation, path, scope: repositoryScope(context.repository, ['delete'])})
}

/** 400 or 405 to a DELETE: the registry has deletes switched off, as the spec lets it answer (distribution 2.8 answers a tag delete 400 DIGEST_INVALID: it deletes by digest only). */
function disabledBy(response: RegistryResponse): void {
  if (response.status === 405 || response.status === 400) {
    throw new CaseEnd({detail: `the registry answered ${response.status}${codeText(response)} (deletes are switched off)`, disabled: true, got: {status: response.status}, verdict: 'skip'})
  }
}

/** A manifest of this case's own, so that deleting it takes nothing from another case. */
async function ownManifest(context: ProbeContext, tag?: string): Promise<{bytes: Buffer; digest: string}> {
  const {config, layer} = await context.fixture()
  const bytes = imageManifest({digest: config.digest, size: config.size}, [{digest: layer.digest, size: layer.size}], {annotations: {'org.regshape.probe': `${context.runId}-${randomBytes(4).toString('hex')}`}})
  const response = await context.putManifest(bytes, MediaType.OciManifest, tag)
  need(response, [201], 'pushing the manifest to delete')
  return {bytes, digest: digestOf(bytes)}
}

export const MANAGEMENT: ProbeCase[] = [
  manage('management-delete-manifest', 'MUST', SPEC.deleteManifests, 'DELETE of a manifest by digest, then GET of it', '202, then 404 (400/405: deletes disabled)', async (context) => {
    const {digest} = await ownManifest(context)
    const deleted = await remove(context, urls.manifest(context.repository, digest), 'manifest.delete')
    disabledBy(deleted)
    need(deleted, [202], 'the DELETE')
    const after = await context.send({method: 'GET', operation: 'manifest.get', path: urls.manifest(context.repository, digest)})
    if (after.status !== 404) fail(`deleted, yet a GET answers ${after.status}${codeText(after)}`, after)
    return pass(deleted)
  }),
  manage('management-delete-tag', 'MAY', SPEC.deleteTags, 'DELETE of a tag, then GET of it', '202, then 404 (400/405: tag deletes disabled)', async (context) => {
    const tag = `${context.runId}-delete-me`
    await ownManifest(context, tag)
    const deleted = await remove(context, urls.manifest(context.repository, tag), 'tag.delete')
    disabledBy(deleted)
    need(deleted, [202], 'the DELETE')
    const after = await context.send({method: 'GET', operation: 'manifest.get', path: urls.manifest(context.repository, tag)})
    if (after.status !== 404) fail(`deleted, yet a GET of the tag answers ${after.status}${codeText(after)}`, after)
    return pass(deleted)
  }),
  manage('management-delete-blob', 'MUST', SPEC.deleteBlobs, 'DELETE of a blob, then HEAD of it', '202, then 404 (400/405: deletes disabled)', async (context) => {
    const digest = await context.pushBlob(randomBytes(256))
    const deleted = await remove(context, urls.blob(context.repository, digest), 'blob.delete')
    disabledBy(deleted)
    need(deleted, [202], 'the DELETE')
    const after = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(context.repository, digest)})
    if (after.status !== 404) fail(`deleted, yet a HEAD answers ${after.status}`, after)
    return pass(deleted)
  }),
  manage('management-delete-manifest-unknown', 'MUST', SPEC.deleteManifests, 'DELETE of a manifest digest no one pushed', '404 (400/405: deletes disabled)', async (context) => {
    const response = await remove(context, urls.manifest(context.repository, digestOf(randomBytes(32))), 'manifest.delete')
    disabledBy(response)
    return judge(response, {codes: ['MANIFEST_UNKNOWN'], codesIfAny: true, statuses: [404]})
  }),
  manage('management-delete-blob-unknown', 'MUST', SPEC.deleteBlobs, 'DELETE of a blob no one pushed', '404 (400/405: deletes disabled)', async (context) => {
    const response = await remove(context, urls.blob(context.repository, digestOf(randomBytes(32))), 'blob.delete')
    disabledBy(response)
    return judge(response, {codes: ['BLOB_UNKNOWN'], codesIfAny: true, statuses: [404]})
  }),
]
