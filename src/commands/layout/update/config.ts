import {Flags} from '@oclif/core'

import {LayoutCommand, layoutFlags, parseAnnotations} from '../../../command/layout-command.js'
import {buildMessages, updateConfig} from '../../../layout/build.js'

export interface UpdateConfigResult {
  digest: string
  size: number
  media_type: string
  /** When a generated manifest still names the old config. */
  warning?: string
}

export default class LayoutUpdateConfig extends LayoutCommand<typeof LayoutUpdateConfig, UpdateConfigResult> {
  static override description = `Re-generates the staged config with the fields given (the others keep their values) and stages the new one. The old config's blob is removed only when no manifest in index.json still references it: a generated manifest keeps working (and layout validate passing) until layout generate manifest is run again, which this command reminds you of.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image --architecture arm64',
    '<%= config.bin %> <%= command.id %> --path ./my-image --annotation org.opencontainers.image.vendor=Acme',
    '<%= config.bin %> <%= command.id %> --path ./my-image --annotation org.opencontainers.image.title="My Image" --replace-annotations',
  ]

  static override flags = {
    path: layoutFlags.path('Root directory of an initialised OCI Image Layout'),
    architecture: Flags.string({description: 'New target CPU architecture (default: keep)', helpValue: 'ARCH'}),
    os: Flags.string({description: 'New target OS (default: keep)', helpValue: 'OS'}),
    annotation: layoutFlags.annotation('Label to merge into config.Labels (repeatable)'),
    'replace-annotations': Flags.boolean({description: 'Replace all of config.Labels with the --annotation values'}),
  }

  static override summary = 'Re-generate the staged config with changed fields'

  async run(): Promise<UpdateConfigResult> {
    const {architecture, os} = this.flags
    const labels = this.flags.annotation === undefined ? undefined : parseAnnotations(this.flags.annotation)
    const layout = await this.openLayout(this.flags.path)
    const {config, manifestStale} = await updateConfig(layout, {architecture, labels, os, replaceLabels: this.flags['replace-annotations']})
    if (manifestStale && !this.jsonMode) this.warning(`Warning: ${buildMessages.staleManifest}`)
    return {
      digest: config.digest,
      size: config.size,
      media_type: config.media_type,
      ...(manifestStale ? {warning: buildMessages.staleManifestJson} : {}),
    }
  }

  protected override renderText(config: UpdateConfigResult): string {
    return ['Updated config:', `  digest: ${config.digest}`, `    size: ${config.size}`, `    type: ${config.media_type}`].join('\n')
  }
}
