import {Args, Flags} from '@oclif/core'
import {formatImageRef, type ImageRef, InputError, parseImageRef, RegistryCommand, RegshapeError, UsageError} from '@regshape/sdk'
import {Copier, type CopyProgress} from '@regshape/sdk/copy'
import {MANIFEST_MAX_BYTES, parseManifest, type Repository} from '@regshape/sdk/registry'

/**
 * `regshape example promote SRC DST [--if-newer]`: copies an image (or an index, with its
 * manifests and blobs) from SRC to DST with the SDK's Copier. With --if-newer, it reads when each
 * image was built from its config blob first, and copies only when SRC is the newer one.
 *
 * RegistryCommand gives it the shared flags, break mode, the JSON error object and telemetry;
 * `this.repository(ref)` gives a Repository reached with the credentials the chain resolves for
 * that registry alone.
 */
export default class Promote extends RegistryCommand<typeof Promote> {
  static override args = {
    source: Args.string({description: 'The image: host[:port]/repository:tag or @digest', required: true}),
    destination: Args.string({description: 'Where to: host[:port]/repository[:tag]; without a tag, the source\'s', required: true}),
  }

  static override description = 'Copies SRC (an image or an index, with everything it references) to DST, blobs first and the tag last. With --if-newer, it first reads the "created" date of both images\' configs (of an index: its first manifest\'s) and copies only when SRC\'s is later; a DST that does not exist yet is copied to.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:2.0 registry.example.com/prod/app:stable',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:2.0 registry.example.com/prod/app:stable --if-newer',
  ]

  static override flags = {
    'if-newer': Flags.boolean({default: false, description: 'Copy only when SRC was created after DST (or DST does not exist)'}),
  }

  static override summary = 'Copy an image to another repository, if it is newer'

  async run(): Promise<void> {
    const source = reference(this.args.source, 'SRC')
    const destination = reference(this.args.destination, 'DST')
    if (source.tag === undefined && source.digest === undefined) throw new UsageError(`SRC ${source.input} names no tag or digest`)
    if (destination.digest !== undefined) throw new UsageError(`DST ${destination.input} names a digest; promote moves a tag`)
    const tag = destination.tag ?? source.tag
    if (tag === undefined) throw new UsageError(`DST ${destination.input} names no tag, and SRC has none to lend it`)
    // One password would otherwise reach both registries: each side's credentials are resolved for it alone.
    if ((this.flags.username !== undefined || this.flags.password !== undefined) && source.registry.key !== destination.registry.key) {
      throw new UsageError('-u/--username and -p/--password cannot be used when SRC and DST are on different registries; store each one\'s credentials (regshape auth login) instead')
    }

    const [from, to] = [formatImageRef(source), formatImageRef({...destination, tag})]
    const sourceRepository = await this.repository(source)
    const destinationRepository = await this.repository(destination)
    let pinned = source.digest ?? (source.tag as string)
    let created: {destination?: string; source: string} | undefined
    if (this.flags['if-newer']) {
      const [newest, current] = await this.step('created', async () => {
        const found = await destinationRepository.manifestDigest(tag)
        return Promise.all([createdOf(sourceRepository, pinned, from), found === undefined ? undefined : createdOf(destinationRepository, found, to)])
      })
      // What was dated is what is copied, even if SRC's tag moves meanwhile.
      pinned = newest.digest
      created = {destination: current?.created, source: newest.created}
      if (current !== undefined && Date.parse(current.created) >= Date.parse(newest.created)) {
        this.emitResult(`Skipped: ${to} (created ${current.created}) is as new as ${from} (created ${newest.created}) or newer`, {
          status: 'success',
          promoted: false,
          source: from,
          destination: to,
          digest: current.digest,
          source_created: newest.created,
          destination_created: current.created,
        })
        return
      }
    }

    const copier = new Copier(sourceRepository, destinationRepository, {concurrency: 4, platforms: [], progress: QUIET, referrers: false, tag})
    const result = await this.step('copy', () => copier.run(pinned))
    const why = created === undefined ? '' : created.destination === undefined ? ` (created ${created.source}; ${to} did not exist)` : ` (created ${created.source}, after ${created.destination})`
    this.emitResult(`Promoted ${from} -> ${to}: ${result.digest}${why}`, {
      status: 'success',
      promoted: true,
      source: from,
      destination: to,
      digest: result.digest,
      source_created: created?.source ?? null,
      destination_created: created?.destination ?? null,
    })
  }
}

/** The copy prints no progress: its one line says what happened. */
const QUIET: CopyProgress = {advanced() {}, close() {}, finished() {}, started() {}}

/** A config blob is JSON of a few KiB: one larger than a manifest may be is refused, not read. */
const CONFIG_MAX_BYTES = MANIFEST_MAX_BYTES

/** RFC 3339, as image configs write `created` (Date.parse reads it, to the millisecond). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i

/** A reference from the command line; a malformed one is a usage error (exit 2). */
function reference(input: string, name: string): ImageRef {
  try {
    return parseImageRef(input)
  } catch (error) {
    if (error instanceof InputError) throw new UsageError(`${name}: ${error.message}`)
    throw error
  }
}

/**
 * When an image was built: the `created` of its config blob, read with a bound. Of an index, its
 * first manifest's (buildx and docker write no date on the index itself). Returns the digest read,
 * so that the copy copies what was dated.
 */
async function createdOf(repository: Repository, ref: string, display: string): Promise<{created: string; digest: string}> {
  const fetched = await repository.getManifest(ref)
  let manifest = parseManifest(fetched.bytes, fetched.contentType)
  if (manifest.kind === 'index') {
    const [first] = manifest.manifests
    if (first === undefined) throw new RegshapeError(`${display} is an empty index: there is no image to read a date from`)
    const child = await repository.getManifest(first.digest)
    manifest = parseManifest(child.bytes, child.contentType)
    if (manifest.kind === 'index') throw new RegshapeError(`${display}: its first manifest is an index too; --if-newer reads an index of images`)
  }

  const {config} = manifest
  if (config.size > CONFIG_MAX_BYTES) throw new RegshapeError(`${display}: its config blob is ${config.size} bytes, more than the ${CONFIG_MAX_BYTES} read for a date`)
  const download = await repository.getBlob(config.digest)
  const chunks: Buffer[] = []
  let length = 0
  // The digest is checked at the end of the stream; the size bounds what is held until then.
  for await (const chunk of download.body as AsyncIterable<Buffer>) {
    length += chunk.length
    if (length > config.size) throw new RegshapeError(`${display}: its config blob is longer than the ${config.size} bytes its manifest says`)
    chunks.push(chunk)
  }

  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new RegshapeError(`${display}: its config blob is not JSON`)
  }

  const created = (body as {created?: unknown} | null)?.created
  if (typeof created !== 'string' || !RFC3339.test(created) || Number.isNaN(Date.parse(created))) {
    throw new RegshapeError(`${display}: its config has no "created" date to compare`)
  }

  return {created, digest: fetched.digest}
}
