import {Args, Flags} from '@oclif/core'

import type {JsonObject} from '../command/base-command.js'
import {CopyCommand, type CopyReport, copyFlags, copyJson, copyText, entryFromFlags, parseEndpoint, tagFilterFlags} from '../command/copy-command.js'
import {syncJson, syncText} from '../command/sync-output.js'
import {UsageError} from '../errors.js'
import type {SyncResult} from '../workflows/sync.js'

/** One image's summary, or with --all-tags the sync's. */
export type CopyCommandResult = CopyReport | SyncResult

const isSync = (result: CopyCommandResult): result is SyncResult => 'tags' in result

export default class Copy extends CopyCommand<typeof Copy, CopyCommandResult> {
  static override args = {
    source: Args.string({description: 'What to copy: host[:port]/repository:tag or @digest, or oci:PATH[:TAG]', required: true}),
    destination: Args.string({description: 'Where to: host[:port]/repository[:tag], or oci:PATH[:TAG]; without a tag, the source\'s tag', required: true}),
  }

  static override description = `Copies an image, an index with its manifests, or an artifact, with every blob they reference, between registries and OCI image layouts (oci:PATH[:TAG], as skopeo names them).

Blobs the destination has are skipped (HEAD); within one registry they are mounted from the source repository; others stream from the source to the destination, hashed on the way, --concurrency at once. Blobs go first, then child manifests, then the manifest, then (with --referrers) the referrers of every manifest copied, and the tag last: a copy that fails leaves the destination's tag as it was, and running it again sends only what is missing.

With --all-tags, SOURCE and DESTINATION are repositories (or layouts) and every tag is copied, or those --include, --exclude, --semver and --latest take, as 'regshape sync' does: a tag the destination has already costs two HEADs, --concurrency tags go at once, and a tag that fails does not stop the others.

Credentials are resolved for each registry on its own; -u/-p are refused when the two sides are different registries.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 mirror.example.com/team/app',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 oci:./app-layout:1.0',
    '<%= config.bin %> <%= command.id %> oci:./app-layout:1.0 registry.example.com/team/app:1.0',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 mirror.example.com/team/app:1.0-arm64 --platform linux/arm64',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:1.0 mirror.example.com/team/app --referrers',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app mirror.example.com/team/app --all-tags --semver ">=2" --exclude ".*-debug"',
  ]

  static override flags = {
    ...copyFlags,
    platform: Flags.string({description: 'Of an index, copy only this platform\'s manifest (repeatable: several make a new index of just those)', helpValue: 'OS/ARCH[/VARIANT]', multiple: true}),
    referrers: Flags.boolean({default: false, description: 'Also copy the referrers (signatures, SBOMs) of every manifest copied, and theirs'}),
    'all-tags': Flags.boolean({default: false, description: 'Copy every tag of the SOURCE repository (or layout) to the DESTINATION repository, or those the filters take; with --concurrency tags at once'}),
    ...tagFilterFlags,
  }

  static override summary = 'Copy an image, index or artifact between registries and OCI layouts'

  async run(): Promise<CopyCommandResult> {
    const {exclude, include, latest, platform, referrers, semver} = this.flags
    if (this.flags['all-tags']) {
      const entry = await entryFromFlags({destination: this.args.destination, exclude, include, latest, platforms: platform, referrers, semver, source: this.args.source})
      const {concurrency} = this.flags
      return this.sync([entry], {blobConcurrency: concurrency, concurrency, dryRun: false})
    }

    const filters = ['include', 'exclude', 'semver', 'latest'].filter((name) => this.flags[name as 'include'] !== undefined)
    if (filters.length > 0) throw new UsageError(`${filters.map((name) => `--${name}`).join(', ')} choose tags for --all-tags; without it, SOURCE names the one image to copy`)
    const source = parseEndpoint(this.args.source)
    const destination = parseEndpoint(this.args.destination)
    const result = await this.copy(source, destination, {platforms: this.flags.platform, referrers: this.flags.referrers})
    return this.report(source, destination, result)
  }

  protected override renderText(result: CopyCommandResult): string {
    return isSync(result) ? syncText(result) : copyText(result)
  }

  protected override renderJson(result: CopyCommandResult): JsonObject {
    return isSync(result) ? syncJson(result) : copyJson(result)
  }

  protected override async afterResult(result: CopyCommandResult): Promise<void> {
    if (isSync(result)) this.failIfAnyFailed(result)
  }
}
