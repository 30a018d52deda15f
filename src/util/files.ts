import {type BigIntStats, closeSync, constants as fsConstants, fstatSync, openSync, readSync, type Stats, statSync} from 'node:fs'
import {type FileHandle, mkdir, open, stat} from 'node:fs/promises'
import {dirname} from 'node:path'

/**
 * Files read and written with care.
 *
 * Reading a file that someone else may have put there (config.json, a layout's index.json,
 * oci-layout or staging file) without trusting what it is: only a regular file is read, never more
 * than a limit, and nothing can make the read wait. A FIFO would block the open (and a thread of
 * libuv's pool) until a writer came; a link to /dev/zero would be read until memory runs out.
 */

/** A path that is not a regular file (after symbolic links): `kind` says what it is, for a message. */
export class NotRegularFileError extends Error {
  constructor(
    readonly path: string,
    /** 'a directory', 'a FIFO', 'a character device', 'a block device', 'a socket', or 'not a regular file'. */
    readonly kind: string,
  ) {
    super(`${path} is ${kind}, not a regular file`)
    this.name = 'NotRegularFileError'
  }
}

/** A file larger than the limit its reader set (or one that grew past it while being read). */
export class FileTooLargeError extends Error {
  constructor(
    readonly path: string,
    readonly limit: number,
  ) {
    super(`${path} is larger than ${limit} bytes`)
    this.name = 'FileTooLargeError'
  }
}

/** What `info` describes when it is not a regular file, in words; undefined for a regular file. */
export function irregularKind(info: BigIntStats | Stats): string | undefined {
  if (info.isFile()) return undefined
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a FIFO'
  if (info.isCharacterDevice()) return 'a character device'
  if (info.isBlockDevice()) return 'a block device'
  if (info.isSocket()) return 'a socket'
  return 'not a regular file'
}

/**
 * The whole of a regular file, at most `maxBytes`. Throws NotRegularFileError or
 * FileTooLargeError, or the file system's own error (ENOENT, EACCES...) as it came.
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<{bytes: Buffer; info: BigIntStats}> {
  // Looked at before it is opened: opening a device can block or have effects (a tape rewinds).
  const kind = irregularKind(await stat(path))
  if (kind) throw new NotRegularFileError(path, kind)
  // O_NONBLOCK: a FIFO swapped in since the stat must not make the open wait for a writer.
  const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY)
  try {
    const info = await handle.stat({bigint: true})
    const opened = irregularKind(info)
    if (opened) throw new NotRegularFileError(path, opened)
    return {bytes: await readCapped(handle, path, maxBytes), info}
  } finally {
    await handle.close()
  }
}

/** Reads at most `maxBytes`, whatever the file claims its size is (it may be growing). */
async function readCapped(handle: FileHandle, path: string, maxBytes: number): Promise<Buffer> {
  const {size} = await handle.stat()
  if (size > maxBytes) throw new FileTooLargeError(path, maxBytes)
  const chunks: Buffer[] = []
  let length = 0
  for (;;) {
    const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length))
    const {bytesRead} = await handle.read(chunk, 0, chunk.length, null)
    if (bytesRead === 0) break
    chunks.push(chunk.subarray(0, bytesRead))
    length += bytesRead
    if (length > maxBytes) throw new FileTooLargeError(path, maxBytes)
  }

  return Buffer.concat(chunks, length)
}

/**
 * readRegularFile, synchronously: for a read-modify-write that must run in one stretch, with no
 * turn of the event loop between its steps (config.json's save, see docker-config.ts).
 */
export function readRegularFileSync(path: string, maxBytes: number): {bytes: Buffer; info: BigIntStats} {
  const kind = irregularKind(statSync(path))
  if (kind) throw new NotRegularFileError(path, kind)
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY)
  try {
    const info = fstatSync(fd, {bigint: true})
    const opened = irregularKind(info)
    if (opened) throw new NotRegularFileError(path, opened)
    if (info.size > maxBytes) throw new FileTooLargeError(path, maxBytes)
    const chunks: Buffer[] = []
    let length = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - length))
      const bytesRead = readSync(fd, chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      length += bytesRead
      if (length > maxBytes) throw new FileTooLargeError(path, maxBytes)
    }

    return {bytes: Buffer.concat(chunks, length), info}
  } finally {
    closeSync(fd)
  }
}

/**
 * Flushes a directory's entries to disk: after a rename into it (or a file or directory made in
 * it), so that a crash cannot lose the new name, or, for a file renamed over another, keep the old
 * one under a name whose content was already replaced. Nothing is done where a directory cannot
 * be opened (Windows, no read permission) or its file system cannot flush one (EINVAL).
 */
export async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return
  let handle: FileHandle
  try {
    handle = await open(directory, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
  } catch (error) {
    // A directory one may write in but not read (mode -wx): the rename is done, it cannot be flushed.
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM') return
    throw error
  }

  try {
    await handle.sync()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw error
  } finally {
    await handle.close()
  }
}

/** mkdir -p, then a flush of each directory that gained an entry, so the new directories survive a crash. */
export async function makeDirectoryDurably(path: string): Promise<void> {
  const first = await mkdir(path, {recursive: true})
  if (first === undefined) return
  const gained: string[] = []
  for (let made = path; ; made = dirname(made)) {
    gained.push(dirname(made))
    if (made === first) break
  }

  for (const directory of gained.reverse()) await syncDirectory(directory)
}
