import {Flags} from '@oclif/core'

import {LayoutCommand, annotationLines, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {annotateManifest} from '../../../layout/build.js'
import {REF_NAME} from '../../../layout/store.js'

export default class LayoutAnnotateManifest extends LayoutCommand<typeof LayoutAnnotateManifest> {
  static override description = `Reads the generated manifest, merges the annotations into its own annotations (--replace: replaces them all) and stores the result, which is a new manifest with a new digest: it takes the old one's index.json entry (its ref.name kept), and the old manifest's blob is removed unless something else still references it.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image --annotation org.opencontainers.image.version=1.0.0',
    '<%= config.bin %> <%= command.id %> --path ./my-image --annotation org.opencontainers.image.title="My Image" --replace',
  ]

  static override flags = {
    path: layoutFlags.path('Root directory of an initialised OCI Image Layout'),
    annotation: layoutFlags.annotation('Manifest annotation to add (repeatable)', true),
    replace: Flags.boolean({description: "Replace all of the manifest's annotations instead of merging"}),
  }

  static override summary = 'Add or replace annotations on the generated manifest'

  async run(): Promise<void> {
    const annotations = parseAnnotations(this.flags.annotation)
    const layout = await this.openLayout(this.flags.path)
    const {descriptor, manifest} = await annotateManifest(layout, annotations, this.flags.replace)
    const refName = descriptor.annotations?.[REF_NAME]
    const manifestAnnotations = manifest.annotations
    const human = ['Updated manifest:', `      digest: ${descriptor.digest}`, `        size: ${descriptor.size}`, `  media-type: ${descriptor.mediaType}`]
    if (refName !== undefined) human.push(`    ref-name: ${refName}`)
    if (Object.keys(manifestAnnotations).length > 0) human.push('  annotations:', ...annotationLines(manifestAnnotations))
    this.emitResult(human.join('\n'), {
      digest: descriptor.digest,
      size: descriptor.size,
      media_type: descriptor.mediaType,
      ref_name: refName ?? null,
      annotations: {...manifestAnnotations, ...(refName === undefined ? {} : {[REF_NAME]: refName})},
    })
  }
}
