import {Flags} from '@oclif/core'

import {createHash} from 'node:crypto'
import {closeSync, constants as fsConstants, fstatSync, ftruncateSync, openSync, readSync, rmSync, writeSync} from 'node:fs'
import {rename} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {pipeline} from 'node:stream/promises'

import type {HashState, VerifiedBlob} from '../../content/resumable.js'

import {blobRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {PROGRESS_MODES, type ProgressMode, transferProgress} from '../../command/progress.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {RegshapeError, UsageError, describeError} from '../../errors.js'
import {parseDigest} from '../../reference/image.js'
import {isNetworkBreak} from '../../registry/repository.js'

/** Every message `blob get` prints. */
const messages = {
  cannotRead: (file: string, reason: string) => `cannot read ${file}: ${reason}`,
  cannotWrite: (file: string, reason: string) => `cannot write ${file}: ${reason}`,
  continueNeedsFile: '--continue needs -o FILE: it continues FILE.part',
  failed: (what: string, reason: string) => `${what}: ${reason}`,
  kept: (part: string, bytes: number) => `${part} keeps the ${bytes} bytes received; run the same command with --continue to go on from there`,
  notRegular: (part: string) => `${part} is not a regular file; remove it first`,
}

/**
 * The downloaded blob's metadata, printed as JSON in both forms (the base's default text). With
 * -o - the bytes are the output, written as they stream: no result then.
 */
export interface BlobGetResult {
  digest: string
  content_type: null | string
  size: number
}

export default class BlobGet extends RegistryCommand<typeof BlobGet, BlobGetResult | undefined> {
  static override args = {reference: referenceArgs.image('Blob reference, host[:port]/repository@sha256:... (instead of -r and -d)')}

  static override description = `Streams the blob from the registry and checks its digest (and its size, against Content-Length) as the bytes arrive; nothing is held in memory.

With -o FILE the bytes go to FILE.part beside FILE, which is renamed to FILE only once the digest matched: a failed or interrupted download never leaves FILE half-written. A connection that breaks is resumed where it stopped (Range: bytes=N-), at most --retries times; a download that still fails on the network keeps FILE.part, and --continue picks it up: its bytes are hashed, and only the rest is asked for. A digest mismatch or Ctrl-C removes it. -o - writes the bytes to stdout (a mismatch is then reported after they were written, and the command exits 1). Without -o the blob is downloaded and verified, then discarded. Except with -o -, the blob's metadata is printed as JSON: digest, content_type and size.

Progress goes to stderr: --progress auto (the default) draws a bar when stderr is a terminal and --json is off, plain prints one line when the blob is done, none prints nothing.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:... -o layer.tar.gz',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:... -o layer.tar.gz --continue',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:... -o -',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:...',
  ]

  static override flags = {
    repo: referenceFlags.repo(),
    digest: referenceFlags.digest(),
    output: referenceFlags.output('Write the blob to this file (- for stdout) instead of only verifying it'),
    continue: Flags.boolean({
      default: false,
      description: 'Continue the FILE.part an earlier run of -o FILE left: its bytes are hashed and only the rest is downloaded (as curl -C -)',
    }),
    'chunk-size': Flags.integer({
      default: 65_536,
      description: 'Accepted as before and no longer needed: the bytes are written as they arrive, a socket read (up to 4 MiB) at a time',
      helpValue: 'BYTES',
      max: 64 * 1024 * 1024,
      min: 1,
    }),
    progress: Flags.string({default: 'auto', description: 'Progress on stderr: a bar on a terminal (auto), one line when done (plain), or none', options: [...PROGRESS_MODES]}),
  }

  static override summary = 'Download a blob, verifying its digest as it streams'

  async run(): Promise<BlobGetResult | undefined> {
    const ref = blobRefFrom(this.args.reference, this.flags.repo, this.flags.digest, 'regshape blob get host/repository@sha256:...')
    const {output} = this.flags
    if (this.flags.continue && (output === undefined || output === '-')) throw new UsageError(messages.continueNeedsFile)
    const repository = await this.repository(ref)
    const what = `blob get ${this.target?.reference ?? ref.input}`
    if (output !== undefined && output !== '-') return this.toFile(repository, ref.digest, output, what)
    const download = await repository.getBlob(ref.digest)
    const progress = await transferProgress(this.flags.progress as ProgressMode, ref.digest.slice(0, 19), download.size, {json: this.jsonMode})
    let succeeded = false
    try {
      if (output === '-') await pipeline(download.body, progress.counter, process.stdout, {end: false})
      // Verified and dropped: each read hashed where it lands, nothing passed on.
      else await sunk(download.body, (chunk) => progress.advance(chunk.length))
      succeeded = true
    } catch (error) {
      throw named(what, error)
    } finally {
      progress.finish(succeeded)
    }

    if (output === '-') return undefined
    // The stream ended with its digest verified: the verifier holds it.
    return {digest: download.verifier.digest as string, content_type: download.contentType ?? null, size: download.verifier.size}
  }

  /**
   * Into FILE.part beside `file`, renamed over it only after the digest matched. Each read of the
   * socket is hashed and written where it lands (the blob's sink: no stream between). --continue
   * hashes what FILE.part holds first and asks for the rest.
   */
  private async toFile(repository: Awaited<ReturnType<BlobGet['repository']>>, digest: string, file: string, what: string): Promise<BlobGetResult> {
    const target = resolve(file)
    const part = join(dirname(target), `${basename(target)}.part`)
    let start: HashState | undefined
    try {
      start = this.flags.continue ? hashedPart(part, digest) : undefined
    } catch (error) {
      throw named(what, error)
    }

    const download = await repository.getBlob(digest, {start})
    // O_NOFOLLOW: a FILE.part someone put there as a link to another file is not written through.
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW | (start ? 0 : fsConstants.O_TRUNC)
    let fd: number
    try {
      fd = openSync(part, flags, 0o644)
      if (!fstatSync(fd).isFile()) {
        closeSync(fd)
        throw new RegshapeError(messages.notRegular(part))
      }
    } catch (error) {
      download.body.destroy()
      throw named(what, error instanceof RegshapeError ? error : new RegshapeError(messages.cannotWrite(part, fileProblem(error)), {cause: error}))
    }

    let position = start?.offset ?? 0
    if (start) ftruncateSync(fd, position)
    const progress = await transferProgress(this.flags.progress as ProgressMode, digest.slice(0, 19), download.size, {json: this.jsonMode, start: position})
    // Ctrl-C or kill mid-download: FILE.part goes, then the signal takes its usual effect.
    const onSignal = (signal: NodeJS.Signals) => {
      rmSync(part, {force: true})
      process.kill(process.pid, signal)
    }

    const signals = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const
    for (const signal of signals) process.once(signal, onSignal)
    let succeeded = false
    try {
      await sunk(
        download.body,
        (chunk) => {
          for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, position + done)
          position += chunk.length
          progress.advance(chunk.length)
        },
        () => {
          // The registry could only send the blob from its start: so the file starts over.
          ftruncateSync(fd, 0)
          position = 0
        },
      )
      closeSync(fd)
      await rename(part, target)
      succeeded = true
    } catch (error) {
      try {
        closeSync(fd)
      } catch {}

      // A download the network broke keeps what it received, for --continue.
      if (isNetworkBreak(error) && position > 0) throw named(what, new RegshapeError(`${(error as Error).message}; ${messages.kept(part, position)}`, {cause: error}))
      rmSync(part, {force: true})
      if (error instanceof RegshapeError) throw named(what, error)
      throw named(what, new RegshapeError(messages.cannotWrite(file, fileProblem(error)), {cause: error}))
    } finally {
      progress.finish(succeeded)
      for (const signal of signals) process.removeListener(signal, onSignal)
    }

    return {digest: download.verifier.digest as string, content_type: download.contentType ?? null, size: download.verifier.size}
  }
}

/** A failure of the transfer, named with what was asked for. */
function named(what: string, error: unknown): RegshapeError {
  if (error instanceof RegshapeError) return new RegshapeError(messages.failed(what, error.message), {cause: error, exitCode: error.exitCode, kind: error.kind})
  return new RegshapeError(messages.failed(what, (error as NodeJS.ErrnoException).code ?? describeError(error)), {cause: error})
}

/** Runs a verified blob into a sink to its end: resolves once the digest matched. */
function sunk(body: VerifiedBlob, write: (chunk: Buffer) => void, restart?: () => void): Promise<void> {
  return new Promise((resolvePromise, rejectPromise) => {
    body.once('end', () => resolvePromise())
    body.once('error', rejectPromise)
    body.sink(write, restart)
  })
}

/** The hash of what FILE.part holds, to go on from its end; none when there is no FILE.part. */
function hashedPart(part: string, digest: string): HashState | undefined {
  let fd: number
  try {
    fd = openSync(part, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new RegshapeError(messages.cannotRead(part, fileProblem(error)), {cause: error})
  }

  try {
    if (!fstatSync(fd).isFile()) throw new RegshapeError(messages.notRegular(part))
    const hash = createHash(parseDigest(digest).algorithm)
    const buffer = Buffer.allocUnsafe(4 * 1024 * 1024)
    let offset = 0
    for (let read = readSync(fd, buffer, 0, buffer.length, offset); read > 0; read = readSync(fd, buffer, 0, buffer.length, offset)) {
      hash.update(buffer.subarray(0, read))
      offset += read
    }

    return {hash, offset}
  } finally {
    closeSync(fd)
  }
}

function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EACCES') return 'permission denied'
  if (code === 'ENOENT') return 'no such directory'
  if (code === 'ELOOP') return 'it is a symbolic link'
  return code ?? describeError(error)
}
