import {createHash} from 'node:crypto'

import {UsageError} from '../errors.js'

/**
 * Which tags of a repository a sync takes (`--include`, `--exclude`, `--semver`, `--latest`), and
 * which of the work a runner takes (`--shard I/N`). Pure, but for npm's semver package, loaded
 * only when a filter needs it (a chunk of its own in the bundle).
 */

export interface TagFilterSpec {
  exclude?: readonly string[]
  include?: readonly string[]
  /** At most this many tags: the newest by semver, after the other filters. */
  latest?: number
  /** An npm range (`>=1.2 <2`, `^3`, `~1.4`); tags are versions with or without a leading `v`. */
  semver?: string
}

type Semver = typeof import('semver')

export interface TagFilter {
  readonly exclude: readonly RegExp[]
  readonly include: readonly RegExp[]
  readonly latest?: number
  readonly semver?: {range: string; semver: Semver}
  /** semver, when --latest needs it without --semver. */
  readonly versions?: Semver
}

/** A field of a filter that is wrong: which one and why, for the caller to name where it came from. */
export class FilterError extends Error {
  constructor(
    readonly field: 'exclude' | 'include' | 'latest' | 'semver',
    message: string,
  ) {
    super(message)
  }
}

async function loadSemver(): Promise<Semver> {
  // A CommonJS package: its exports are the namespace's default under Node and in the bundle alike.
  const loaded = (await import('semver')) as Semver & {default?: Semver}
  return loaded.default ?? loaded
}

/**
 * The filter a spec describes, every pattern and the range checked now (a FilterError names the
 * field): a mistyped pattern must stop the sync before any request, not match nothing.
 * Patterns are anchored at both ends: `v1` takes `v1`, not `v1.2`.
 */
export async function compileFilter(spec: TagFilterSpec): Promise<TagFilter> {
  const compile = (field: 'exclude' | 'include', pattern: string) => {
    try {
      return new RegExp(`^(?:${pattern})$`)
    } catch (error) {
      throw new FilterError(field, `${JSON.stringify(pattern)} is not a regular expression (${(error as Error).message.replace(/^Invalid regular expression: /, '')})`)
    }
  }

  const include = (spec.include ?? []).map((pattern) => compile('include', pattern))
  const exclude = (spec.exclude ?? []).map((pattern) => compile('exclude', pattern))
  if (spec.latest !== undefined && (!Number.isSafeInteger(spec.latest) || spec.latest < 1)) throw new FilterError('latest', 'must be a whole number of at least 1')
  let semver: TagFilter['semver']
  let versions: Semver | undefined
  if (spec.semver !== undefined || spec.latest !== undefined) versions = await loadSemver()
  if (spec.semver !== undefined) {
    const range = versions!.validRange(spec.semver)
    if (range === null) throw new FilterError('semver', `${JSON.stringify(spec.semver)} is not an npm version range (e.g. ">=1.2 <2", "^3", "~1.4.0")`)
    semver = {range, semver: versions!}
  }

  return {exclude, include, latest: spec.latest, semver, versions}
}

/**
 * The version a tag spells, or undefined: what --semver and --latest read. npm's versions
 * (`1.2.3`, `v1.2.3`, `1.2.3-rc.1`), and the shorter `1.2` and `1` that image tags often are,
 * read as 1.2.0 and 1.0.0 (as skopeo's images-by-semver reads them). `3.19-alpine` is not one.
 */
export function versionOf(tag: string, semver: Semver): string | undefined {
  const full = semver.valid(tag)
  if (full !== null) return full
  const short = /^v?(\d{1,9})(?:\.(\d{1,9}))?$/.exec(tag)
  return short ? `${Number(short[1])}.${Number(short[2] ?? 0)}.0` : undefined
}

/**
 * The tags a filter takes, sorted: a tag is taken when it matches an include (or there is none)
 * and no exclude, satisfies the range (npm's rules: a prerelease only when the range names one
 * of its version), and is among the newest --latest by semver. A tag that is not a version fails
 * --semver and --latest.
 */
export function selectTags(tags: readonly string[], filter: TagFilter): string[] {
  let taken = [...new Set(tags)].filter((tag) => (filter.include.length === 0 || filter.include.some((pattern) => pattern.test(tag))) && !filter.exclude.some((pattern) => pattern.test(tag)))
  const {semver} = filter
  if (semver) taken = taken.filter((tag) => versionOf(tag, semver.semver) !== undefined && semver.semver.satisfies(versionOf(tag, semver.semver)!, semver.range))
  if (filter.latest !== undefined) {
    const versions = filter.versions!
    const ordered = taken
      .map((tag) => ({tag, version: versionOf(tag, versions)}))
      .filter((entry): entry is {tag: string; version: string} => entry.version !== undefined)
      // Newest first; one version spelt twice (`1.2.3`, `v1.2.3`) in a stable order.
      .sort((a, b) => versions.rcompare(a.version, b.version) || compareText(a.tag, b.tag))
    taken = ordered.slice(0, filter.latest).map((entry) => entry.tag)
  }

  return taken.sort(compareText)
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** A runner's share of the work: `index` of `count` (0-based, as Kubernetes' JOB_COMPLETION_INDEX). */
export interface Shard {
  count: number
  index: number
}

/** `I/N`, 0 ≤ I < N. */
export function parseShard(text: string, flag = '--shard'): Shard {
  const match = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim())
  if (!match) throw new UsageError(`${flag} expects I/N, this runner's share of N (I from 0 to N-1), e.g. 0/3`)
  const index = Number(match[1])
  const count = Number(match[2])
  if (count < 1) throw new UsageError(`${flag} ${text}: N must be at least 1`)
  if (index >= count) throw new UsageError(`${flag} ${text}: I counts from 0, so it must be below N (0 to ${count - 1})`)
  return {count, index}
}

/**
 * Whether a piece of work (a source repository and tag, going to a destination) is this shard's.
 * By a hash of the names, not by position in a list: runners that list tags at slightly
 * different times (a tag pushed in between) still agree on every other tag.
 */
export function inShard(key: string, shard: Shard | undefined): boolean {
  if (!shard || shard.count === 1) return true
  return createHash('sha256').update(key).digest().readUInt32BE(0) % shard.count === shard.index
}
