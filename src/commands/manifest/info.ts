import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {terminalSafe} from '../../util/text.js'

export interface ManifestInfoResult {
  digest: string
  media_type: string
  size: number
}

export default class ManifestInfo extends RegistryCommand<typeof ManifestInfo, ManifestInfoResult> {
  static override args = {reference: referenceArgs.image()}

  static override description = `Sends HEAD for the manifest and prints its digest, media type and size from the registry's headers. When the registry's answer lacks Docker-Content-Digest (or the type or size), the manifest is fetched and hashed instead. Exits 1 when the manifest does not exist.`

  static override examples = ['<%= config.bin %> <%= command.id %> registry.example.com/team/app:v1', '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app:v1 --json']

  static override flags = {
    'image-ref': referenceFlags.imageRef(),
    accept: referenceFlags.accept(),
  }

  static override summary = 'Show the digest, media type and size of a manifest'

  async run(): Promise<ManifestInfoResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape manifest info host/repository:tag'})
    const repository = await this.repository(ref)
    const descriptor = await repository.headManifest(ref.digest ?? ref.tag ?? 'latest', {accept: this.flags.accept})
    return {digest: descriptor.digest, media_type: descriptor.mediaType, size: descriptor.size}
  }

  protected override renderText(result: ManifestInfoResult): string {
    return [`Digest:       ${result.digest}`, `Media Type:   ${terminalSafe(result.media_type)}`, `Size:         ${result.size}`].join('\n')
  }
}
