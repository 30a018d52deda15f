import type {JsonObject} from '../../command/base-command.js'
import {LayoutCommand, layoutFlags} from '../../command/layout-command.js'
import {type IndexJson, REF_NAME} from '../../layout/store.js'
import {STAGE_FILE, type Stage, readStageIfAny} from '../../layout/stage.js'
import {terminalSafe} from '../../util/text.js'

/** The staging file (none for a layout another tool wrote) and index.json; --json prints the staging file. */
export interface LayoutStatusResult {
  directory: string
  stage: Stage | undefined
  index: IndexJson
}

export default class LayoutStatus extends LayoutCommand<typeof LayoutStatus, LayoutStatusResult> {
  static override description = `Shows what ${STAGE_FILE} records (staged layers, generated config, generated manifest) and the manifests index.json names. A layout another tool wrote (skopeo copy to oci:DIR) has no staging file: its index.json entries are shown, with the staging state empty. --json prints the staging file as it is (upstream's output), or, without one, {"staged": false, ...}.`

  static override examples = ['<%= config.bin %> <%= command.id %> --path ./my-image']

  static override flags = {path: layoutFlags.path()}

  static override summary = 'Show the staging state and the manifests of a layout'

  async run(): Promise<LayoutStatusResult> {
    const layout = await this.openLayout(this.flags.path)
    const stage = await readStageIfAny(layout)
    const index = await layout.readIndex()
    return {directory: layout.directory, stage, index}
  }

  protected override renderText({directory, index, stage}: LayoutStatusResult): string {
    const describe = (entry: {digest: string; media_type: string; size: number}) => `${entry.digest} (${entry.size} bytes, ${terminalSafe(entry.media_type)})`
    const width = Math.max(0, ...(stage?.layers ?? []).map((layer) => String(layer.size).length))
    const lines = [`Staging state for ${directory}:`, '']
    if (stage) {
      lines.push(`  Layers (${stage.layers.length}):`)
      for (const [position, layer] of stage.layers.entries()) {
        lines.push(`    [${position}] ${layer.digest} (${String(layer.size).padStart(width)} bytes, ${terminalSafe(layer.media_type)})`)
      }

      lines.push('', '  Config:', `    ${stage.config ? describe(stage.config) : '(not yet generated)'}`)
      lines.push('', '  Manifest:', `    ${stage.manifest ? describe(stage.manifest) : '(not yet generated)'}`)
    } else {
      lines.push(`  No staging file (${STAGE_FILE}): this layout was not built with 'layout init'.`)
    }

    lines.push('', `  index.json (${index.manifests.length}):`)
    for (const entry of index.manifests) {
      const name = entry.annotations?.[REF_NAME]
      lines.push(`    ${entry.digest} (${entry.size} bytes, ${terminalSafe(entry.mediaType)})${name === undefined ? '' : ` ${terminalSafe(name)}`}`)
    }

    return lines.join('\n')
  }

  protected override renderJson({stage}: LayoutStatusResult): JsonObject {
    return stage ? {...stage} : {staged: false, layers: [], config: null, manifest: null}
  }
}
