import {Args, Flags} from '@oclif/core'

import type {JsonObject} from '../command/base-command.js'
import {CopyCommand, entryFromFlags, tagFilterFlags, wholeNumberFlag} from '../command/copy-command.js'
import {PROGRESS_MODES} from '../command/progress.js'
import {syncJson, syncText} from '../command/sync-output.js'
import {UsageError} from '../errors.js'
import {loadSyncFile} from '../workflows/sync-config.js'
import {type Shard, parseShard} from '../workflows/sync-filter.js'
import type {SyncResult} from '../workflows/sync.js'

export default class Sync extends CopyCommand<typeof Sync, SyncResult> {
  static override args = {
    source: Args.string({description: 'A repository (host/repository), the repositories under a prefix (host/prefix/* or host/*, from the catalog), a layout (oci:DIR) or the layouts under a directory (oci:DIR/*)'}),
    destination: Args.string({description: 'A repository, or for many: the prefix that replaces the source\'s (host/prefix, or host alone) or the directory of layouts (oci:DIR)'}),
  }

  static override description = `Mirrors the tags of repositories: every tag, or those the filters take, from a registry or OCI layouts to a registry or OCI layouts. A tag whose manifest digest the destination already has under that tag costs two HEADs (one each side) and nothing else, so a sync can be run again and again; --dry-run prints that plan (copy, skip, missing at the source) and writes nothing.

Many repositories at once come from a file (-f sync.yaml): a "sync:" list of entries, each with source, destination, include, exclude, semver, latest, platforms and referrers, as the flags name them. --concurrency tags are copied at once, each with --blob-concurrency transfers; a tag that fails does not stop the others, the summary names each failure, and the exit code is 1 if one did. --shard I/N takes runner I's share of N (by repository and tag, the same on every runner), so N runners split one sync; in a Kubernetes Indexed Job, --shards N takes I from JOB_COMPLETION_INDEX.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app mirror.example.com/team/app --semver ">=1.2 <2"',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app mirror.example.com/team/app --include "v\\d+\\.\\d+\\.\\d+" --exclude ".*-rc.*" --latest 5 --dry-run',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/* oci:/media/usb/mirror',
    '<%= config.bin %> <%= command.id %> oci:/media/usb/mirror/* airgap.example.com/team',
    '<%= config.bin %> <%= command.id %> -f sync.yaml --shard 0/3 --progress plain',
  ]

  static override flags = {
    ...tagFilterFlags,
    file: Flags.string({char: 'f', description: 'The sync file: a "sync:" list of entries (YAML or JSON), instead of SOURCE and DESTINATION and the filter flags', helpValue: 'FILE'}),
    platform: Flags.string({description: 'Of an index, copy only this platform\'s manifest (repeatable: several make a new index of just those); an image manifest is copied as it is', helpValue: 'OS/ARCH[/VARIANT]', multiple: true}),
    referrers: Flags.boolean({default: false, description: 'Also copy the referrers (signatures, SBOMs) of every tag, and theirs'}),
    'dry-run': Flags.boolean({default: false, description: 'Print the plan (copy, skip, missing at the source) after the HEADs, and write nothing'}),
    shard: Flags.string({description: 'Take this runner\'s share of the work: I of N runners (I from 0 to N-1)', helpValue: 'I/N'}),
    shards: wholeNumberFlag('--shards', 'The number of runners, when JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) gives this one\'s index'),
    concurrency: Flags.integer({default: 4, description: 'Tags copied at once', helpValue: 'N', max: 64, min: 1}),
    'blob-concurrency': Flags.integer({default: 4, description: 'Blobs transferred and manifest requests sent at once for each tag', helpValue: 'N', max: 64, min: 1}),
    progress: Flags.string({default: 'auto', description: 'Progress on stderr: a bar of the tags done on a terminal (auto), one line per tag (plain), or none', options: [...PROGRESS_MODES]}),
  }

  static override summary = 'Mirror the tags of repositories between registries and OCI layouts'

  async run(): Promise<SyncResult> {
    const {file, 'dry-run': dryRun} = this.flags
    const {destination, source} = this.args
    let entries
    if (file !== undefined) {
      if (source !== undefined || destination !== undefined) throw new UsageError('give SOURCE and DESTINATION, or -f FILE, not both')
      const perEntry = ['include', 'exclude', 'semver', 'latest', 'platform', 'referrers'].filter((name) => this.argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`)))
      if (perEntry.length > 0) throw new UsageError(`${perEntry.map((name) => `--${name}`).join(', ')}: with -f, filters belong to the file's entries (include, exclude, semver, latest, platforms, referrers)`)
      entries = await loadSyncFile(file)
    } else {
      if (source === undefined || destination === undefined) throw new UsageError('name what to sync: regshape sync SOURCE DESTINATION (or -f sync.yaml)')
      const {exclude, include, latest, platform, referrers, semver} = this.flags
      entries = [await entryFromFlags({destination, exclude, include, latest, platforms: platform, referrers, semver, source})]
    }

    return this.sync(entries, {blobConcurrency: this.flags['blob-concurrency'], concurrency: this.flags.concurrency, dryRun, shard: this.shard()})
  }

  /** --shard I/N; or, in a Kubernetes Indexed Job, JOB_COMPLETION_INDEX of --shards N. */
  private shard(): Shard | undefined {
    const {shard, shards} = this.flags
    const index = process.env.JOB_COMPLETION_INDEX
    if (shard !== undefined) {
      if (shards !== undefined) throw new UsageError('give --shard I/N, or --shards N with JOB_COMPLETION_INDEX, not both')
      return parseShard(shard)
    }

    if (index === undefined || index === '') {
      if (shards !== undefined) throw new UsageError('--shards N takes this runner\'s index from JOB_COMPLETION_INDEX, which is not set; give --shard I/N')
      return undefined
    }

    if (shards === undefined) {
      throw new UsageError(`JOB_COMPLETION_INDEX is set (${index}: a Kubernetes Indexed Job), so this runner takes a share of the sync: give the Job's completions with --shards N (or the share with --shard I/N)`)
    }

    return parseShard(`${index}/${shards}`, 'JOB_COMPLETION_INDEX/--shards')
  }

  protected override renderText(result: SyncResult): string {
    return syncText(result)
  }

  protected override renderJson(result: SyncResult): JsonObject {
    return syncJson(result)
  }

  protected override async afterResult(result: SyncResult): Promise<void> {
    this.failIfAnyFailed(result)
  }
}
