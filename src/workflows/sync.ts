import {join} from 'node:path'

import type {Store} from '../content/store.js'
import type {RegistryRef} from '../reference/registry.js'

import {formatImageRef, isRepositoryPath, isTag} from '../reference/image.js'
import {findLayouts} from '../layout/find.js'
import {OciLayout} from '../layout/store.js'
import {RegshapeError} from '../errors.js'
import {Limiter} from '../util/limit.js'
import {Copier, type CopyProgress, UploadCoordinator} from './copy.js'
import type {SyncDestination, SyncEntry} from './sync-config.js'
import {type Shard, inShard, selectTags} from './sync-filter.js'

/**
 * `regshape sync` and `copy --all-tags`: the copy workflow over the tags of many repositories.
 *
 * 1. Each entry's source becomes repositories (one, the catalog's under a prefix, one layout or
 *    the layouts under a directory), each paired with its destination.
 * 2. Each repository's tags are listed and filtered (sync-filter.ts); this runner keeps its
 *    shard of the (repository, tag) pairs.
 * 3. Each tag, --concurrency at once: its manifest's digest by HEAD on both sides. The same:
 *    skipped, and those two HEADs are all it cost. Not at the source: missing. Otherwise a
 *    Copier copies it (its own blob concurrency), all Copiers sharing one UploadCoordinator, so
 *    a blob shared by several tags goes into a repository once. A failure is that tag's: the
 *    others go on, and the result names every failure.
 *
 * A dry run does 1 to 3 without copying: the plan (copy, skip, missing) is the result.
 */

/** A tag of the referrers tag schema: `<algorithm>-<hex>` of the subject's digest. */
const REFERRERS_TAG = /^(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{64})$/

/** How the workflow reaches registries: the command builds these with each registry's own credentials. */
export interface SyncStores {
  /** The repositories a registry lists (its catalog, every page). */
  catalog(registry: RegistryRef): Promise<string[]>
  /** A repository of a registry. */
  repository(registry: RegistryRef, path: string): Promise<Store>
}

/** What happened to a tag: in a run, copied, skipped, missing or failed; in a dry run, copy, skip, missing or failed. */
export type SyncStatus = 'copied' | 'copy' | 'failed' | 'missing' | 'skip' | 'skipped'

export interface SyncTagResult {
  /** Bytes of blobs streamed for this tag (not those skipped, mounted, or uploaded for another tag). */
  bytes: number
  /** `host/repository:tag` or `oci:PATH:tag`. */
  destination: string
  /** The digest the tag names at the source (and, once copied or skipped, at the destination). */
  digest?: string
  error?: string
  seconds: number
  source: string
  status: SyncStatus
  /** Undefined for a failure of a whole repository (its tags could not be listed). */
  tag?: string
}

export interface SyncResult {
  dryRun: boolean
  /** Repositories (or layouts) read. */
  repositories: number
  seconds: number
  shard?: Shard
  /** One entry per tag of this shard, in the order of the entries, repositories and tags. */
  tags: SyncTagResult[]
}

/** The progress of a whole sync: tags done of the total, bytes streamed. */
export interface SyncProgress {
  /** The total is known: the tags of this shard, after the filters. */
  planned(total: number): void
  /** Blob bytes streamed, for whichever tag. */
  advanced(bytes: number): void
  /** A tag is done, whatever happened to it; or a source's tags could not be listed (no tag: not one of the total). */
  done(result: SyncTagResult): void
  close(): void
}

export interface SyncOptions {
  /** Blob transfers and manifest requests at once, for each tag (copy's --concurrency). */
  blobConcurrency: number
  /** Tags copied at once. */
  concurrency: number
  dryRun: boolean
  progress: SyncProgress
  shard?: Shard
  stores: SyncStores
}

/** A source repository (or layout) paired with where its tags go. */
interface Pair {
  destination: () => Promise<Store>
  destinationDisplay: string
  entry: SyncEntry
  source: () => Promise<Store>
  sourceDisplay: string
}

interface Work {
  pair: Pair
  tag: string
}

/**
 * The counts of a sync: tags by what happened to them, and the repositories (or whole entries: a
 * catalog that could not be read) that failed before any of their tags could be looked at.
 */
export function summarize(tags: readonly SyncTagResult[]): {bytes: number; copied: number; failed: number; missing: number; skipped: number; total: number; unread: number} {
  const ofTags = tags.filter((entry) => entry.tag !== undefined)
  const count = (...statuses: SyncStatus[]) => ofTags.filter((entry) => statuses.includes(entry.status)).length
  return {
    bytes: tags.reduce((sum, entry) => sum + entry.bytes, 0),
    copied: count('copied', 'copy'),
    failed: count('failed'),
    missing: count('missing'),
    skipped: count('skipped', 'skip'),
    total: ofTags.length,
    unread: tags.length - ofTags.length,
  }
}

export class Syncer {
  private failure?: Error
  private readonly firstHeads = new Map<string, Promise<void>>()
  private readonly running = new Set<Copier>()
  private readonly uploads = new UploadCoordinator()

  constructor(
    private readonly entries: readonly SyncEntry[],
    private readonly options: SyncOptions,
  ) {}

  /** Stops the sync (Ctrl-C): copies in flight are stopped before their tag, none starts. */
  abort(error: Error): void {
    this.failure ??= error
    for (const copier of this.running) copier.abort(error)
  }

  async run(): Promise<SyncResult> {
    const started = performance.now()
    const {concurrency, progress, shard} = this.options
    const listing = new Limiter(Math.max(1, concurrency))
    const pairs: Array<{failure?: SyncTagResult; pair?: Pair}> = []
    for (const entry of this.entries) {
      try {
        for (const pair of await this.pairsOf(entry)) pairs.push({pair})
      } catch (error) {
        this.stopIfAborted()
        pairs.push({failure: {bytes: 0, destination: describeDestination(entry.destination), error: messageOf(error), seconds: 0, source: entry.sourceText, status: 'failed'}})
      }
    }

    const listed = await Promise.all(
      pairs.map(({failure, pair}) =>
        listing.run(async (): Promise<{failures: SyncTagResult[]; work: Work[]}> => {
          if (failure || !pair) return {failures: failure ? [failure] : [], work: []}
          this.stopIfAborted()
          let tags: string[]
          try {
            tags = await (await pair.source()).listTags()
          } catch (error) {
            this.stopIfAborted()
            return {failures: [{bytes: 0, destination: pair.destinationDisplay, error: messageOf(error), seconds: 0, source: pair.sourceDisplay, status: 'failed'}], work: []}
          }

          // With --referrers, the referrers tag schema's tags are the referrers copy's to write
          // (the destination's own, listing what it holds); copied as tags too, the two would
          // rewrite one tag with different indexes.
          const listedTags = pair.entry.referrers ? tags.filter((tag) => !REFERRERS_TAG.test(tag)) : tags
          const taken = selectTags(listedTags, pair.entry.filter).filter((tag) => inShard(`${pair.sourceDisplay}\n${pair.destinationDisplay}\n${tag}`, shard))
          const failures: SyncTagResult[] = []
          const work: Work[] = []
          for (const tag of taken) {
            // A layout's ref.name may be anything; only a valid tag names a manifest elsewhere.
            if (isTag(tag)) work.push({pair, tag})
            else failures.push({bytes: 0, destination: pair.destinationDisplay, error: `${JSON.stringify(tag)} is not a valid tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'); --exclude it`, seconds: 0, source: pair.sourceDisplay, status: 'failed', tag})
          }

          return {failures, work}
        }),
      ),
    )
    this.stopIfAborted()
    const work = listed.flatMap((part) => part.work)
    progress.planned(work.length + listed.reduce((sum, part) => sum + part.failures.filter((failure) => failure.tag !== undefined).length, 0))
    for (const part of listed) for (const failure of part.failures) progress.done(failure)
    const images = new Limiter(Math.max(1, concurrency))
    const done = await Promise.all(
      work.map((item) =>
        images.run(async () => {
          this.stopIfAborted()
          const result = await this.syncTag(item)
          this.stopIfAborted()
          progress.done(result)
          return result
        }),
      ),
    )
    // In the order of the entries, repositories and tags, whenever each finished.
    const byWork = new Map(work.map((item, at) => [item, done[at]]))
    const results = listed.flatMap((part) => [...part.failures, ...part.work.map((item) => byWork.get(item)!)])
    progress.close()
    return {
      dryRun: this.options.dryRun,
      repositories: pairs.filter((entry) => entry.pair).length,
      seconds: (performance.now() - started) / 1000,
      ...(shard ? {shard} : {}),
      tags: results,
    }
  }

  private stopIfAborted(): void {
    if (this.failure) throw this.failure
  }

  /** One tag: two HEADs, and a copy when they differ. */
  private async syncTag({pair, tag}: Work): Promise<SyncTagResult> {
    const started = performance.now()
    const base = {destination: `${pair.destinationDisplay}:${tag}`, source: `${pair.sourceDisplay}:${tag}`, tag}
    const seconds = () => (performance.now() - started) / 1000
    const {dryRun} = this.options
    let digest: string | undefined
    try {
      const [source, destination] = await Promise.all([pair.source(), pair.destination()])
      const [atSource, atDestination] = await this.firstAlone(registriesOf(pair.entry), () => Promise.all([source.manifestDigest(tag), destination.manifestDigest(tag)]))
      if (atSource === undefined) return {...base, bytes: 0, seconds: seconds(), status: 'missing'}
      digest = atSource
      const {entry} = pair
      const copier = new Copier(source, destination, {
        concurrency: this.options.blobConcurrency,
        platforms: entry.platforms,
        platformsOfIndexesOnly: true,
        progress: this.blobProgress(),
        referrers: entry.referrers,
        tag,
        uploads: this.uploads,
      })
      // With --platform, what DST's tag names is the platform's manifest (or a new index): one GET
      // of the source's manifest to know its digest.
      const root = entry.platforms.length > 0 ? await copier.root(atSource) : undefined
      digest = root?.descriptor.digest ?? atSource
      // With --referrers, an image already there may have new referrers: the Copier skips what
      // DST has and looks them up.
      if (digest === atDestination && !entry.referrers) return {...base, bytes: 0, digest, seconds: seconds(), status: dryRun ? 'skip' : 'skipped'}
      if (dryRun) return {...base, bytes: 0, digest, seconds: seconds(), status: digest === atDestination ? 'skip' : 'copy'}
      this.stopIfAborted()
      this.running.add(copier)
      try {
        const copied = await copier.run(root ?? atSource)
        const wrote = copied.blobs.copied + copied.blobs.mounted + copied.manifests.copied + copied.referrers > 0 || digest !== atDestination
        return {...base, bytes: copied.bytes, digest, seconds: seconds(), status: wrote ? 'copied' : 'skipped'}
      } finally {
        this.running.delete(copier)
      }
    } catch (error) {
      this.stopIfAborted()
      return {...base, bytes: 0, ...(digest ? {digest} : {}), error: messageOf(error), seconds: seconds(), status: 'failed'}
    }
  }

  /**
   * The HEADs of the first tag between two registries go alone, the others' after them: a
   * registry's first answer is its 401 challenge, and --concurrency HEADs sent at once before it
   * was known each met it (a request more for each). Then every HEAD carries the credentials.
   */
  private firstAlone<R>(registries: string, heads: () => Promise<R>): Promise<R> {
    const first = this.firstHeads.get(registries)
    if (first) return first.then(heads)
    const running = heads()
    this.firstHeads.set(registries, running.then(
      () => undefined,
      () => undefined,
    ))
    return running
  }

  private blobProgress(): CopyProgress {
    const {progress} = this.options
    return {
      advanced: (_descriptor, bytes) => progress.advanced(bytes),
      close() {},
      finished() {},
      started() {},
    }
  }

  /** The repositories (or layouts) an entry's source stands for, each with its destination. */
  private async pairsOf(entry: SyncEntry): Promise<Pair[]> {
    const {source} = entry
    switch (source.kind) {
      case 'repository': {
        const {ref} = source
        const target = entry.destination.kind === 'registry' && entry.destination.path === '' ? {...entry.destination, path: ref.repository} : entry.destination
        return [this.pair(entry, formatImageRef(ref), () => this.options.stores.repository(ref.registry, ref.repository), target)]
      }

      case 'layout': {
        const layout = once(() => OciLayout.open(source.path))
        return [this.pair(entry, `oci:${source.path}`, layout, entry.destination)]
      }

      case 'catalog': {
        const {prefix, registry} = source
        const repositories = (await this.options.stores.catalog(registry)).filter((name) => prefix === '' || name.startsWith(`${prefix}/`)).sort()
        return repositories.map((name) =>
          this.pair(entry, formatImageRef({input: name, registry, repository: name}), () => this.options.stores.repository(registry, name), under(entry.destination, prefix === '' ? name : name.slice(prefix.length + 1))),
        )
      }

      case 'layouts': {
        const found = await findLayouts(source.path)
        return found.map((relative) => {
          const layout = once(() => OciLayout.open(join(source.path, ...relative.split('/'))))
          return this.pair(entry, `oci:${join(source.path, ...relative.split('/'))}`, layout, under(entry.destination, relative))
        })
      }
    }
  }

  private pair(entry: SyncEntry, sourceDisplay: string, source: () => Promise<Store>, destination: SyncDestination): Pair {
    const source_ = once(source)
    if (destination.kind === 'layout') {
      // A layout of its own for each tag: one OciLayout serves one writer at a time (its lock is
      // held per instance), and index.json's lock orders them.
      return {destination: () => OciLayout.destination(destination.path), destinationDisplay: `oci:${destination.path}`, entry, source: source_, sourceDisplay}
    }

    const {path, registry} = destination
    const display = describeDestination(destination)
    return {
      destination: once(async () => {
        if (!isRepositoryPath(path)) throw new RegshapeError(`${display} is not a valid repository name (lowercase components of letters, digits and separators, joined by /)`)
        return this.options.stores.repository(registry, path)
      }),
      destinationDisplay: display,
      entry,
      source: source_,
      sourceDisplay,
    }
  }
}

/** The registries an entry reads and writes (`layout` for a side on disk), as one key. */
function registriesOf(entry: SyncEntry): string {
  const {destination, source} = entry
  const from = source.kind === 'repository' ? source.ref.registry.key : source.kind === 'catalog' ? source.registry.key : 'layout'
  return `${from}\n${destination.kind === 'registry' ? destination.registry.key : 'layout'}`
}

/** Where a repository of a many-repository source goes: under the destination's prefix or directory. */
function under(destination: SyncDestination, relative: string): SyncDestination {
  if (destination.kind === 'layout') return {kind: 'layout', path: join(destination.path, ...relative.split('/'))}
  return {...destination, path: [destination.path, relative].filter((part) => part !== '').join('/')}
}

function describeDestination(destination: SyncDestination): string {
  if (destination.kind === 'layout') return `oci:${destination.path}`
  return formatImageRef({input: destination.path, registry: destination.registry, repository: destination.path})
}

/** A promise made once, on first use (a store opened for the first tag that needs it). */
function once<R>(make: () => Promise<R>): () => Promise<R> {
  let made: Promise<R> | undefined
  return () => (made ??= make())
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replaceAll(/\s*\n\s*/g, ' ')
}
