import {Flags} from '@oclif/core'

import type {JsonObject} from '../../command/base-command.js'
import {CopyCommand, type CopyReport, copyFlags, copyJson, copyText} from '../../command/copy-command.js'
import {asUsage} from '../../command/flags.js'
import {layoutFlags} from '../../command/layout-command.js'
import type {Descriptor} from '../../content/descriptor.js'
import {parseManifest} from '../../content/manifest.js'
import {OciLayout, REF_NAME, refNameAsTag} from '../../layout/store.js'
import {terminalSafe} from '../../util/text.js'
import {parseImageRef} from '../../reference/image.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {UsageError} from '../../errors.js'

/** --dry-run's result: what would be sent, as text; --json says only from where to where. */
export interface PushPlan {
  layout_path: string
  destination: string
  dry_run: true
  plan: string
}

/** A push's summary (of its last manifest: the earlier ones are printed as each is pushed), or --dry-run's plan. */
export type LayoutPushResult = CopyReport | PushPlan

export default class LayoutPush extends CopyCommand<typeof LayoutPush, LayoutPushResult> {
  static override baseFlags = {
    ...RegistryCommand.baseFlags,
    // -p is --path in the layout group (registry.md §1, short-option collisions).
    password: Flags.string({description: 'Password (long form only here: -p is --path)', helpGroup: 'GLOBAL'}),
  }

  static override description = `Pushes the manifests of a layout's index.json to a repository, through the same code as 'regshape copy oci:DIR:TAG host/repository:TAG': blobs the registry has are skipped (unless --force), the others stream from the layout, verified; children go before their parents and each tag last.

With a tag in --dest, the layout must hold one manifest, pushed under that tag; without, each manifest goes under its org.opencontainers.image.ref.name (or only by digest when it has none).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --path ./my-image --dest registry.example.com/team/app:1.0',
    '<%= config.bin %> <%= command.id %> -p ./my-image -d registry.example.com/team/app',
  ]

  static override flags = {
    ...copyFlags,
    path: layoutFlags.path('Root directory of the OCI Image Layout to push'),
    dest: Flags.string({char: 'd', description: 'Destination, host[:port]/repository[:tag]', helpValue: 'REF', required: true}),
    'dry-run': Flags.boolean({default: false, description: 'Check the layout and print what would be pushed, without a request'}),
    force: Flags.boolean({default: false, description: 'Send every blob and manifest, without asking whether the registry has it'}),
    referrers: Flags.boolean({default: false, description: 'Also push the referrers index.json lists for the manifests pushed'}),
  }

  static override summary = 'Push an OCI image layout to a registry'

  async run(): Promise<LayoutPushResult> {
    const {dest, 'dry-run': dryRun, force, path, referrers} = this.flags
    const target = asUsage(() => parseImageRef(dest))
    if (target.digest !== undefined) throw new UsageError('--dest takes host[:port]/repository[:tag]; a digest is the manifest\'s own')
    const layout = await OciLayout.open(path)
    const {manifests} = await layout.readIndex()
    if (manifests.length === 0) throw new UsageError(`the layout at ${path} has no manifest in index.json: nothing to push`)
    if (target.tag !== undefined && manifests.length > 1) {
      throw new UsageError(`--dest names tag ${target.tag}, but the layout at ${path} holds ${manifests.length} manifests: one tag cannot name them all; give --dest without a tag`)
    }

    // Each ref.name becomes a tag: all are checked before the first request.
    if (target.tag === undefined) for (const entry of manifests) refNameAsTag(entry, path)
    if (dryRun) return {layout_path: path, destination: dest, dry_run: true, plan: await this.plan(layout, manifests, dest, target.tag)}
    let report: CopyReport | undefined
    for (const entry of manifests) {
      // Each summary but the last is printed as the next push begins (nothing comes between), so
      // that a later failure cannot lose it; the last is run()'s result.
      if (report) this.printResult(report)
      const name = entry.annotations?.[REF_NAME]
      const source = {kind: 'layout' as const, ref: {digest: name === undefined || target.tag !== undefined ? entry.digest : undefined, input: path, path, tag: target.tag === undefined ? name : undefined}}
      const tag = target.tag ?? name
      const destination = {kind: 'registry' as const, ref: {...target, tag}}
      report = this.report(source, destination, await this.copy(source, destination, {force, referrers}))
    }

    return report as CopyReport
  }

  protected override renderText(result: LayoutPushResult): string {
    return 'plan' in result ? result.plan : copyText(result)
  }

  protected override renderJson(result: LayoutPushResult): JsonObject {
    if (!('plan' in result)) return copyJson(result)
    const {plan: _plan, ...json} = result
    return json
  }

  /** What a push would send (every blob, as no HEAD is made), children before parents, read and verified from the layout. */
  private async plan(layout: OciLayout, manifests: Descriptor[], dest: string, tag: string | undefined): Promise<string> {
    const lines = [`[dry-run] Layout ${layout.path} -> ${dest}`, '']
    const seen = new Set<string>()
    const walk = async (descriptor: Descriptor): Promise<void> => {
      if (seen.has(descriptor.digest)) return
      seen.add(descriptor.digest)
      const manifest = parseManifest(await layout.readJsonBlob(descriptor.digest), descriptor.mediaType)
      if (manifest.kind === 'index') {
        for (const child of manifest.manifests) await walk(child)
      } else {
        for (const blob of [manifest.config, ...manifest.layers]) {
          if (seen.has(blob.digest)) continue
          seen.add(blob.digest)
          await layout.headBlob(blob.digest)
          lines.push(`[dry-run] Would upload blob ${blob.digest} (${blob.size} bytes)`)
        }
      }

      lines.push(`[dry-run] Would push manifest ${descriptor.digest}`)
    }

    for (const entry of manifests) {
      await walk(entry)
      const name = tag ?? entry.annotations?.[REF_NAME]
      if (name !== undefined) lines.push(`[dry-run] Would tag ${entry.digest} as '${terminalSafe(name)}'`)
    }

    return lines.join('\n')
  }
}
