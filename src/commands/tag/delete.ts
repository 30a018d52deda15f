import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {formatImageRef} from '../../reference/image.js'
import {UsageError} from '../../errors.js'

const messages = {
  digest: (reference: string) => `tag delete requires a tag reference; use manifest delete for digest references: ${reference}`,
  noTag: (reference: string) => `tag delete requires a tag reference (registry/repo:tag): ${reference}`,
}

export interface TagDeleteResult {
  deleted: string
  reference: string
}

export default class TagDelete extends RegistryCommand<typeof TagDelete, TagDeleteResult> {
  static override args = {reference: referenceArgs.image('Tag to delete, host[:port]/repository:tag (instead of -i)')}

  static override description = `Deletes a tag (DELETE /v2/<name>/manifests/<tag>, the OCI spec's tag deletion); the manifest stays, addressable by digest. A digest reference exits 2 before any request: use 'manifest delete' for a digest. A registry that answers 400 or 405 does not delete tags (distribution 2.8 answers 400 DIGEST_INVALID): exit 1, "tag deletion is not supported by this registry".`

  static override examples = ['<%= config.bin %> <%= command.id %> registry.example.com/team/app:v1.0', '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app:v1.0']

  static override flags = {
    'image-ref': referenceFlags.imageRef('Image reference with embedded registry and tag (e.g. registry/repo:tag)'),
  }

  static override summary = 'Delete a tag'

  async run(): Promise<TagDeleteResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape tag delete host/repository:tag'})
    if (ref.digest !== undefined) throw new UsageError(messages.digest(formatImageRef(ref)))
    if (ref.tag === undefined) throw new UsageError(messages.noTag(formatImageRef(ref)))
    const reference = formatImageRef(ref)
    this.target = {reference, registry: ref.registry.host}
    const repository = await this.repository(ref)
    await repository.deleteTag(ref.tag)
    return {deleted: ref.tag, reference}
  }

  protected override renderText(result: TagDeleteResult): string {
    return `Deleted tag: ${result.reference}`
  }
}
