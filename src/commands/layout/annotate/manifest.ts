import {Flags} from '@oclif/core'

import type {JsonObject} from '../../../command/base-command.js'
import {LayoutCommand, annotationLines, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {annotateManifest} from '../../../layout/build.js'
import {REF_NAME} from '../../../layout/store.js'

/** The new manifest; annotations are its own, and --json adds the ref name its index.json entry carries. */
export interface AnnotateManifestResult {
  digest: string
  size: number
  media_type: string
  ref_name: null | string
  annotations: Record<string, string>
}

export default class LayoutAnnotateManifest extends LayoutCommand<typeof LayoutAnnotateManifest, AnnotateManifestResult> {
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

  async run(): Promise<AnnotateManifestResult> {
    const annotations = parseAnnotations(this.flags.annotation)
    const layout = await this.openLayout(this.flags.path)
    const {descriptor, manifest} = await annotateManifest(layout, annotations, this.flags.replace)
    return {
      digest: descriptor.digest,
      size: descriptor.size,
      media_type: descriptor.mediaType,
      ref_name: descriptor.annotations?.[REF_NAME] ?? null,
      annotations: manifest.annotations,
    }
  }

  protected override renderText(result: AnnotateManifestResult): string {
    const human = ['Updated manifest:', `      digest: ${result.digest}`, `        size: ${result.size}`, `  media-type: ${result.media_type}`]
    if (result.ref_name !== null) human.push(`    ref-name: ${result.ref_name}`)
    if (Object.keys(result.annotations).length > 0) human.push('  annotations:', ...annotationLines(result.annotations))
    return human.join('\n')
  }

  protected override renderJson(result: AnnotateManifestResult): JsonObject {
    return {...result, annotations: {...result.annotations, ...(result.ref_name === null ? {} : {[REF_NAME]: result.ref_name})}}
  }
}
