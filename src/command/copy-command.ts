import {type Command, Flags} from '@oclif/core'

import type {ImageRef} from '../reference/image.js'
import type {LayoutRef} from '../reference/layout.js'
import type {Store} from '../content/store.js'

import {type Platform, parsePlatform} from '../content/descriptor.js'
import {formatImageRef, parseImageRef} from '../reference/image.js'
import {formatLayoutRef, isLayoutRef, parseLayoutRef} from '../reference/layout.js'
import {OciLayout, refNameAsTag} from '../layout/store.js'
import {ExitCode, RegshapeError, UsageError} from '../errors.js'
import type {RegistryRef} from '../reference/registry.js'
import {Copier, type CopyResult} from '../workflows/copy.js'
import {type SyncEntry, type SyncEntrySpec, parseSyncEntry} from '../workflows/sync-config.js'
import type {Shard} from '../workflows/sync-filter.js'
import {type SyncResult, type SyncStores, Syncer} from '../workflows/sync.js'
import {RegistryConnection} from '../registry/connection.js'
import {Registry} from '../registry/registry.js'
import {Repository} from '../registry/repository.js'
import {copyProgress} from './copy-progress.js'
import {asUsage} from './flags.js'
import type {JsonObject} from './base-command.js'
import {PROGRESS_MODES, type ProgressMode} from './progress.js'
import {RegistryCommand} from './registry-command.js'
import {syncProgress} from './sync-output.js'
import {terminalSafe} from '../util/text.js'

/** Each side of a copy: a registry reference or `oci:PATH[:TAG]`. */
export type CopyEndpoint = {kind: 'layout'; ref: LayoutRef} | {kind: 'registry'; ref: ImageRef}

/** One side of a copy as given on the command line; a bad one is a usage error (exit 2), as for every command. */
export function parseEndpoint(input: string): CopyEndpoint {
  return asUsage(() => (isLayoutRef(input) ? {kind: 'layout', ref: parseLayoutRef(input)} : {kind: 'registry', ref: parseImageRef(input)}))
}

export function formatEndpoint(endpoint: CopyEndpoint): string {
  return endpoint.kind === 'layout' ? formatLayoutRef(endpoint.ref) : formatImageRef(endpoint.ref)
}

export const copyFlags = {
  concurrency: Flags.integer({default: 4, description: 'Blobs transferred and manifest requests sent at once', helpValue: 'N', max: 64, min: 1}),
  progress: Flags.string({default: 'auto', description: 'Progress on stderr: bars on a terminal (auto), one line per blob (plain), or none', options: [...PROGRESS_MODES]}),
}

/** The tag filters of `sync` and `copy --all-tags`, with the names the file's entries have too. */
export const tagFilterFlags = {
  include: Flags.string({description: 'Take the tags this regular expression matches, whole (repeatable; with none, every tag)', helpValue: 'REGEX', multiple: true}),
  exclude: Flags.string({description: 'Leave out the tags this regular expression matches, whole (repeatable)', helpValue: 'REGEX', multiple: true}),
  semver: Flags.string({description: 'Take only the tags that are versions within this npm range (">=1.2 <2", "^3"; a tag may start with v)', helpValue: 'RANGE'}),
  latest: wholeNumberFlag('--latest', 'Of the tags taken, only the newest N by semver'),
}

/** A whole number of at least 1 whose error names the flag (oclif's integer flag does not). */
export function wholeNumberFlag(name: string, description: string) {
  return Flags.custom<number>({
    description,
    helpValue: 'N',
    async parse(input) {
      if (!/^\d{1,9}$/.test(input) || Number(input) < 1) throw new Error(`${name} expects a whole number of at least 1`)
      return Number(input)
    },
  })()
}

/** Which flag a field of a sync entry came from, for a usage error. */
const FIELD_FLAGS: Record<string, string> = {destination: 'DESTINATION', exclude: '--exclude', include: '--include', latest: '--latest', platforms: '--platform', semver: '--semver', source: 'SOURCE'}

/** One sync entry from the command line; a bad part is a usage error naming its flag. */
export async function entryFromFlags(spec: SyncEntrySpec): Promise<SyncEntry> {
  return parseSyncEntry(spec, (field, problem) => new UsageError(field === 'source' || field === 'destination' ? problem : `${FIELD_FLAGS[field] ?? field}: ${problem}`))
}

/** A copy's summary, as --json prints it, except seconds: unrounded here (the text shows tenths, the JSON milliseconds). */
export interface CopyReport {
  source: string
  destination: string
  digest: string
  media_type: string
  size: number
  tag: null | string
  manifests: CopyResult['manifests']
  referrers: number
  blobs: CopyResult['blobs']
  bytes: number
  seconds: number
}

/** The summary line of a copy. */
export function copyText(report: CopyReport): string {
  const {blobs, manifests} = report
  return (
    `Copied ${report.source} -> ${report.destination}: ${report.digest}; ` +
    `manifests ${manifests.copied} copied, ${manifests.skipped} skipped; ` +
    `blobs ${blobs.copied} copied, ${blobs.skipped} skipped, ${blobs.mounted} mounted; ` +
    `${report.bytes} bytes in ${report.seconds.toFixed(1)} s`
  )
}

/** The JSON object of a copy: the summary, seconds to the millisecond. */
export function copyJson(report: CopyReport): JsonObject {
  return {...report, seconds: Number(report.seconds.toFixed(3))}
}

export interface CopyRun {
  force?: boolean
  platforms?: string[]
  referrers?: boolean
}

/**
 * The base of `copy` and `layout push` (which is copy from `oci:DIR:TAG`): builds each side's
 * store, each registry with the credentials the chain resolves for it alone, runs the Copier, and
 * sums it up (copyText, copyJson). Ctrl-C stops the copy before any tag is pushed and exits 130.
 */
export abstract class CopyCommand<T extends typeof Command, R = CopyReport> extends RegistryCommand<T, R> {
  protected async copy(source: CopyEndpoint, destination: CopyEndpoint, run: CopyRun): Promise<CopyResult> {
    const flags = this.flags as {concurrency: number; password?: string; progress: string; username?: string}
    if ((flags.username !== undefined || flags.password !== undefined) && source.kind === 'registry' && destination.kind === 'registry') {
      if (source.ref.registry.key !== destination.ref.registry.key) {
        throw new UsageError(`-u/--username and -p/--password cannot be used when ${source.ref.registry.host} and ${destination.ref.registry.host} are different registries: one password would reach both; store each registry's credentials (regshape auth login) instead`)
      }
    }

    let platforms: Platform[]
    try {
      platforms = (run.platforms ?? []).map((text) => parsePlatform(text))
    } catch (error) {
      throw new UsageError((error as Error).message)
    }

    this.target = {reference: formatEndpoint(destination), registry: destination.kind === 'registry' ? destination.ref.registry.host : formatEndpoint(destination)}
    let sourceStore: Store
    let reference: string
    let sourceTag: (() => string | undefined) | undefined
    if (source.kind === 'layout') {
      const layout = await OciLayout.open(source.ref.path)
      sourceStore = layout
      // Without a tag or digest, the layout's only entry (skopeo's rule); its ref.name becomes
      // DST's tag when DST names none, and is checked then (a copy that names DST's tag never uses it).
      const {digest, path, tag} = source.ref
      const entry = digest === undefined && tag === undefined ? await layout.resolve() : undefined
      reference = digest ?? tag ?? (entry as {digest: string}).digest
      sourceTag = () => tag ?? (entry && refNameAsTag(entry, path))
    } else {
      const {ref} = source
      if (ref.tag === undefined && ref.digest === undefined) throw new UsageError(`the source ${formatImageRef(ref)} names no tag or digest`)
      sourceStore = await this.repository(ref)
      reference = ref.digest ?? (ref.tag as string)
      sourceTag = () => ref.tag
    }

    const destinationStore = destination.kind === 'layout' ? await OciLayout.destination(destination.ref.path) : await this.repository(destination.ref)
    this.target = {reference: formatEndpoint(destination), registry: destination.kind === 'registry' ? destination.ref.registry.host : formatEndpoint(destination)}
    const {digest} = destination.ref
    const tag = digest === undefined ? (destination.ref.tag ?? sourceTag()) : undefined
    const progress = await copyProgress(flags.progress as ProgressMode, {json: this.jsonMode})
    const copier = new Copier(sourceStore, destinationStore, {
      concurrency: flags.concurrency,
      digest,
      force: run.force,
      platforms,
      progress,
      planned: ({manifests}) => this.warnOfRateLimit(sourceStore, manifests),
      referrers: run.referrers ?? false,
      tag,
    })
    const onSignal = () => {
      copier.abort(new RegshapeError(`copy ${formatEndpoint(source)} -> ${formatEndpoint(destination)}: interrupted; the destination's tag was not changed`, {exitCode: ExitCode.Interrupted}))
    }

    process.once('SIGINT', onSignal)
    try {
      return await copier.run(reference)
    } finally {
      process.removeListener('SIGINT', onSignal)
      progress.close()
    }
  }

  /**
   * A sync of `entries` (the sync command's, or copy --all-tags'): each registry reached with the
   * credentials the chain resolves for it alone, one connection per registry, progress on stderr.
   * Ctrl-C stops it before the tags of the copies in flight are pushed, and exits 130.
   */
  protected async sync(entries: SyncEntry[], run: {blobConcurrency: number; concurrency: number; dryRun: boolean; shard?: Shard}): Promise<SyncResult> {
    const flags = this.flags as {password?: string; progress: string; username?: string}
    const registries = new Map<string, RegistryRef>()
    for (const {destination, source} of entries) {
      if (source.kind === 'repository') registries.set(source.ref.registry.key, source.ref.registry)
      if (source.kind === 'catalog') registries.set(source.registry.key, source.registry)
      if (destination.kind === 'registry') registries.set(destination.registry.key, destination.registry)
    }

    if ((flags.username !== undefined || flags.password !== undefined) && registries.size > 1) {
      throw new UsageError(`-u/--username and -p/--password cannot be used when the sync reaches ${registries.size} registries (${[...registries.values()].map((ref) => ref.host).join(', ')}): one password would reach them all; store each registry's credentials (regshape auth login) instead`)
    }

    const destination = entries[0]?.destination
    if (destination) this.target = {registry: destination.kind === 'registry' ? destination.registry.host : `oci:${destination.path}`}
    const connections = new Map<string, Promise<RegistryConnection>>()
    const connect = (registry: RegistryRef) => {
      const key = `${registry.scheme ?? ''}${registry.endpoint}`
      let connection = connections.get(key)
      if (!connection) {
        connection = this.connection(registry)
        connections.set(key, connection)
      }

      return connection
    }

    const stores: SyncStores = {
      catalog: async (registry) => new Registry(await connect(registry)).catalog(),
      repository: async (registry, path) => new Repository(await connect(registry), path),
    }
    const progress = await syncProgress(flags.progress as ProgressMode, {json: this.jsonMode})
    const syncer = new Syncer(entries, {...run, progress, stores})
    const onSignal = () => {
      syncer.abort(new RegshapeError('sync: interrupted; the tags of the copies in flight were not changed', {exitCode: ExitCode.Interrupted}))
    }

    process.once('SIGINT', onSignal)
    try {
      return await syncer.run()
    } finally {
      process.removeListener('SIGINT', onSignal)
      progress.close()
    }
  }

  /** After a sync's result is printed: exit 1 when a tag failed (the result names each). */
  protected failIfAnyFailed(result: SyncResult): void {
    if (result.tags.some((entry) => entry.status === 'failed')) this.exitWith(ExitCode.Failure)
  }

  /**
   * A source that announced fewer pulls left than the copy still has to make (Docker Hub's
   * RateLimit-Remaining, on the answer to the first manifest) is named on stderr before the copy
   * goes on and meets its 429s.
   */
  private warnOfRateLimit(source: Store, manifests: number): void {
    const limit = source instanceof Repository ? source.lastRateLimit : undefined
    if (limit?.remaining === undefined || limit.remaining >= manifests) return
    const window = limit.windowSeconds === undefined ? '' : ` (window ${limit.windowSeconds} s)`
    process.stderr.write(
      `${terminalSafe(`Warning: ${source.display} has ${limit.remaining} pulls left${limit.limit === undefined ? '' : ` of ${limit.limit}`}${window}, and this copy reads ${manifests} more manifests from it; the rest may be refused with 429 until the window resets`)}\n`,
    )
  }

  /** A copy's summary: the destination as the copy tagged it. */
  protected report(source: CopyEndpoint, destination: CopyEndpoint, result: CopyResult): CopyReport {
    const to = destination.kind === 'layout' ? formatLayoutRef({...destination.ref, tag: destination.ref.tag ?? result.tag}) : formatImageRef({...destination.ref, tag: destination.ref.tag ?? (destination.ref.digest ? undefined : result.tag)})
    return {
      source: formatEndpoint(source),
      destination: to,
      digest: result.digest,
      media_type: result.mediaType,
      size: result.size,
      tag: result.tag ?? null,
      manifests: result.manifests,
      referrers: result.referrers,
      blobs: result.blobs,
      bytes: result.bytes,
      seconds: result.seconds,
    }
  }
}
