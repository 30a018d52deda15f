import {spawn} from 'node:child_process'
import {createReadStream} from 'node:fs'
import {open, stat} from 'node:fs/promises'
import {PassThrough, type Readable, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip, createGzip} from 'node:zlib'

import type {OciLayout} from './store.js'

import {Digester} from '../content/digest.js'
import {MediaType} from '../content/media-types.js'
import {LayoutError} from './errors.js'

/**
 * A layer file into the layout's blobs, streamed: a gzip or zstd file as it is, anything else
 * compressed on the way (gzip by node:zlib, zstd by the zstd program, since node:zlib has no zstd
 * before Node 22.15). Either way the uncompressed bytes are hashed as they pass: that digest is the
 * layer's diff_id, which the image config's rootfs.diff_ids must list (upstream listed the
 * compressed digests there, which strict runtimes and umoci refuse).
 */

export type Compression = 'gzip' | 'none' | 'zstd'
export type CompressFormat = 'gzip' | 'zstd'

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])

export interface LayerFileInfo {
  compression: Compression
  /** Whether the (uncompressed) file looks like a tar archive (`ustar` at offset 257). */
  tar: boolean
}

export interface WrittenLayer {
  /** Whether regshape compressed the file. */
  compressed: CompressFormat | undefined
  diffId: string
  digest: string
  /** The media type the bytes written call for, when they are a tar. */
  inferredMediaType?: string
  size: number
}

/** What the first bytes of the file say. */
export async function inspectLayerFile(file: string): Promise<LayerFileInfo> {
  let handle
  try {
    // Read twice (these first bytes, then the whole stream): a pipe or FIFO would lose what the
    // first read took, and opening a FIFO waits for a writer. Checked before opening.
    if (!(await stat(file)).isFile()) throw new LayoutError(`${file} is not a regular file; give the layer as a file`)
    handle = await open(file, 'r')
  } catch (error) {
    if (error instanceof LayoutError) throw error
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new LayoutError(`File not found: ${file}`)
    throw new LayoutError(`cannot read ${file}: ${code ?? (error as Error).message}`)
  }

  try {
    const head = Buffer.alloc(512)
    const {bytesRead} = await handle.read(head, 0, head.length, 0)
    const bytes = head.subarray(0, bytesRead)
    if (bytes.subarray(0, 2).equals(GZIP_MAGIC)) return {compression: 'gzip', tar: true}
    if (bytes.subarray(0, 4).equals(ZSTD_MAGIC)) return {compression: 'zstd', tar: true}
    return {compression: 'none', tar: bytes.subarray(257, 262).toString('latin1') === 'ustar'}
  } catch (error) {
    if (error instanceof LayoutError) throw error
    throw new LayoutError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  } finally {
    await handle.close()
  }
}

export function layerMediaType(compression: Compression): string {
  if (compression === 'gzip') return MediaType.OciLayerGzip
  if (compression === 'zstd') return MediaType.OciLayerZstd
  return MediaType.OciLayer
}

/** Writes the layer blob, compressing it first when the file is not compressed. */
export async function writeLayer(layout: OciLayout, file: string, info: LayerFileInfo, format: CompressFormat): Promise<WrittenLayer> {
  const source = createReadStream(file)
  const uncompressed = new Digester()
  try {
    if (info.compression === 'none') {
      const compressor = format === 'gzip' ? gzipStage() : zstdStage(['-q', '-c', '-3', '-T1'])
      const written = layout.putBlob(compressor.output)
      await settleAll([pipeline(source, uncompressed, compressor.input), compressor.done, written], () => compressor.output.destroy(new LayoutError('interrupted')))
      const {digest, size} = await written
      return {compressed: format, diffId: uncompressed.digest as string, digest, inferredMediaType: info.tar ? layerMediaType(format) : undefined, size}
    }

    // Already compressed: stored as it is, and decompressed beside the write only to be hashed.
    const decompressor = info.compression === 'gzip' ? gunzipStage() : zstdStage(['-q', '-d', '-c'])
    const tee = new PassThrough()
    const branch = new PassThrough()
    source.on('error', (error) => {
      tee.destroy(error)
      branch.destroy(error)
    })
    source.pipe(tee)
    source.pipe(branch)
    // The blob is committed only once its decompressed bytes hashed: bytes that turn out not to
    // be gzip (or zstd) after the whole file was written must not stay behind as a blob.
    const hashed = Promise.all([pipeline(branch, decompressor.input), pipeline(decompressor.output, uncompressed, sink()), decompressor.done])
    const written = layout.putBlob(tee, {gate: hashed})
    await settleAll([hashed, written], () => {
      source.unpipe(tee)
      tee.destroy(new LayoutError('interrupted'))
    })
    const {digest, size} = await written
    return {compressed: undefined, diffId: uncompressed.digest as string, digest, inferredMediaType: layerMediaType(info.compression), size}
  } catch (error) {
    source.destroy()
    if (error instanceof LayoutError) throw error
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new LayoutError(`File not found: ${file}`)
    const reason = code === 'Z_DATA_ERROR' ? 'it is not valid gzip data' : (code ?? (error as Error).message)
    if (info.compression === 'none') throw new LayoutError(`failed to compress ${file}: ${reason}`, {cause: error})
    throw new LayoutError(`cannot decompress ${file} to hash its content (its diff_id): ${reason}`, {cause: error})
  }
}

/**
 * Waits for every step; when one fails, `abort` stops the blob write, and the first failure is
 * thrown only once all have settled, so the write has removed its temporary file by then.
 */
async function settleAll(steps: Array<Promise<unknown>>, abort: () => void): Promise<void> {
  let first: unknown
  let failed = false
  await Promise.all(
    steps.map((step) =>
      step.catch((error: unknown) => {
        if (!failed) {
          failed = true
          first = error
          abort()
        }
      }),
    ),
  )
  if (failed) throw first
}

interface Stage {
  done: Promise<void>
  input: NodeJS.WritableStream
  output: Readable
}

function gzipStage(): Stage {
  const gzip = createGzip()
  return {done: Promise.resolve(), input: gzip, output: gzip}
}

function gunzipStage(): Stage {
  const gunzip = createGunzip()
  return {done: Promise.resolve(), input: gunzip, output: gunzip}
}

/** The zstd program as a stream stage; its failure (or absence) fails the write. */
function zstdStage(args: string[]): Stage {
  const child = spawn('zstd', args, {stdio: ['pipe', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-400)
  })
  const done = new Promise<void>((resolvePromise, reject) => {
    child.once('error', (error) => {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
      const failure = new LayoutError(missing ? 'zstd layers need the zstd program on PATH (Debian package zstd)' : `zstd failed: ${error.message}`)
      child.stdout.destroy(failure)
      reject(failure)
    })
    child.once('close', (code) => {
      if (code === 0) resolvePromise()
      else {
        const failure = new LayoutError(`zstd failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`)
        child.stdout.destroy(failure)
        reject(failure)
      }
    })
  })
  child.stdin.on('error', () => {})
  return {done, input: child.stdin, output: child.stdout}
}

function sink(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
}

/** The diff_id of a layer already in the layout (a staging file written without one). */
export async function diffIdOf(layout: OciLayout, digest: string, mediaType: string): Promise<string> {
  const {body} = await layout.getBlob(digest)
  const digester = new Digester()
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.gzip')) {
    await pipeline(body, createGunzip(), digester, sink())
  } else if (mediaType.endsWith('+zstd')) {
    const zstd = zstdStage(['-q', '-d', '-c'])
    await Promise.all([pipeline(body, zstd.input), pipeline(zstd.output, digester, sink()), zstd.done])
  } else {
    await pipeline(body, digester, sink())
  }

  return digester.digest as string
}
