import {blobRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'

/** Printed as JSON in both forms (the base's default text: indented). */
export interface BlobMetadata {
  digest: string
  content_type: null | string
  size: null | number
}

export default class BlobHead extends RegistryCommand<typeof BlobHead, BlobMetadata> {
  static override args = {reference: referenceArgs.image('Blob reference, host[:port]/repository@sha256:... (instead of -r and -d)')}

  static override description = `Sends HEAD for the blob and prints its metadata as JSON: digest, content_type and size. Exits 1 when the blob does not exist, quoting the registry's error code.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:...',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:...',
  ]

  static override flags = {
    repo: referenceFlags.repo(),
    digest: referenceFlags.digest(),
  }

  static override summary = 'Check that a blob exists and show its metadata'

  async run(): Promise<BlobMetadata> {
    const ref = blobRefFrom(this.args.reference, this.flags.repo, this.flags.digest, 'regshape blob head host/repository@sha256:...')
    const repository = await this.repository(ref)
    const info = await repository.headBlob(ref.digest)
    return {digest: info.digest, content_type: info.contentType ?? null, size: info.size ?? null}
  }
}
