import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {formatImageRef} from '../../reference/image.js'
import type {DeleteResult, SubjectReport} from '../../registry/manifest-writes.js'
import {UsageError} from '../../errors.js'

const messages = {
  subject({digest, indexedBy, index, tag, updated}: NonNullable<DeleteResult['subject']>): string {
    if (indexedBy === 'registry') return `Note: the registry has a referrers API, which drops the referrer of ${digest} itself`
    if (!updated) return `Note: the registry has no referrers API (404); the referrers tag ${tag} of ${digest} did not list the manifest`
    if (index === undefined) return `Note: the registry has no referrers API (404); the referrers tag ${tag} of ${digest} listed no other referrer: deleted it`
    return `Note: the registry has no referrers API (404); took the manifest out of the referrers tag ${tag} of ${digest}`
  },
  needsDigest: (reference: string) =>
    `manifest delete requires a digest reference (registry/repo@sha256:...), not a tag; use 'manifest info' to find the digest, or 'tag delete' to remove only the tag: ${reference}`,
}

export interface ManifestDeleteResult {
  deleted: string
  reference: string
  /** A deleted referrer's subject, and what became of its referrers tag. */
  subject:
    | undefined
    | {digest: string; indexed_by: SubjectReport['indexedBy']; tag?: string; index?: SubjectReport['index']; updated?: boolean; superseded?: SubjectReport['superseded']}
}

export default class ManifestDelete extends RegistryCommand<typeof ManifestDelete, ManifestDeleteResult> {
  static override args = {reference: referenceArgs.image('Manifest to delete, host[:port]/repository@sha256:... (instead of -i)')}

  static override description = `Deletes a manifest by digest (DELETE /v2/<name>/manifests/<digest>); the registry removes every tag pointing at it too. A tag reference exits 2 before any request: use 'tag delete' for a tag. Exits 1 when the registry refuses (MANIFEST_UNKNOWN, UNSUPPORTED when deletes are disabled, DENIED).

A manifest with a subject (a signature, an SBOM) on a registry without the referrers API (distribution 2.8) is also taken out of its subject's referrers tag, as oras does, so that 'referrer list' no longer shows it: the manifest is read before the delete, and the tag updated after it.`

  static override examples = ['<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:...', '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app@sha256:... --json']

  static override flags = {
    'image-ref': referenceFlags.imageRef('Image reference with embedded registry and digest (e.g. registry/repo@sha256:...)'),
  }

  static override summary = 'Delete a manifest by digest'

  async run(): Promise<ManifestDeleteResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape manifest delete host/repository@sha256:...'})
    if (ref.digest === undefined) throw new UsageError(messages.needsDigest(formatImageRef(ref)))

    this.target = {reference: formatImageRef(ref), registry: ref.registry.host}
    const display = formatImageRef({...ref, digest: undefined, tag: undefined})
    const repository = await this.repository(ref)
    const {notes, subject} = await repository.deleteManifest(ref.digest)
    for (const note of notes) this.warning(note)
    if (subject) this.warning(messages.subject(subject))
    return {
      deleted: ref.digest,
      reference: `${display}@${ref.digest}`,
      subject: subject && {
        digest: subject.digest,
        indexed_by: subject.indexedBy,
        tag: subject.tag,
        index: subject.index,
        updated: subject.updated,
        superseded: subject.superseded,
      },
    }
  }

  protected override renderText(result: ManifestDeleteResult): string {
    return `Deleted: ${result.deleted}`
  }
}
