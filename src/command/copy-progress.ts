import type {Descriptor} from '../content/descriptor.js'
import type {CopyProgress} from '../workflows/copy.js'

import type {ProgressMode} from './progress.js'

/**
 * The progress of a copy on stderr (registry.md §1): on a terminal (auto, not --json), a bar per
 * blob in flight and a total, drawn by cli-progress's MultiBar (loaded only then); `plain`, one
 * line per blob when it is done (CI logs); `none`, nothing.
 */

interface Bar {
  increment(step: number): void
  update(value: number, payload?: Record<string, string>): void
}

interface Multi {
  create(total: number, start: number, payload?: Record<string, string>): Bar
  remove(bar: Bar): boolean
  stop(): void
  /** Redraws every bar now (not at the next tick). */
  update(): void
}

const short = (digest: string) => digest.slice(0, 19)

export async function copyProgress(mode: ProgressMode, options: {json: boolean; stream?: NodeJS.WriteStream}): Promise<CopyProgress> {
  const stream = options.stream ?? process.stderr
  if (mode === 'auto' && stream.isTTY && !options.json) return barProgress(stream)
  if (mode !== 'plain') return {advanced() {}, close() {}, finished() {}, started() {}}
  const started = new Map<string, number>()
  return {
    advanced() {},
    close() {},
    finished(descriptor, outcome) {
      const seconds = (performance.now() - (started.get(descriptor.digest) ?? performance.now())) / 1000
      if (outcome === 'copied') stream.write(`${short(descriptor.digest)}: copied ${descriptor.size} bytes in ${seconds.toFixed(1)} s\n`)
      else if (outcome !== 'failed') stream.write(`${short(descriptor.digest)}: ${outcome} (${descriptor.size} bytes)\n`)
    },
    started(descriptor) {
      started.set(descriptor.digest, performance.now())
    },
  }
}

async function barProgress(stream: NodeJS.WriteStream): Promise<CopyProgress> {
  // A CommonJS package: its exports are the namespace's default under Node and in the bundle alike.
  const loaded = (await import('cli-progress')) as typeof import('cli-progress') & {default?: typeof import('cli-progress')}
  const cliProgress = loaded.default ?? loaded
  const multi = new cliProgress.MultiBar(
    {
      clearOnComplete: false,
      format: '{name} [{bar}] {percentage}% | {value}/{total} bytes',
      hideCursor: true,
      stream,
    },
    cliProgress.Presets.shades_classic,
  ) as unknown as Multi
  let expected = 0
  let done = 0
  const total = multi.create(0, 0, {name: 'total              '})
  const bars = new Map<string, Bar>()
  const totalBar = total as Bar & {setTotal(total: number): void}
  return {
    advanced(descriptor: Descriptor, bytes: number) {
      bars.get(descriptor.digest)?.increment(bytes)
      done += bytes
      total.update(done)
    },
    close() {
      multi.stop()
    },
    finished(descriptor, outcome) {
      const bar = bars.get(descriptor.digest)
      if (bar) {
        // Drawn once at its end before it goes, so a fast blob is seen whole, not at its last tick.
        multi.update()
        multi.remove(bar)
        bars.delete(descriptor.digest)
      }

      if (outcome !== 'copied' && outcome !== 'failed') {
        expected += descriptor.size
        done += descriptor.size
        totalBar.setTotal(expected)
        total.update(done)
      }
    },
    started(descriptor) {
      expected += descriptor.size
      totalBar.setTotal(expected)
      bars.set(descriptor.digest, multi.create(descriptor.size, 0, {name: short(descriptor.digest)}))
    },
  }
}
