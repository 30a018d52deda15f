import {Flags} from '@oclif/core'

import {randomBytes} from 'node:crypto'
import {createWriteStream, rmSync} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {blobRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {PROGRESS_MODES, type ProgressMode, transferProgress} from '../../command/progress.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {DigestMismatchError} from '../../content/digest.js'
import {RegshapeError, describeError} from '../../errors.js'

/** Every message `blob get` prints. */
const messages = {
  cannotWrite: (file: string, reason: string) => `cannot write ${file}: ${reason}`,
  failed: (what: string, reason: string) => `${what}: ${reason}`,
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

With -o FILE the bytes go to a temporary file beside FILE, which is renamed to FILE only once the digest matched: a failed or interrupted download never leaves FILE half-written. -o - writes the bytes to stdout (a mismatch is then reported after they were written, and the command exits 1). Without -o the blob is downloaded and verified, then discarded. Except with -o -, the blob's metadata is printed as JSON: digest, content_type and size.

Progress goes to stderr: --progress auto (the default) draws a bar when stderr is a terminal and --json is off, plain prints one line when the blob is done, none prints nothing.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:... -o layer.tar.gz',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:... -o -',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:...',
  ]

  static override flags = {
    repo: referenceFlags.repo(),
    digest: referenceFlags.digest(),
    output: referenceFlags.output('Write the blob to this file (- for stdout) instead of only verifying it'),
    'chunk-size': Flags.integer({default: 65_536, description: 'Bytes written to the output at a time', helpValue: 'BYTES', max: 64 * 1024 * 1024, min: 1}),
    progress: Flags.string({default: 'auto', description: 'Progress on stderr: a bar on a terminal (auto), one line when done (plain), or none', options: [...PROGRESS_MODES]}),
  }

  static override summary = 'Download a blob, verifying its digest as it streams'

  async run(): Promise<BlobGetResult | undefined> {
    const ref = blobRefFrom(this.args.reference, this.flags.repo, this.flags.digest, 'regshape blob get host/repository@sha256:...')
    const {'chunk-size': chunkSize, output} = this.flags
    const repository = await this.repository(ref)
    const what = `blob get ${this.target?.reference ?? ref.input}`
    const download = await repository.getBlob(ref.digest)
    const progress = await transferProgress(this.flags.progress as ProgressMode, ref.digest.slice(0, 19), download.size, {json: this.jsonMode})
    let succeeded = false
    try {
      if (output === '-') await pipeline(download.body, progress.counter, process.stdout, {end: false})
      else if (output === undefined) await pipeline(download.body, progress.counter, discard())
      else await this.toFile(download.body, progress.counter, output, chunkSize)
      succeeded = true
    } catch (error) {
      if (error instanceof RegshapeError) throw new RegshapeError(messages.failed(what, error.message), {cause: error, exitCode: error.exitCode})
      throw new RegshapeError(messages.failed(what, (error as NodeJS.ErrnoException).code ?? describeError(error)), {cause: error})
    } finally {
      progress.finish(succeeded)
    }

    if (output === '-') return undefined
    // The stream ended with its digest verified: the verifier holds it.
    return {digest: download.verifier.digest as string, content_type: download.contentType ?? null, size: download.verifier.size}
  }

  /** Into a temporary beside `file`, renamed over it only after the digest matched. */
  private async toFile(body: NodeJS.ReadableStream, counter: NodeJS.ReadWriteStream, file: string, chunkSize: number): Promise<void> {
    const target = resolve(file)
    const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`)
    // Ctrl-C or kill mid-download: the temporary goes, then the signal takes its usual effect.
    const onSignal = (signal: NodeJS.Signals) => {
      rmSync(temporary, {force: true})
      process.kill(process.pid, signal)
    }

    const signals = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const
    for (const signal of signals) process.once(signal, onSignal)
    try {
      await pipeline(body, counter, createWriteStream(temporary, {flags: 'wx', highWaterMark: chunkSize}))
      await rename(temporary, target)
    } catch (error) {
      await rm(temporary, {force: true})
      if (error instanceof DigestMismatchError || error instanceof RegshapeError) throw error
      const code = (error as NodeJS.ErrnoException).code
      throw new RegshapeError(messages.cannotWrite(file, code === 'EACCES' ? 'permission denied' : code === 'ENOENT' ? 'no such directory' : (code ?? describeError(error))), {cause: error})
    } finally {
      for (const signal of signals) process.removeListener(signal, onSignal)
    }
  }
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
}
