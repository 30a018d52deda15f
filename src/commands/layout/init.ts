import {LayoutCommand, layoutFlags} from '../../command/layout-command.js'
import {initLayout} from '../../layout/build.js'

export interface LayoutInitResult {
  layout_path: string
}

export default class LayoutInit extends LayoutCommand<typeof LayoutInit, LayoutInitResult> {
  static override description = `Creates the directory if needed, the oci-layout marker, blobs/sha256/, an empty index.json and the staging file .regshape-stage.json that the other layout commands build on. A directory that already holds an oci-layout file is refused.`

  static override examples = ['<%= config.bin %> <%= command.id %> --path ./my-image']

  static override flags = {path: layoutFlags.path('Directory path to initialise as an OCI Image Layout')}

  static override summary = 'Initialise a new, empty OCI Image Layout directory'

  async run(): Promise<LayoutInitResult> {
    const layout = await initLayout(this.flags.path)
    return {layout_path: layout.directory}
  }

  protected override renderText(result: LayoutInitResult): string {
    return `Initialised OCI Image Layout at ${result.layout_path}`
  }
}
