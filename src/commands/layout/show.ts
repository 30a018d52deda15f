import type {JsonObject} from '../../command/base-command.js'
import {LayoutCommand, layoutFlags} from '../../command/layout-command.js'
import {terminalSafeJson} from '../../util/text.js'
import {reindentJson} from '../../content/json-text.js'

/** index.json as parsed, for --json, and as written, for the text (re-indented, every field kept in order). */
export interface LayoutShowResult {
  index: JsonObject
  text: string
}

export default class LayoutShow extends LayoutCommand<typeof LayoutShow, LayoutShowResult> {
  static override description = `Prints index.json indented by 2, every field kept and in order (it is checked to be an OCI image index first). --json prints it on one line.`

  static override examples = ['<%= config.bin %> <%= command.id %> --path ./my-image']

  static override flags = {path: layoutFlags.path()}

  static override summary = 'Print the index.json of an OCI Image Layout'

  async run(): Promise<LayoutShowResult> {
    const layout = await this.openLayout(this.flags.path)
    const text = (await layout.readIndexBytes()).toString('utf8')
    return {index: JSON.parse(text) as JsonObject, text}
  }

  protected override renderText(result: LayoutShowResult): string {
    return terminalSafeJson(reindentJson(result.text))
  }

  protected override renderJson(result: LayoutShowResult): JsonObject {
    return result.index
  }
}
