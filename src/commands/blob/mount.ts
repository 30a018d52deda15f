import {Flags} from '@oclif/core'

import {blobRefFrom, referenceArgs, referenceFlags, repositoryPathFrom} from '../../command/flags.js'
import {PROGRESS_MODES, type ProgressMode, transferProgress} from '../../command/progress.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {formatImageRef} from '../../reference/image.js'
import {type MountResult, fileSource, stdinSource} from '../../registry/upload.js'
import {DEFAULT_CHUNK_SIZE} from './upload.js'

/** Printed as JSON in both forms (the base's default text: indented). */
export type BlobMountResult = Pick<MountResult, 'digest' | 'location' | 'size' | 'status'>

export default class BlobMount extends RegistryCommand<typeof BlobMount, BlobMountResult> {
  static override args = {reference: referenceArgs.image('Blob reference in the target repository, host[:port]/repository@sha256:... (instead of -r and -d)')}

  static override description = `Asks the registry to mount the blob from another repository of the same registry (POST ?mount=<digest>&from=<repository>), which needs pull on that repository as well as push on this one.

201: the blob is mounted. 202: the registry opened an upload session instead; with -f FILE (or -f -) the blob is uploaded into it, and its bytes must hash to the digest; without -f the session is cancelled and the command exits 1.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app@sha256:... --from-repo team/base',
    '<%= config.bin %> <%= command.id %> -r registry.example.com/team/app -d sha256:... --from-repo team/base -f layer.tar.gz',
  ]

  static override flags = {
    repo: referenceFlags.repo('Destination repository in registry/name format (no tag, no digest)'),
    digest: referenceFlags.digest(),
    'from-repo': Flags.string({description: 'Source repository on the same registry (without the registry)', helpValue: 'REPO', required: true}),
    file: Flags.string({char: 'f', description: 'Upload the blob from this file (- for stdin) if the registry does not mount it', helpValue: 'FILE'}),
    progress: Flags.string({default: 'auto', description: 'Progress of an upload on stderr: a bar on a terminal (auto), one line when done (plain), or none', options: [...PROGRESS_MODES]}),
  }

  static override summary = 'Mount a blob from another repository of the same registry'

  async run(): Promise<BlobMountResult> {
    const ref = blobRefFrom(this.args.reference, this.flags.repo, this.flags.digest, 'regshape blob mount host/repository@sha256:... --from-repo REPO')
    const from = repositoryPathFrom(this.flags['from-repo'], '--from-repo')
    const {file} = this.flags
    const source = file === undefined ? undefined : file === '-' ? stdinSource() : await fileSource(file, `blob mount ${formatImageRef(ref)}`)
    const repository = await this.repository(ref)
    const progress = await transferProgress(this.flags.progress as ProgressMode, ref.digest.slice(0, 19), source?.size, {json: this.jsonMode})
    let succeeded = false
    let result
    try {
      result = await repository.mountFrom(ref.digest, from, source, {chunkSize: DEFAULT_CHUNK_SIZE, chunked: false, progress: progress.counter})
      succeeded = result.status === 'uploaded'
    } finally {
      progress.finish(succeeded)
    }

    return {digest: result.digest, status: result.status, location: result.location, ...(result.size === undefined ? {} : {size: result.size})}
  }
}
