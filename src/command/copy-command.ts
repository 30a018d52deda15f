import {type Command, Flags} from '@oclif/core'

import type {ImageRef} from '../reference/image.js'
import type {LayoutRef} from '../reference/layout.js'
import type {Store} from '../content/store.js'

import {type Platform, parsePlatform} from '../content/descriptor.js'
import {formatImageRef, parseImageRef} from '../reference/image.js'
import {formatLayoutRef, isLayoutRef, parseLayoutRef} from '../reference/layout.js'
import {OciLayout, refNameAsTag} from '../layout/store.js'
import {ExitCode, RegshapeError, UsageError} from '../errors.js'
import {Copier, type CopyResult} from '../workflows/copy.js'
import {copyProgress} from './copy-progress.js'
import {asUsage} from './flags.js'
import type {JsonObject} from './base-command.js'
import {PROGRESS_MODES, type ProgressMode} from './progress.js'
import {RegistryCommand} from './registry-command.js'
import {Repository} from '../registry/repository.js'
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
