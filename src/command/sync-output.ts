import type {SyncProgress, SyncResult, SyncTagResult} from '../workflows/sync.js'

import {summarize} from '../workflows/sync.js'
import {terminalSafe} from '../util/text.js'
import type {JsonObject} from './base-command.js'
import type {ProgressMode} from './progress.js'

/**
 * What `regshape sync` (and `copy --all-tags`) shows: on stderr while it runs, one bar of tags
 * done out of the total with the bytes streamed (a terminal), or one line per tag as it is done
 * (`--progress plain`, for CI logs); on stdout at the end, the summary and every failure, or with
 * --dry-run the plan, a line per tag; under --json one object with an entry per tag.
 */

const STATUS_WORDS: Record<SyncTagResult['status'], string> = {
  copied: 'copied',
  copy: 'copy',
  failed: 'failed',
  missing: 'missing',
  skip: 'skip',
  skipped: 'skipped',
}

/** 1536 bytes as `1.5 KiB`: the bar's and the lines' unit (the summary and JSON count bytes). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }

  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`
}

function tagLine(result: SyncTagResult): string {
  const what = `${result.source} -> ${result.destination}`
  const digest = result.digest ? ` ${result.digest}` : ''
  switch (result.status) {
    case 'failed': {
      return `${what}: ${result.error ?? 'failed'}`
    }

    case 'missing': {
      return `${what}: no manifest at the source`
    }

    case 'copied': {
      return `${what}${digest} (${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s)`
    }

    default: {
      return `${what}${digest}`
    }
  }
}

interface Bar {
  increment(step: number, payload?: Record<string, string>): void
  start(total: number, start: number, payload?: Record<string, string>): void
  stop(): void
  update(payload: Record<string, string>): void
}

export async function syncProgress(mode: ProgressMode, options: {json: boolean; stream?: NodeJS.WriteStream}): Promise<SyncProgress> {
  const stream = options.stream ?? process.stderr
  let total = 0
  let done = 0
  let bytes = 0
  let failed = 0
  if (mode === 'auto' && stream.isTTY && !options.json) {
    // A CommonJS package: its exports are the namespace's default under Node and in the bundle alike.
    const loaded = (await import('cli-progress')) as typeof import('cli-progress') & {default?: typeof import('cli-progress')}
    const cliProgress = loaded.default ?? loaded
    const bar = new cliProgress.SingleBar(
      {clearOnComplete: false, format: 'sync [{bar}] {value}/{total} tags | {bytes} | {failed} failed', hideCursor: true, stream},
      cliProgress.Presets.shades_classic,
    ) as Bar
    let started = false
    const payload = () => ({bytes: formatBytes(bytes), failed: String(failed)})
    return {
      advanced(count) {
        bytes += count
        if (started) bar.update(payload())
      },
      close() {
        if (started) bar.stop()
        started = false
      },
      done(result) {
        if (result.status === 'failed') failed++
        if (!started) return
        if (result.tag === undefined) bar.update(payload())
        else bar.increment(1, payload())
      },
      planned(count) {
        bar.start(count, 0, payload())
        started = true
      },
    }
  }

  if (mode !== 'plain') return {advanced() {}, close() {}, done() {}, planned() {}}
  return {
    advanced(count) {
      bytes += count
    },
    close() {},
    done(result) {
      // A source whose tags could not be listed is not one of the tags counted.
      if (result.tag !== undefined) done++
      const counter = result.tag === undefined ? '' : `[${done}/${total}] `
      stream.write(`${terminalSafe(`${counter}${STATUS_WORDS[result.status]} ${tagLine(result)}`)}\n`)
    },
    planned(count) {
      total = count
      stream.write(`sync: ${plural(count, 'tag', 'tags')} to look at\n`)
    },
  }
}

function shardText(result: SyncResult): string {
  return result.shard ? ` (shard ${result.shard.index}/${result.shard.count})` : ''
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`

/** `; 1 repository not read`: sources whose tags could not be listed (each is named below). */
function unreadText(unread: number): string {
  return unread === 0 ? '' : `; ${plural(unread, 'source', 'sources')} not read`
}

/**
 * The end of a sync for people: with --dry-run the plan, a line per tag, then its counts; after a
 * run the counts, then every failure, a line each.
 */
export function syncText(result: SyncResult): string {
  const summary = summarize(result.tags)
  const lines: string[] = []
  if (result.dryRun) {
    for (const entry of result.tags) lines.push(`${STATUS_WORDS[entry.status].padEnd(8)}${tagLine(entry)}`)
    lines.push(
      `Dry run${shardText(result)}, nothing written: ${plural(summary.total, 'tag', 'tags')} in ${plural(result.repositories, 'repository', 'repositories')}; ` +
        `${summary.copied} to copy, ${summary.skipped} to skip, ${summary.missing} missing at the source, ${summary.failed} failed${unreadText(summary.unread)}`,
    )
  } else {
    lines.push(
      `Synced ${plural(summary.total, 'tag', 'tags')} in ${plural(result.repositories, 'repository', 'repositories')}${shardText(result)}: ` +
        `${summary.copied} copied, ${summary.skipped} skipped, ${summary.missing} missing at the source, ${summary.failed} failed${unreadText(summary.unread)}; ` +
        `${summary.bytes} bytes in ${result.seconds.toFixed(1)} s`,
    )
    for (const entry of result.tags) if (entry.status === 'failed') lines.push(`failed ${tagLine(entry)}`)
  }

  // Tags and errors come from registries: escaped, line by line.
  return lines.map((line) => terminalSafe(line)).join('\n')
}

/** The --json object: the counts, and an entry per tag (null where a field does not apply). */
export function syncJson(result: SyncResult): JsonObject {
  const summary = summarize(result.tags)
  return {
    dry_run: result.dryRun,
    shard: result.shard ? `${result.shard.index}/${result.shard.count}` : null,
    repositories: result.repositories,
    summary: {...summary, seconds: Number(result.seconds.toFixed(3))},
    tags: result.tags.map((entry) => ({
      source: entry.source,
      destination: entry.destination,
      tag: entry.tag ?? null,
      status: entry.status,
      digest: entry.digest ?? null,
      bytes: entry.bytes,
      seconds: Number(entry.seconds.toFixed(3)),
      error: entry.error ?? null,
    })),
  }
}
