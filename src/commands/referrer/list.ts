import {Flags} from '@oclif/core'

import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand, safeLines} from '../../command/registry-command.js'
import type {ReferrerList as Referrers} from '../../registry/repository.js'
import {UsageError} from '../../errors.js'

const messages = {
  needsDigest: (reference: string) =>
    `referrer list requires a digest reference (registry/repo@sha256:...); use 'manifest get' to resolve a tag to a digest: ${reference}`,
  tagSchema: (tag: string) => `Note: the registry has no referrers API (404); read the referrers tag schema instead (tag ${tag})`,
}

/** The referrers index as the registry sent it (pages merged), and where it came from. */
export type ReferrerListResult = Referrers['index'] & {source: Referrers['source']}

export default class ReferrerList extends RegistryCommand<typeof ReferrerList, ReferrerListResult> {
  static override args = {reference: referenceArgs.image('Manifest reference with a digest, host[:port]/repository@sha256:... (instead of -i)')}

  static override description = `Lists the referrers of a manifest (signatures, SBOMs, attestations), one per line as "<digest> <artifactType> <size>", through the referrers API. A registry without it (404, as distribution 2.8) is read through the referrers tag schema (the <alg>-<hex> tag holding an index), with a note on stderr and "source": "tag-schema" in --json. --artifact-type is applied here when the registry did not apply it (no artifactType in OCI-Filters-Applied).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:...',
    '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app@sha256:... --artifact-type application/vnd.example.sbom.v1 --all',
  ]

  static override flags = {
    'image-ref': referenceFlags.imageRef('Image reference with embedded registry and digest (e.g. registry/repo@sha256:...)'),
    'artifact-type': Flags.string({char: 't', description: 'Only referrers of this artifact type', helpValue: 'MEDIA-TYPE'}),
    all: Flags.boolean({description: 'Follow pagination and return every referrer (default: one page)'}),
    output: referenceFlags.output(),
  }

  static override summary = 'List the referrers of a manifest'

  async run(): Promise<ReferrerListResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape referrer list host/repository@sha256:...'})
    // upstream's own message for a reference without a digest
    if (ref.digest === undefined) throw new UsageError(messages.needsDigest(this.args.reference ?? this.flags['image-ref'] ?? ''))

    const repository = await this.repository(ref)
    const {index, source, tag} = await repository.referrers(ref.digest, {all: this.flags.all, artifactType: this.flags['artifact-type']})
    if (source === 'tag-schema') this.warning(messages.tagSchema(tag as string))
    return {...index, source}
  }

  protected override outputFile(): string | undefined {
    return this.flags.output
  }

  protected override renderText(result: ReferrerListResult): string {
    return safeLines(result.manifests.map((entry) => `${String(entry.digest)} ${typeof entry.artifactType === 'string' ? entry.artifactType : '-'} ${String(entry.size)}`))
  }
}
