import {resolve} from 'node:path'

import {LayoutCommand, layoutFlags} from '../../command/layout-command.js'
import {validateLayout} from '../../layout/validate.js'

export interface LayoutValidateResult {
  layout_path: string
  valid: true
  manifests: number
  blobs: number
  bytes: number
}

export default class LayoutValidate extends LayoutCommand<typeof LayoutValidate, LayoutValidateResult> {
  static override description = `Checks the oci-layout marker, that index.json is an OCI image index, and every blob reachable from it: each manifest and index parsed and followed, each blob present, of its descriptor's size, and hashing to its digest (streamed, whatever the size). The first violation is reported, naming the blob and what references it, with exit 1.`

  static override examples = ['<%= config.bin %> <%= command.id %> --path ./my-image']

  static override flags = {path: layoutFlags.path('Root directory of an OCI Image Layout to validate')}

  static override summary = 'Validate the structure and content of an OCI Image Layout'

  async run(): Promise<LayoutValidateResult> {
    const {path} = this.flags
    const report = await validateLayout(path)
    return {layout_path: resolve(path), valid: true, manifests: report.manifests, blobs: report.blobs, bytes: report.bytes}
  }

  protected override renderText(result: LayoutValidateResult): string {
    return `Layout at ${result.layout_path} is valid.`
  }
}
