import type {RegistryResponse} from '../transport/transport.js'

import {DigestMismatchError, digestOf} from '../content/digest.js'
import {MANIFEST_ACCEPT, MediaType, baseMediaType} from '../content/media-types.js'
import {type DigestAlgorithm, parseDigest} from '../reference/image.js'
import {repositoryScope} from '../reference/scope.js'
import {ProtocolError, RegshapeError} from '../errors.js'
import {parseChallenges} from '../transport/challenge.js'
import {RegistryApiError, apiError} from './api-error.js'
import {readReferrersIndex, referrersIndexBytes, referrersTag, subjectOf, withReferrer, withoutReferrer} from './referrers.js'
import {MANIFEST_MAX_BYTES, type RegistryConnection} from './connection.js'
import {urls} from './urls.js'

/**
 * The write side of manifests and tags: put, delete by digest, delete a tag. Every request
 * carries its operation label and the scope it needs (`pull,push` for puts, `delete` for
 * deletes). A manifest with a `subject` is indexed as the registry answers: its `OCI-Subject`
 * header says it did so itself; without it, the referrers tag schema index is updated here, as
 * the distribution spec requires of clients and as oras does.
 */

/** The OCI 1.1-rc artifact manifest, which can carry a subject too. */
const ARTIFACT_MANIFEST = 'application/vnd.oci.artifact.manifest.v1+json'

export interface SubjectReport {
  digest: string
  /** `registry`: the registry answered OCI-Subject; `tag-schema`: regshape updated the tag. */
  indexedBy: 'registry' | 'tag-schema'
  /** The OCI-Subject header, when the registry sent one. */
  ociSubject?: string
  /** tag-schema: the referrers tag and the index it now holds. */
  tag?: string
  index?: {digest: string; size: number}
  /** tag-schema: false when the referrer was already listed (nothing pushed). */
  updated?: boolean
  /** tag-schema: the index the tag held before, deleted as oras does (`deleted`), or left (`kept`). */
  superseded?: {deleted: boolean; digest: string}
}

export interface DeleteResult {
  /** Things the caller should tell the user (stderr), none of them failures. */
  notes: string[]
  /** The deleted manifest's subject, and what became of its referrers tag. */
  subject?: Pick<SubjectReport, 'digest' | 'indexedBy'> & Partial<SubjectReport>
}

export interface PushResult {
  digest: string
  mediaType: string
  size: number
  subject?: SubjectReport
  /** Things the caller should tell the user (stderr), none of them failures. */
  notes: string[]
}

export class ManifestWriter {
  private readonly pull: string
  private readonly push: string
  private readonly remove: string

  constructor(
    /** The repository path (`team/app`). */
    readonly path: string,
    private readonly connection: RegistryConnection,
    /** How errors name the repository (`host/path`). */
    private readonly display: string,
  ) {
    this.pull = repositoryScope(path, ['pull'])
    this.push = repositoryScope(path, ['pull', 'push'])
    this.remove = repositoryScope(path, ['delete'])
  }

  /**
   * PUTs the exact bytes under `reference` (a tag, or a digest they must hash to), or under their
   * own digest when no reference is given. The digest is computed here and must equal the
   * registry's Docker-Content-Digest.
   */
  async put(bytes: Buffer, options: {contentType: string; reference?: string}): Promise<PushResult> {
    const pinned = options.reference !== undefined && isDigest(options.reference) ? options.reference : undefined
    const algorithm: DigestAlgorithm = pinned ? parseDigest(pinned).algorithm : 'sha256'
    const digest = digestOf(bytes, algorithm)
    const target = options.reference ?? digest
    const what = `manifest put ${this.display}${suffix(target)}`
    if (pinned && digest !== pinned) {
      throw new DigestMismatchError(`${what}: the manifest's bytes hash to ${digest}, not to the digest of the reference; nothing was sent`, pinned, digest)
    }

    const notes: string[] = []
    const response = await this.connection.send(what, {
      body: bytes,
      headers: {'content-type': options.contentType},
      maxBodyBytes: 64 * 1024,
      method: 'PUT',
      operation: 'manifest.put',
      path: urls.manifest(this.path, target),
      scope: this.push,
    })
    if (!isSuccess(response.status)) throw withJsonNote(this.refusal(what, response, 'push'), bytes)
    const announced = this.checkAnnounced(what, response, bytes, digest)
    if (!announced) notes.push(`Note: the registry sent no Docker-Content-Digest for ${target}; ${digest} is regshape's own`)
    const result: PushResult = {digest, mediaType: options.contentType, notes, size: bytes.length}
    const subject = subjectOf(bytes, digest, baseMediaType(options.contentType) ?? options.contentType)
    if (!subject) return result
    const ociSubject = header(response, 'oci-subject')
    if (ociSubject !== undefined) {
      if (ociSubject !== subject.subject.digest) notes.push(`Note: the registry's OCI-Subject ${ociSubject} is not the manifest's subject ${subject.subject.digest}`)
      result.subject = {digest: subject.subject.digest, indexedBy: 'registry', ociSubject}
      return result
    }

    try {
      result.subject = await this.updateReferrersTag(subject.subject.digest, (manifests) => withReferrer(manifests, subject.referrer), notes)
    } catch (error) {
      // The manifest is in the registry: the failure says so, with its digest.
      const reason = error instanceof Error ? error.message : String(error)
      const message = `${what}: pushed ${digest}, but the registry sent no OCI-Subject and the referrers tag ${referrersTag(subject.subject.digest)} could not be updated: ${reason}`
      if (error instanceof RegistryApiError) throw new RegistryApiError(message, error.status, error.errors, error.kind)
      throw new RegshapeError(message, {cause: error, exitCode: error instanceof RegshapeError ? error.exitCode : undefined})
    }

    return result
  }

  /**
   * DELETE of a manifest by digest (the registry removes every tag pointing at it too). A
   * manifest with a subject is also taken out of the subject's referrers tag when the registry
   * has no referrers API (it answers 404), as the distribution spec asks of clients and as oras
   * does: so the manifest is read first (pull), and the tag updated after the delete (pull,push).
   */
  async deleteManifest(digest: string): Promise<DeleteResult> {
    const what = `manifest delete ${this.display}@${digest}`
    const notes: string[] = []
    const subject = await this.storedSubject(digest, notes)
    const response = await this.connection.send(what, {maxBodyBytes: 64 * 1024, method: 'DELETE', operation: 'manifest.delete', path: urls.manifest(this.path, digest), scope: this.remove})
    if (!isSuccess(response.status)) throw this.refusal(what, response, 'delete')
    if (subject === undefined) return {notes}
    try {
      const api = await this.connection.send(what, {
        headers: {accept: MediaType.OciIndex},
        maxBodyBytes: MANIFEST_MAX_BYTES,
        method: 'GET',
        operation: 'referrers.list',
        path: urls.referrers(this.path, subject),
        scope: this.pull,
      })
      if (api.status === 200) return {notes, subject: {digest: subject, indexedBy: 'registry'}}
      if (api.status !== 404) throw this.refusal('asking the referrers API', api, 'pull')
      return {notes, subject: await this.updateReferrersTag(subject, (manifests) => withoutReferrer(manifests, digest), notes)}
    } catch (error) {
      // The manifest is gone: the failure says so.
      const reason = error instanceof Error ? error.message : String(error)
      const message = `${what}: deleted ${digest}, but it could not be taken out of the referrers tag ${referrersTag(subject)} of its subject: ${reason}`
      if (error instanceof RegistryApiError) throw new RegistryApiError(message, error.status, error.errors, error.kind)
      throw new RegshapeError(message, {cause: error, exitCode: error instanceof RegshapeError ? error.exitCode : undefined})
    }
  }

  /**
   * The subject digest of a stored manifest, read before it is deleted. What cannot be read (not
   * there: the DELETE will say so; not allowed: a note) or names no subject gives undefined.
   */
  private async storedSubject(digest: string, notes: string[]): Promise<string | undefined> {
    let response: RegistryResponse
    try {
      response = await this.connection.request({
        headers: {accept: `${MANIFEST_ACCEPT}, ${ARTIFACT_MANIFEST}`},
        maxBodyBytes: MANIFEST_MAX_BYTES,
        method: 'GET',
        operation: 'manifest.get',
        path: urls.manifest(this.path, digest),
        scope: this.pull,
      })
    } catch {
      return undefined
    }

    if (response.status === 404) return undefined
    if (response.status !== 200 || digestOf(response.body, parseDigest(digest).algorithm) !== digest) {
      const why = response.status === 200 ? 'its bytes do not hash to its digest' : reasonOf(response)
      notes.push(`Note: the manifest could not be read before the delete (${why}), so no referrers tag was checked for it`)
      return undefined
    }

    return subjectOf(response.body, digest, MediaType.OciManifest)?.subject.digest
  }

  /**
   * DELETE of a tag (the OCI spec's tag deletion, through the manifests endpoint); the manifest
   * stays. 400 and 405 are the spec's answers of a registry that does not delete tags.
   */
  async deleteTag(tag: string): Promise<void> {
    const what = `tag delete ${this.display}:${tag}`
    const response = await this.connection.send(what, {maxBodyBytes: 64 * 1024, method: 'DELETE', operation: 'tag.delete', path: urls.manifest(this.path, tag), scope: this.remove})
    if (isSuccess(response.status)) return
    const error = this.refusal(what, response, 'delete')
    if (response.status !== 400 && response.status !== 405) throw error
    throw new RegistryApiError(
      `${what}: tag deletion is not supported by this registry (HTTP ${response.status}${error.errors.length > 0 ? `, ${reasonOf(response)}` : ''}); 'manifest delete' by digest removes the manifest and every tag on it`,
      error.status,
      error.errors,
      'unsupported',
    )
  }

  /**
   * Changes a subject's referrers tag: read the index the tag holds (none: start empty), apply
   * `change` (undefined: nothing to change), push the new index to the tag, then delete the index
   * it replaced (oras's garbage collection: a refusal only leaves it in place, with a note). When
   * no referrer is left, no index is pushed: deleting the old one by digest removes the tag.
   */
  private async updateReferrersTag(
    subject: string,
    change: (manifests: ReadonlyArray<Record<string, unknown>>) => Array<Record<string, unknown>> | undefined,
    notes: string[],
  ): Promise<SubjectReport> {
    const tag = referrersTag(subject)
    const what = `referrers tag ${this.display}:${tag}`
    const current = await this.connection.send(what, {
      headers: {accept: MediaType.OciIndex},
      maxBodyBytes: MANIFEST_MAX_BYTES,
      method: 'GET',
      operation: 'referrers.tag',
      path: urls.manifest(this.path, tag),
      scope: this.push,
    })
    let manifests: Array<Record<string, unknown>> = []
    let previous: string | undefined
    if (current.status === 200) {
      const read = readReferrersIndex(current.body, baseMediaType(header(current, 'content-type')))
      if ('problem' in read) throw new ProtocolError(`the tag holds a manifest that is not a referrers index (${read.problem}); it was left as it was`)
      manifests = read.manifests
      previous = digestOf(current.body)
    } else if (current.status !== 404) {
      throw this.refusal('reading it', current, 'pull')
    }

    const updated = change(manifests)
    if (!updated) return {digest: subject, index: previous ? {digest: previous, size: current.body.length} : undefined, indexedBy: 'tag-schema', tag, updated: false}
    const report: SubjectReport = {digest: subject, indexedBy: 'tag-schema', tag, updated: true}
    if (updated.length === 0 && previous) {
      const deleted = await this.connection.send(what, {maxBodyBytes: 64 * 1024, method: 'DELETE', operation: 'referrers.tag.delete', path: urls.manifest(this.path, previous), scope: this.remove})
      if (!isSuccess(deleted.status)) throw this.refusal(`deleting the index ${previous}, which lists no other referrer`, deleted, 'delete')
      report.superseded = {deleted: true, digest: previous}
      return report
    }

    const bytes = referrersIndexBytes(updated)
    const digest = digestOf(bytes)
    const pushed = await this.connection.send(what, {
      body: bytes,
      headers: {'content-type': MediaType.OciIndex},
      maxBodyBytes: 64 * 1024,
      method: 'PUT',
      operation: 'referrers.tag.put',
      path: urls.manifest(this.path, tag),
      scope: this.push,
    })
    if (!isSuccess(pushed.status)) throw this.refusal('pushing the new index', pushed, 'push')
    this.checkAnnounced(`pushing the new index`, pushed, bytes, digest)
    report.index = {digest, size: bytes.length}
    if (previous && previous !== digest) {
      // The tag already holds the new index: whatever happens to the old one is only reported.
      let why: string | undefined
      try {
        const deleted = await this.connection.send(what, {maxBodyBytes: 64 * 1024, method: 'DELETE', operation: 'referrers.tag.delete', path: urls.manifest(this.path, previous), scope: this.remove})
        if (!isSuccess(deleted.status)) why = reasonOf(deleted)
      } catch (error) {
        why = error instanceof Error ? error.message : String(error)
      }

      report.superseded = {deleted: why === undefined, digest: previous}
      if (why !== undefined) notes.push(`Note: the referrers index ${previous} that the tag held before was left in place (${why})`)
    }

    return report
  }

  /**
   * The registry's Docker-Content-Digest must be the digest of the bytes sent (hashed with its
   * algorithm, if it is another): anything else means it stored something else. False when it
   * sent none.
   */
  private checkAnnounced(what: string, response: RegistryResponse, bytes: Buffer, digest: string): boolean {
    const announced = header(response, 'docker-content-digest')
    if (announced === undefined) return false
    let algorithm: DigestAlgorithm
    try {
      algorithm = parseDigest(announced).algorithm
    } catch {
      throw new ProtocolError(`${what}: the registry answered Docker-Content-Digest "${announced.slice(0, 100)}", which is not a digest; the bytes sent hash to ${digest}`)
    }

    const ours = algorithm === parseDigest(digest).algorithm ? digest : digestOf(bytes, algorithm)
    if (announced !== ours) {
      throw new DigestMismatchError(`${what}: the registry answered Docker-Content-Digest ${announced}, but the bytes sent hash to ${ours}; it did not store what was sent`, ours, announced)
    }

    return true
  }

  /**
   * The error for a refused request. A 401 to a request that carried a token, with the challenge's
   * `error="insufficient_scope"`, is not a login failure: the credentials work but lack the right
   * (a pull-only user pushing), and distribution's own words (UNAUTHORIZED: authentication
   * required) would send the user to log in again.
   */
  private refusal(what: string, response: RegistryResponse, action: 'delete' | 'pull' | 'push'): RegistryApiError {
    const error = apiError(what, response)
    if (response.status !== 401 || response.authScheme === undefined) return error
    let insufficient = false
    try {
      insufficient = parseChallenges(response.headers['www-authenticate']).some((challenge) => challenge.params.error === 'insufficient_scope')
    } catch {}

    if (!insufficient) return error
    return new RegistryApiError(`${what}: denied: ${action} on ${this.path} is not granted to these credentials (401 insufficient_scope)`, error.status, error.errors, 'denied')
  }

  /** One request; a failure to get an answer (unreachable, TLS, a token refused) names what was asked. */
}

/** A registry's refusal of a body that is not JSON says so, after the registry's own words. */
function withJsonNote(error: RegistryApiError, bytes: Buffer): RegistryApiError {
  try {
    JSON.parse(bytes.toString('utf8'))
    return error
  } catch {
    return new RegistryApiError(`${error.message} (the body sent is not JSON)`, error.status, error.errors, error.kind)
  }
}

/** What the registry said, without a prefix: `CODE: message`, or the HTTP status. */
function reasonOf(response: RegistryResponse): string {
  return apiError('', response).message.slice(2)
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300
}

function isDigest(reference: string): boolean {
  return reference.includes(':')
}

function suffix(reference: string): string {
  return isDigest(reference) ? `@${reference}` : `:${reference}`
}

function header(response: RegistryResponse, name: string): string | undefined {
  return response.headers[name]?.[0]
}
