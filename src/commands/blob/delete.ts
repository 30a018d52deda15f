import {blobRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'

/** Printed as JSON in both forms (the base's default text: indented). */
export interface BlobDeleteResult {
  digest: string
  status: 'deleted'
}

export default class BlobDelete extends RegistryCommand<typeof BlobDelete, BlobDeleteResult> {
  static override args = {reference: referenceArgs.image('Blob reference, host[:port]/repository@sha256:... (instead of -r and -d)')}

  static override description = `Sends DELETE for the blob (token scope: delete) and prints {digest, status: "deleted"} on 202. A reference with a tag instead of a digest exits 2 before any request. A manifest that still names the blob may break: registries do not all check.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:...',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:...',
  ]

  static override flags = {
    repo: referenceFlags.repo(),
    digest: referenceFlags.digest(),
  }

  static override summary = 'Delete a blob from a repository'

  async run(): Promise<BlobDeleteResult> {
    const ref = blobRefFrom(this.args.reference, this.flags.repo, this.flags.digest, 'regshape blob delete host/repository@sha256:...')
    const repository = await this.repository(ref)
    await repository.deleteBlob(ref.digest)
    return {digest: ref.digest, status: 'deleted'}
  }
}
