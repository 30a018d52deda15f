import {Args, Flags} from '@oclif/core'

import type {JsonObject} from '../command/base-command.js'
import {CopyCommand, type CopyReport, copyFlags, copyJson, copyText, parseEndpoint} from '../command/copy-command.js'

export default class Copy extends CopyCommand<typeof Copy> {
  static override args = {
    source: Args.string({description: 'What to copy: host[:port]/repository:tag or @digest, or oci:PATH[:TAG]', required: true}),
    destination: Args.string({description: 'Where to: host[:port]/repository[:tag], or oci:PATH[:TAG]; without a tag, the source\'s tag', required: true}),
  }

  static override description = `Copies an image, an index with its manifests, or an artifact, with every blob they reference, between registries and OCI image layouts (oci:PATH[:TAG], as skopeo names them).

Blobs the destination has are skipped (HEAD); within one registry they are mounted from the source repository; others stream from the source to the destination, hashed on the way, --concurrency at once. Blobs go first, then child manifests, then the manifest, then (with --referrers) the referrers of every manifest copied, and the tag last: a copy that fails leaves the destination's tag as it was, and running it again sends only what is missing.

Credentials are resolved for each registry on its own; -u/-p are refused when the two sides are different registries.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 mirror.example.com/team/app',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 oci:./app-layout:1.0',
    '<%= config.bin %> <%= command.id %> oci:./app-layout:1.0 registry.example.com/team/app:1.0',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 mirror.example.com/team/app:1.0-arm64 --platform linux/arm64',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 mirror.example.com/team/app --referrers',
  ]

  static override flags = {
    ...copyFlags,
    platform: Flags.string({description: 'Of an index, copy only this platform\'s manifest (repeatable: several make a new index of just those)', helpValue: 'OS/ARCH[/VARIANT]', multiple: true}),
    referrers: Flags.boolean({default: false, description: 'Also copy the referrers (signatures, SBOMs) of every manifest copied, and theirs'}),
  }

  static override summary = 'Copy an image, index or artifact between registries and OCI layouts'

  async run(): Promise<CopyReport> {
    const source = parseEndpoint(this.args.source)
    const destination = parseEndpoint(this.args.destination)
    const result = await this.copy(source, destination, {platforms: this.flags.platform, referrers: this.flags.referrers})
    return this.report(source, destination, result)
  }

  protected override renderText(report: CopyReport): string {
    return copyText(report)
  }

  protected override renderJson(report: CopyReport): JsonObject {
    return copyJson(report)
  }
}
