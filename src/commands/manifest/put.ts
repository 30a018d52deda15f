import {Flags} from '@oclif/core'

import {open} from 'node:fs/promises'

import type {ImageRef} from '../../reference/image.js'

import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {pushMediaType} from '../../content/manifest.js'
import {terminalSafe} from '../../util/text.js'
import {formatImageRef} from '../../reference/image.js'
import type {PushResult, SubjectReport} from '../../registry/manifest-writes.js'
import {MANIFEST_MAX_BYTES} from '../../registry/repository.js'
import {InputError, RegshapeError, UsageError} from '../../errors.js'

const messages = {
  bothSources: 'give the manifest once: -f FILE or --stdin, not both',
  noSource: 'name the manifest to push: -f FILE or --stdin',
  stdinIsTerminal: '--stdin reads the manifest from a pipe or a file, and standard input is a terminal',
  tooLarge: (where: string) => `${where} is larger than 4 MiB (${MANIFEST_MAX_BYTES} bytes), distribution's limit for manifests; nothing was sent`,
  unreadable: (file: string, reason: string) => `cannot read ${file}: ${reason}`,
  empty: (where: string) => `${where} is empty; nothing was sent`,
  subjectByRegistry: (subject: string) => `Note: the registry indexed the referrer of ${subject} itself (OCI-Subject)`,
  subjectByTag: (subject: string, tag: string, updated: boolean) =>
    updated
      ? `Note: the registry sent no OCI-Subject; added the referrer of ${subject} to the referrers tag ${tag}`
      : `Note: the registry sent no OCI-Subject; the referrers tag ${tag} already lists this referrer of ${subject}`,
}

export interface ManifestPutResult {
  digest: string
  media_type: string
  size: number
  /** repository@digest, with the tag when the push went to it. */
  reference: string
  /** A pushed referrer's subject, and how it was indexed. */
  subject:
    | undefined
    | {
        digest: string
        indexed_by: SubjectReport['indexedBy']
        oci_subject?: string
        tag?: string
        index?: SubjectReport['index']
        updated?: boolean
        superseded?: SubjectReport['superseded']
      }
}

export default class ManifestPut extends RegistryCommand<typeof ManifestPut, ManifestPutResult> {
  static override args = {reference: referenceArgs.image('Where to push, host[:port]/repository[:tag|@digest] (instead of -i)')}

  static override description = `Pushes the exact bytes of a manifest or index from -f FILE or --stdin (nothing is re-encoded). The Content-Type is --content-type, else the body's mediaType, else an OCI index for a body with "manifests" and no "layers", else an OCI manifest. Prints "Pushed: <digest>" with the digest computed locally, which must equal the registry's Docker-Content-Digest (exit 1 otherwise). A reference with a digest must be the digest of the bytes; a reference without tag or digest pushes by digest only (untagged, as oras does).

A manifest with a subject: when the registry answers OCI-Subject it indexed the referrer itself; otherwise (distribution 2.8 has no referrers API) regshape adds the referrer to the subject's referrers tag (<alg>-<hex>, an OCI index), so that 'referrer list' finds it, and deletes the index the tag held before, as oras does.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app:v2 -f manifest.json',
    'cat manifest.json | <%= config.bin %> <%= command.id %> -i registry.example.com/team/app:v2 --stdin',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app -f signature.json',
  ]

  static override flags = {
    'image-ref': referenceFlags.imageRef('Image reference with embedded registry (e.g. registry/repo:tag, registry/repo@sha256:...)'),
    file: Flags.string({char: 'f', description: 'Read the manifest from this file', helpValue: 'FILE'}),
    stdin: Flags.boolean({description: 'Read the manifest from standard input'}),
    'content-type': Flags.string({description: "Send this Content-Type instead of the one the body's mediaType gives", helpValue: 'MEDIA-TYPE'}),
  }

  static override summary = 'Push a manifest or index, byte for byte'

  async run(): Promise<ManifestPutResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape manifest put host/repository:tag -f manifest.json'})
    const {file, stdin} = this.flags
    if (file !== undefined && stdin) throw new UsageError(messages.bothSources)
    if (file === undefined && !stdin) throw new UsageError(messages.noSource)
    if (stdin && process.stdin.isTTY) throw new UsageError(messages.stdinIsTerminal)
    this.target = {reference: formatImageRef(ref), registry: ref.registry.host}
    let bytes: Buffer
    try {
      bytes = file === undefined ? await readStdin() : await readManifestFile(file)
    } catch (error) {
      if (!(error instanceof InputError)) throw error
      throw new InputError(`manifest put ${formatImageRef(ref)}: ${error.message}`)
    }

    const contentType = this.flags['content-type'] ?? pushMediaType(bytes)
    const repository = await this.repository(ref)
    const result = await repository.putManifest(bytes, {contentType, reference: ref.digest ?? ref.tag})
    for (const note of result.notes) this.warning(note)
    this.reportSubject(result)
    return {
      digest: result.digest,
      media_type: result.mediaType,
      size: result.size,
      // The tag only when the push went to it (`repo:tag@digest` pushes by digest).
      reference: `${repositoryDisplay(ref)}${ref.tag === undefined || ref.digest !== undefined ? '' : `:${ref.tag}`}@${result.digest}`,
      subject: result.subject && {
        digest: result.subject.digest,
        indexed_by: result.subject.indexedBy,
        oci_subject: result.subject.ociSubject,
        tag: result.subject.tag,
        index: result.subject.index,
        updated: result.subject.updated,
        superseded: result.subject.superseded,
      },
    }
  }

  protected override renderText(result: ManifestPutResult): string {
    return `Pushed: ${result.digest}`
  }

  private reportSubject({subject}: PushResult): void {
    if (!subject) return
    if (subject.indexedBy === 'registry') this.warning(messages.subjectByRegistry(subject.digest))
    else this.warning(messages.subjectByTag(subject.digest, subject.tag as string, subject.updated === true))
  }
}

function repositoryDisplay(ref: ImageRef): string {
  return formatImageRef({...ref, digest: undefined, tag: undefined})
}

/** The whole file, refused past distribution's 4 MiB before anything is sent. */
async function readManifestFile(file: string): Promise<Buffer> {
  let handle
  try {
    handle = await open(file, 'r')
    const stat = await handle.stat()
    if (!stat.isFile()) throw new InputError(messages.unreadable(terminalSafe(file), 'not a regular file'))
    return await readCapped(handle.createReadStream({autoClose: false}), terminalSafe(file))
  } catch (error) {
    if (error instanceof RegshapeError) throw error
    const {code} = error as NodeJS.ErrnoException
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error))
    throw new InputError(messages.unreadable(terminalSafe(file), reason))
  } finally {
    await handle?.close()
  }
}

function readStdin(): Promise<Buffer> {
  return readCapped(process.stdin, 'standard input')
}

async function readCapped(stream: NodeJS.ReadableStream, where: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > MANIFEST_MAX_BYTES) throw new InputError(messages.tooLarge(where))
    chunks.push(buffer)
  }

  if (size === 0) throw new InputError(messages.empty(where))
  return Buffer.concat(chunks)
}
