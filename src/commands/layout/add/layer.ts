import {Flags} from '@oclif/core'

import {LayoutCommand, annotationLines, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {stageLayer} from '../../../layout/build.js'
import type {StagedLayer} from '../../../layout/stage.js'
import {type CompressFormat, inspectLayerFile, layerMediaType} from '../../../layout/layer.js'
import {LayoutError} from '../../../layout/errors.js'

const messages = {
  compressing: (format: string) => `Input file is not compressed. Compressing with ${format}...`,
  cannotInfer: (file: string) => `cannot infer media type for '${file}' (it is neither a tar archive nor gzip or zstd data); use --media-type`,
}

export type AddLayerResult = Pick<StagedLayer, 'annotations' | 'diff_id' | 'digest' | 'media_type' | 'size'>

export default class LayoutAddLayer extends LayoutCommand<typeof LayoutAddLayer, AddLayerResult> {
  static override description = `A gzip or zstd file (recognised by its first bytes) is stored as it is; any other file is compressed on the way with --compress-format (gzip by default; zstd needs the zstd program). The bytes stream from the file to blobs/sha256/, and the digest of the uncompressed content is recorded beside the layer for the config's rootfs.diff_ids.

Without --media-type, the media type follows from the content (tar, tar+gzip, tar+zstd) and, on a terminal, is offered for confirmation; elsewhere it is taken as inferred. Content that is not a tar archive needs --media-type.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image --file ./rootfs.tar',
    '<%= config.bin %> <%= command.id %> --path ./my-image --file ./layer.tar.gz --annotation com.example.layer.role=base',
    '<%= config.bin %> <%= command.id %> --path ./my-image --file ./layer.tar --compress-format zstd',
  ]

  static override flags = {
    path: layoutFlags.path('Root directory of an initialised OCI Image Layout'),
    file: Flags.string({char: 'f', description: 'Path to the layer file', helpValue: 'FILE', required: true}),
    'compress-format': Flags.string({default: 'gzip', description: 'Compression to apply when the input is not already gzip or zstd', options: ['gzip', 'zstd']}),
    'media-type': Flags.string({description: 'Layer media type (default: inferred from the content)', helpValue: 'MEDIA-TYPE'}),
    annotation: layoutFlags.annotation('Annotation on the layer descriptor (repeatable)'),
  }

  static override summary = 'Add a layer to the layout and stage it for the manifest'

  async run(): Promise<AddLayerResult> {
    const {file, path} = this.flags
    const annotations = parseAnnotations(this.flags.annotation)
    const format = this.flags['compress-format'] as CompressFormat
    const layout = await this.openLayout(path)
    const info = await inspectLayerFile(file)
    const inferred = info.compression === 'none' ? (info.tar ? layerMediaType(format) : undefined) : layerMediaType(info.compression)
    let mediaType = this.flags['media-type']
    if (mediaType === undefined) {
      if (inferred === undefined) throw new LayoutError(messages.cannotInfer(file))
      mediaType = inferred
      if (this.interactive) {
        process.stderr.write(`Detected media type for ${file}:\n  ${inferred}\n`)
        const answer = (await this.services.prompter().ask('Accept? [Y/n]:')).trim().toLowerCase()
        if (answer === 'n' || answer === 'no') mediaType = (await this.services.prompter().ask('Enter media type:')).trim() || inferred
      }
    }

    if (info.compression === 'none' && !this.jsonMode) process.stderr.write(`${messages.compressing(format)}\n`)
    const layer = await stageLayer(layout, file, info, {annotations, format, mediaType})
    return {digest: layer.digest, size: layer.size, media_type: layer.media_type, annotations: layer.annotations, diff_id: layer.diff_id}
  }

  protected override renderText(layer: AddLayerResult): string {
    const human = ['Staged layer:', `  digest: ${layer.digest}`, `    size: ${layer.size}`, `    type: ${layer.media_type}`, `  diff-id: ${layer.diff_id}`]
    if (Object.keys(layer.annotations).length > 0) human.push('  annotations:', ...annotationLines(layer.annotations))
    return human.join('\n')
  }
}
