import {type BigIntStats, constants as fsConstants, type Stats} from 'node:fs'
import {type FileHandle, open, stat} from 'node:fs/promises'

/**
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
