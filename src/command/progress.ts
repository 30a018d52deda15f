import {Transform, type TransformCallback} from 'node:stream'

/**
 * Progress of a blob transfer on stderr (registry.md §1): `auto` draws a bar only when stderr is
 * a terminal and the output is not JSON, `plain` prints one line per finished blob (for CI logs),
 * `none` prints nothing. The bar library is loaded only when a bar is drawn.
 */

export type ProgressMode = 'auto' | 'none' | 'plain'

export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'plain', 'none']

export interface TransferProgress {
  /** Counts the bytes that pass, unchanged. */
  readonly counter: Transform
  /** Counts bytes that went by another way (a sink). */
  advance(bytes: number): void
  /** The transfer is over: the bar is closed, the plain line printed (on success). */
  finish(succeeded: boolean): void
}

interface Bar {
  increment(step: number): void
  setTotal(total: number): void
  start(total: number, start: number, payload?: Record<string, string>): void
  stop(): void
}

export async function transferProgress(
  mode: ProgressMode,
  label: string,
  total: number | undefined,
  options: {json: boolean; start?: number; stream?: NodeJS.WriteStream},
): Promise<TransferProgress> {
  const stream = options.stream ?? process.stderr
  const started = performance.now()
  // A download that goes on from a .part starts with what it holds.
  let bytes = options.start ?? 0
  let bar: Bar | undefined
  if (mode === 'auto' && stream.isTTY && !options.json) {
    // A CommonJS package: its exports are the namespace's default under Node and in the bundle alike.
    const loaded = (await import('cli-progress')) as typeof import('cli-progress') & {default?: typeof import('cli-progress')}
    const cliProgress = loaded.default ?? loaded
    bar = new cliProgress.SingleBar(
      {
        clearOnComplete: false,
        format: `${label} [{bar}] {percentage}% | {value}/{total} bytes | {eta_formatted}`,
        hideCursor: true,
        stream,
      },
      cliProgress.Presets.shades_classic,
    ) as Bar
    bar.start(total ?? 0, bytes)
  }

  const advance = (length: number) => {
    bytes += length
    bar?.increment(length)
  }

  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      advance(chunk.length)
      callback(null, chunk)
    },
  })
  return {
    advance,
    counter,
    finish(succeeded) {
      if (bar) {
        if (succeeded && total === undefined) bar.setTotal(bytes)
        bar.stop()
      }

      if (mode === 'plain' && succeeded) {
        const seconds = (performance.now() - started) / 1000
        stream.write(`${label}: ${bytes} bytes in ${seconds.toFixed(1)} s\n`)
      }
    },
  }
}
