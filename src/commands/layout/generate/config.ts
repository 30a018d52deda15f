import {Flags} from '@oclif/core'

import {LayoutCommand, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {MediaType} from '../../../content/media-types.js'
import {generateConfig} from '../../../layout/build.js'
import type {StagedConfig} from '../../../layout/stage.js'

export type GenerateConfigResult = Pick<StagedConfig, 'digest' | 'media_type' | 'size'>

export default class LayoutGenerateConfig extends LayoutCommand<typeof LayoutGenerateConfig, GenerateConfigResult> {
  static override description = `Builds an OCI image config from the staged layers: architecture, os, rootfs.diff_ids (the digests of the uncompressed layers, as the image spec requires) and, from --annotation, config.Labels. The config goes to blobs/sha256/ and is staged for layout generate manifest; a config staged before is replaced (its blob removed unless a manifest still references it).

On a terminal, --architecture, --os and --media-type that are not given are asked for, with amd64, linux and the OCI config type offered; elsewhere those defaults are taken.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image',
    '<%= config.bin %> <%= command.id %> --path ./my-image --architecture arm64 --os linux --annotation org.opencontainers.image.version=1.0.0',
  ]

  static override flags = {
    path: layoutFlags.path('Root directory of an initialised OCI Image Layout'),
    architecture: Flags.string({description: 'Target CPU architecture (default amd64)', helpValue: 'ARCH'}),
    os: Flags.string({description: 'Target operating system (default linux)', helpValue: 'OS'}),
    'media-type': Flags.string({description: `Config media type (default ${MediaType.OciConfig})`, helpValue: 'MEDIA-TYPE'}),
    annotation: layoutFlags.annotation('Label embedded in the config JSON (config.Labels; repeatable)'),
  }

  static override summary = 'Generate the image config from the staged layers'

  async run(): Promise<GenerateConfigResult> {
    const labels = parseAnnotations(this.flags.annotation)
    const layout = await this.openLayout(this.flags.path)
    const ask = async (given: string | undefined, question: string, fallback: string) => given ?? (this.interactive ? this.askWithDefault(question, fallback) : fallback)
    const architecture = await ask(this.flags.architecture, 'Architecture', 'amd64')
    const os = await ask(this.flags.os, 'OS', 'linux')
    const mediaType = await ask(this.flags['media-type'], 'Config media type', MediaType.OciConfig)
    const config = await generateConfig(layout, {architecture, labels, mediaType, os})
    return {digest: config.digest, size: config.size, media_type: config.media_type}
  }

  protected override renderText(config: GenerateConfigResult): string {
    return ['Generated config:', `  digest: ${config.digest}`, `    size: ${config.size}`, `    type: ${config.media_type}`].join('\n')
  }
}
