import {Flags} from '@oclif/core'

import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import type {ImageRef} from '../../reference/image.js'
import type {Repository} from '../../registry/repository.js'

import {RegistryCommand} from '../../command/registry-command.js'
import {terminalSafeJson} from '../../util/text.js'
import {reindentJson} from '../../content/json-text.js'
import {ManifestError, type Platform, parsePlatform} from '../../content/descriptor.js'
import {type Manifest, parseManifest, selectPlatform} from '../../content/manifest.js'
import {formatImageRef} from '../../reference/image.js'
import {ProtocolError, UsageError} from '../../errors.js'

const PARTS = ['config', 'layers', 'subject', 'annotations'] as const
type Part = (typeof PARTS)[number]

const messages = {
  absent: (part: Part) => `manifest has no ${part} field`,
  badPlatform: (reason: string) => reason,
  rawWithPart: '--raw prints the bytes as received: it does not combine with --part',
}

export default class ManifestGet extends RegistryCommand<typeof ManifestGet> {
  static override args = {reference: referenceArgs.image()}

  static override description = `Prints the manifest exactly as the registry sent it, every field kept in its order, indented by 2 spaces; --raw prints the received bytes unchanged. The manifest is verified: fetched by digest it must hash to that digest, fetched by tag it must hash to the registry's Docker-Content-Digest. A reference without tag or digest reads the tag latest.

--platform os/arch[/variant] on an index fetches that platform's manifest (verified against the index's digest); on a single manifest it changes nothing. --part prints one field as JSON (exit 2 when the manifest has no such field).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:v1',
    '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app:v1 --part layers',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:v1 --platform linux/arm64 --raw -o manifest.json',
  ]

  static override flags = {
    'image-ref': referenceFlags.imageRef(),
    accept: referenceFlags.accept(),
    part: Flags.string({description: 'Print only this field of the manifest', options: [...PARTS]}),
    platform: Flags.string({description: 'On an index, get the manifest of this platform', helpValue: 'OS/ARCH[/VARIANT]'}),
    output: referenceFlags.output('Write the manifest (or the part) to this file instead of stdout'),
    raw: Flags.boolean({description: 'Print the bytes exactly as received'}),
  }

  static override summary = 'Fetch a manifest or index, verified, as the registry sent it'

  async run(): Promise<void> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape manifest get host/repository:tag'})
    const {part, raw} = this.flags
    if (raw && part !== undefined) throw new UsageError(messages.rawWithPart)
    let platform
    try {
      platform = this.flags.platform === undefined ? undefined : parsePlatform(this.flags.platform)
    } catch (error) {
      throw new UsageError(messages.badPlatform((error as Error).message))
    }

    const repository = await this.repository(ref)
    try {
      await this.fetch(repository, ref, platform)
    } catch (error) {
      // What cannot be read as a manifest, or has no such platform, is named with the reference.
      if (error instanceof ManifestError) throw new ProtocolError(`manifest get ${formatImageRef(ref)}: ${error.message}`)
      throw error
    }
  }

  private async fetch(repository: Repository, ref: ImageRef, platform: Platform | undefined): Promise<void> {
    const {accept, output, part, raw} = this.flags
    let fetched = await repository.getManifest(ref.digest ?? ref.tag ?? 'latest', {accept})
    let manifest: Manifest | undefined
    // Printed whole, a manifest need only be JSON (a media type regshape does not know is shown too).
    if (platform || part) manifest = parseManifest(fetched.bytes, fetched.contentType)
    else if (!raw) jsonOrThrow(fetched.bytes)
    if (platform && manifest?.kind === 'index') {
      const entry = selectPlatform(manifest, platform)
      fetched = await repository.getManifest(entry.digest, {accept: entry.mediaType})
      if (part) manifest = parseManifest(fetched.bytes, fetched.contentType)
      else if (!raw) jsonOrThrow(fetched.bytes)
    }

    if (raw) {
      this.writeOutput(fetched.bytes, output)
      return
    }

    const text = part === undefined ? reindentJson(fetched.bytes.toString('utf8')) : partText(manifest as Manifest, part as Part)
    this.writeOutput(`${output === undefined ? terminalSafeJson(text) : text}\n`, output)
  }
}

function jsonOrThrow(bytes: Buffer): void {
  try {
    JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new ManifestError(`the manifest is not valid JSON (${bytes.length} bytes); --raw prints it as received`)
  }
}

function partText(manifest: Manifest, part: Part): string {
  const value = manifest.json[part]
  if (value === undefined) throw new UsageError(messages.absent(part))
  return JSON.stringify(value, null, 2)
}
