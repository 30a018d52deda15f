import {Flags} from '@oclif/core'

import {LayoutCommand, annotationLines, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {annotateLayer} from '../../../layout/build.js'

export interface AnnotateLayerResult {
  index: number
  digest: string
  media_type: string
  annotations: Record<string, string>
}

export default class LayoutAnnotateLayer extends LayoutCommand<typeof LayoutAnnotateLayer, AnnotateLayerResult> {
  static override description = `Looks the layer up by its 0-based index (as layout status shows it) and merges the annotations into its staged descriptor (--replace: replaces them all). The blob is not changed; the annotations reach the manifest's layers at the next layout generate manifest.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image --index 0 --annotation org.opencontainers.image.created=2026-03-08',
    '<%= config.bin %> <%= command.id %> --path ./my-image --index 1 --annotation com.example.role=patches --replace',
  ]

  static override flags = {
    path: layoutFlags.path('Root directory of an initialised OCI Image Layout'),
    index: Flags.integer({char: 'i', description: '0-based index of the staged layer to annotate (see layout status)', helpValue: 'N', min: 0, required: true}),
    annotation: layoutFlags.annotation('Annotation to add (repeatable)', true),
    replace: Flags.boolean({description: 'Replace all existing annotations on this layer instead of merging'}),
  }

  static override summary = 'Add or replace annotations on a staged layer'

  async run(): Promise<AnnotateLayerResult> {
    const annotations = parseAnnotations(this.flags.annotation)
    const layout = await this.openLayout(this.flags.path)
    const {index} = this.flags
    const layer = await annotateLayer(layout, index, annotations, this.flags.replace)
    return {index, digest: layer.digest, media_type: layer.media_type, annotations: layer.annotations}
  }

  protected override renderText(layer: AnnotateLayerResult): string {
    return [`Updated layer [${layer.index}]:`, `  digest: ${layer.digest}`, `    type: ${layer.media_type}`, '  annotations:', ...annotationLines(layer.annotations)].join('\n')
  }
}
