import {Flags} from '@oclif/core'

import {LayoutCommand, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {MediaType} from '../../../content/media-types.js'
import {generateManifest} from '../../../layout/build.js'
import {REF_NAME} from '../../../layout/store.js'
import {UsageError} from '../../../errors.js'

const REF_NAME_PATTERN = /^[\w][\w.-]{0,127}$/

export interface GenerateManifestResult {
  digest: string
  size: number
  media_type: string
  ref_name: null | string
  /** The manifest's annotations, with the ref name its index.json entry carries. */
  annotations: Record<string, string>
}

export default class LayoutGenerateManifest extends LayoutCommand<typeof LayoutGenerateManifest, GenerateManifestResult> {
  static override description = `Builds an OCI image manifest from the staged config and layers (with their annotations), stores it, and records it in index.json. With --ref-name the entry carries org.opencontainers.image.ref.name, which is what skopeo's oci:DIR:NAME and umoci's DIR:NAME find; an entry of that name already there is replaced, not duplicated. Without --ref-name the manifest is recorded untagged, replacing the untagged one this staging generated before.

On a terminal, what is not given is asked for (ref name, media type, annotations); elsewhere the manifest is untagged, of the OCI manifest type, without annotations.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image --ref-name latest',
    '<%= config.bin %> <%= command.id %> --path ./my-image --ref-name v1.2.3 --annotation org.opencontainers.image.version=1.2.3',
  ]

  static override flags = {
    path: layoutFlags.path('Root directory of an initialised OCI Image Layout'),
    'ref-name': Flags.string({description: 'Reference name (org.opencontainers.image.ref.name) in index.json, e.g. latest', helpValue: 'NAME'}),
    'media-type': Flags.string({description: `Manifest media type (default ${MediaType.OciManifest})`, helpValue: 'MEDIA-TYPE'}),
    annotation: layoutFlags.annotation('Annotation embedded in the manifest JSON (repeatable)'),
  }

  static override summary = 'Generate the manifest from the staged config and layers, and record it in index.json'

  async run(): Promise<GenerateManifestResult> {
    let annotations = parseAnnotations(this.flags.annotation)
    let refName = this.flags['ref-name']
    let mediaType = this.flags['media-type']
    const layout = await this.openLayout(this.flags.path)
    if (this.interactive) {
      const prompter = this.services.prompter()
      if (refName === undefined) refName = (await prompter.ask('Reference name (e.g. latest) [skip]:')).trim() || undefined
      mediaType ??= await this.askWithDefault('Manifest media type', MediaType.OciManifest)
      if (this.flags.annotation === undefined && ['y', 'yes'].includes((await prompter.ask('Add manifest annotations? [y/N]:')).trim().toLowerCase())) {
        const lines: string[] = []
        for (;;) {
          const line = (await prompter.ask('key=value (empty line to finish):')).trim()
          if (line === '') break
          lines.push(line)
        }

        annotations = parseAnnotations(lines, 'annotation')
      }
    }

    if (refName !== undefined && !REF_NAME_PATTERN.test(refName)) {
      throw new UsageError(`invalid --ref-name "${refName}": use 1 to 128 of A-Z a-z 0-9 _ . - (not starting with . or -), as a tag`)
    }

    const {descriptor} = await generateManifest(layout, {annotations, mediaType: mediaType ?? MediaType.OciManifest, refName})
    return {
      digest: descriptor.digest,
      size: descriptor.size,
      media_type: descriptor.mediaType,
      ref_name: refName ?? null,
      annotations: {...annotations, ...(refName === undefined ? {} : {[REF_NAME]: refName})},
    }
  }

  protected override renderText(result: GenerateManifestResult): string {
    const human = ['Generated manifest:', `      digest: ${result.digest}`, `        size: ${result.size}`, `  media-type: ${result.media_type}`]
    if (result.ref_name !== null) human.push(`    ref-name: ${result.ref_name}`)
    return human.join('\n')
  }
}
