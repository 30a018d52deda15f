import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {formatImageRef} from '../../reference/image.js'
import {ManifestWriter} from '../../registry/manifest-writes.js'
import {UsageError} from '../../services/errors.js'

const messages = {
  needsDigest: (reference: string) =>
    `manifest delete requires a digest reference (registry/repo@sha256:...), not a tag; use 'manifest info' to find the digest, or 'tag delete' to remove only the tag: ${reference}`,
}

export default class ManifestDelete extends RegistryCommand<typeof ManifestDelete> {
  static override args = {reference: referenceArgs.image('Manifest to delete, host[:port]/repository@sha256:... (instead of -i)')}

  static override description = `Deletes a manifest by digest (DELETE /v2/<name>/manifests/<digest>); the registry removes every tag pointing at it too. A tag reference exits 2 before any request: use 'tag delete' for a tag. Exits 1 when the registry refuses (MANIFEST_UNKNOWN, UNSUPPORTED when deletes are disabled, DENIED).`

  static override examples = ['<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:...', '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app@sha256:... --json']

  static override flags = {
    'image-ref': referenceFlags.imageRef('Image reference with embedded registry and digest (e.g. registry/repo@sha256:...)'),
  }

  static override summary = 'Delete a manifest by digest'

  async run(): Promise<void> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape manifest delete host/repository@sha256:...'})
    if (ref.digest === undefined) throw new UsageError(messages.needsDigest(formatImageRef(ref)))

    this.target = {reference: formatImageRef(ref), registry: ref.registry.host}
    const display = formatImageRef({...ref, digest: undefined, tag: undefined})
    const writer = new ManifestWriter(ref.repository, await this.registryAccess(ref.registry), display)
    await writer.deleteManifest(ref.digest)
    this.emitResult(`Deleted: ${ref.digest}`, {deleted: ref.digest, reference: `${display}@${ref.digest}`})
  }
}
