import {randomBytes} from 'node:crypto'
import {rmSync} from 'node:fs'
import {type FileHandle, open, rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {Writable} from 'node:stream'

import {syncDirectory} from '../util/files.js'

/**
 * Files of a layout written whole or not at all: a temporary beside the target, flushed to disk,
 * renamed over it, then the directory flushed, so a reader (skopeo, another regshape) sees the
 * old file or the new one, never half of either, and a crash leaves one of the two whole (not a
 * new name over bytes that never reached the disk).
 */

/** A temporary name beside `target`, which no reader of the layout takes for content. */
export function temporaryBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

export async function writeFileAtomic(target: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const temporary = temporaryBeside(target)
  const stopWatching = removeOnSignal(temporary)
  try {
    const handle = await open(temporary, 'wx', mode)
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }

    await rename(temporary, target)
    await syncDirectory(dirname(target))
  } catch (error) {
    await rm(temporary, {force: true})
    throw error
  } finally {
    stopWatching()
  }
}

/**
 * A stream into an open file that flushes it to disk before it finishes, so that a blob is whole
 * on disk before a rename names it (fs.createWriteStream's `flush` needs Node 20.10). The caller
 * closes the handle.
 */
export function flushingWriter(handle: FileHandle, flush = true): Writable {
  return new Writable({
    final(callback) {
      if (flush) handle.sync().then(() => callback(), callback)
      else callback()
    },
    write(chunk: Buffer, _encoding, callback) {
      writeAll(handle, chunk).then(() => callback(), callback)
    },
  })
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten
}

const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const

/**
 * The temporaries being written now. One listener per signal serves them all: a listener per
 * file would pass Node's limit of 10 per event with `copy --concurrency` above 10 into a layout,
 * and Node would print a MaxListenersExceededWarning for each signal.
 */
const watched = new Set<string>()

function onSignal(signal: NodeJS.Signals): void {
  for (const path of watched) rmSync(path, {force: true})
  watched.clear()
  stopListening()
  process.kill(process.pid, signal)
}

function stopListening(): void {
  for (const signal of SIGNALS) process.removeListener(signal, onSignal)
}

/**
 * Ctrl-C or kill while `path` is being written: the temporary goes, then the signal takes its
 * usual effect (exit 130 on Ctrl-C). Returns the function that stops watching.
 */
export function removeOnSignal(path: string): () => void {
  if (watched.size === 0) for (const signal of SIGNALS) process.on(signal, onSignal)
  watched.add(path)
  return () => {
    if (watched.delete(path) && watched.size === 0) stopListening()
  }
}
