import {Flags} from '@oclif/core'

import {basename} from 'node:path'

import {referenceArgs, referenceFlags, uploadRefFrom} from '../../command/flags.js'
import {PROGRESS_MODES, type ProgressMode, transferProgress} from '../../command/progress.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {formatImageRef} from '../../reference/image.js'
import {type BlobSource, type UploadResult, fileSource, stdinSource} from '../../registry/upload.js'
import {UsageError} from '../../errors.js'

/** Every message `blob upload` prints of its own. */
const messages = {
  resumeStdin: '--resume needs -f FILE: stdin cannot be read again from an offset',
}

/** 8 MiB: upstream's 64 KiB would make 16384 PATCH requests of a 1 GiB layer. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024

/** Printed as JSON in both forms (the base's default text: indented). */
export type BlobUploadResult = Pick<UploadResult, 'digest' | 'location' | 'size'>

export default class BlobUpload extends RegistryCommand<typeof BlobUpload, BlobUploadResult> {
  static override args = {reference: referenceArgs.image('Repository, host[:port]/repository (instead of -r); host/repository@sha256:... gives the digest too')}

  static override description = `Streams the bytes from FILE (or stdin with -f -) to the registry, hashing them on the way; nothing is held in memory.

With --digest: POST, then one PUT ?digest= carrying the bytes (the spec's monolithic upload). Without it: POST, one streamed PATCH (as docker push does), then PUT ?digest= with the digest the bytes hashed to, so a file is read once. --chunked sends PATCH requests of --chunk-size bytes with Content-Range instead, raised to the registry's OCI-Chunk-Min-Length; if one fails, the error gives the session's Location, and --resume LOCATION continues from the offset the session reports.

The registry's confirmed digest must be the one the bytes hash to. Prints {digest, size, location} as JSON, location as the registry answered it.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app -f layer.tar.gz',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -f layer.tar.gz -d sha256:...',
    'tar -c . | <%= config.bin %> <%= command.id %> registry.example.com/team/app -f -',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app -f layer.tar.gz --chunked --chunk-size 4194304',
  ]

  static override flags = {
    repo: referenceFlags.repo(),
    file: Flags.string({char: 'f', description: 'File to upload (- for stdin)', helpValue: 'FILE', required: true}),
    digest: referenceFlags.digest('Expected digest of the blob (computed while the bytes stream when not given)'),
    'media-type': Flags.string({default: 'application/octet-stream', description: 'Content-Type of the requests that carry the bytes', helpValue: 'TYPE'}),
    chunked: Flags.boolean({default: false, description: 'Upload in PATCH chunks with Content-Range'}),
    'chunk-size': Flags.integer({
      default: DEFAULT_CHUNK_SIZE,
      description: 'Bytes per chunk with --chunked (at least the registry\'s OCI-Chunk-Min-Length)',
      helpValue: 'BYTES',
      max: 256 * 1024 * 1024,
      min: 1,
    }),
    resume: Flags.string({description: 'Continue the chunked upload session at this Location (from a failed --chunked upload)', helpValue: 'LOCATION'}),
    progress: Flags.string({default: 'auto', description: 'Progress on stderr: a bar on a terminal (auto), one line when done (plain), or none', options: [...PROGRESS_MODES]}),
  }

  static override summary = 'Upload a blob, monolithic or in chunks, verifying its digest'

  async run(): Promise<BlobUploadResult> {
    const {file, resume} = this.flags
    const ref = uploadRefFrom(this.args.reference, this.flags.repo, this.flags.digest, 'regshape blob upload host/repository -f FILE')
    if (resume !== undefined && file === '-') throw new UsageError(messages.resumeStdin)
    const source: BlobSource = file === '-' ? stdinSource() : await fileSource(file, `blob upload ${formatImageRef(ref)}`)
    const repository = await this.repository(ref)
    const label = ref.digest?.slice(0, 19) ?? (file === '-' ? 'stdin' : basename(file))
    const progress = await transferProgress(this.flags.progress as ProgressMode, label, source.size, {json: this.jsonMode})
    let succeeded = false
    let result
    try {
      result = await repository.uploadBlob(source, {
        chunkSize: this.flags['chunk-size'],
        chunked: this.flags.chunked || resume !== undefined,
        contentType: this.flags['media-type'],
        digest: ref.digest,
        progress: progress.counter,
        resume,
      })
      succeeded = true
    } finally {
      progress.finish(succeeded)
    }

    return {digest: result.digest, size: result.size, location: result.location}
  }
}
