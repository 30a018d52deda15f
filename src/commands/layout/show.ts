import {LayoutCommand, layoutFlags} from '../../command/layout-command.js'
import {terminalSafeJson} from '../../util/text.js'
import {reindentJson} from '../../content/json-text.js'

export default class LayoutShow extends LayoutCommand<typeof LayoutShow> {
  static override description = `Prints index.json indented by 2, every field kept and in order (it is checked to be an OCI image index first). --json prints it on one line.`

  static override examples = ['<%= config.bin %> <%= command.id %> --path ./my-image']

  static override flags = {path: layoutFlags.path()}

  static override summary = 'Print the index.json of an OCI Image Layout'

  async run(): Promise<void> {
    const layout = await this.openLayout(this.flags.path)
    const text = (await layout.readIndexBytes()).toString('utf8')
    this.emitResult(terminalSafeJson(reindentJson(text)), JSON.parse(text) as Record<string, unknown>)
  }
}
