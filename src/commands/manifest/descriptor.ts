import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'

/** An OCI descriptor of the manifest, printed as JSON in both forms (the base's default text). */
export interface ManifestDescriptorResult {
  mediaType: string
  digest: string
  size: number
}

export default class ManifestDescriptor extends RegistryCommand<typeof ManifestDescriptor, ManifestDescriptorResult> {
  static override args = {reference: referenceArgs.image()}

  static override description = `Sends HEAD for the manifest and prints its OCI descriptor ({"mediaType", "digest", "size"}), ready to embed in another manifest as a subject or an index entry. When the registry's answer lacks Docker-Content-Digest (or the type or size), the manifest is fetched and hashed instead.`

  static override examples = ['<%= config.bin %> <%= command.id %> registry.example.com/team/app:v1', '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app@sha256:...']

  static override flags = {
    'image-ref': referenceFlags.imageRef(),
    accept: referenceFlags.accept(),
  }

  static override summary = 'Print the OCI descriptor of a manifest'

  async run(): Promise<ManifestDescriptorResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape manifest descriptor host/repository:tag'})
    const repository = await this.repository(ref)
    const {digest, mediaType, size} = await repository.headManifest(ref.digest ?? ref.tag ?? 'latest', {accept: this.flags.accept})
    return {mediaType, digest, size}
  }
}
