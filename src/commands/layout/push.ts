import {Flags} from '@oclif/core'

import {CopyCommand, copyFlags} from '../../command/copy-command.js'
import {layoutFlags} from '../../command/layout-command.js'
import {OciLayout, REF_NAME} from '../../layout/store.js'
import {parseImageRef} from '../../reference/image.js'
import {RegistryCommand} from '../../command/registry-command.js'
import {UsageError} from '../../services/errors.js'

export default class LayoutPush extends CopyCommand<typeof LayoutPush> {
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
    force: Flags.boolean({default: false, description: 'Send every blob and manifest, without asking whether the registry has it'}),
    referrers: Flags.boolean({default: false, description: 'Also push the referrers index.json lists for the manifests pushed'}),
  }

  static override summary = 'Push an OCI image layout to a registry'

  async run(): Promise<void> {
    const {dest, force, path, referrers} = this.flags
    const target = parseImageRef(dest)
    if (target.digest !== undefined) throw new UsageError('--dest takes host[:port]/repository[:tag]; a digest is the manifest\'s own')
    const layout = await OciLayout.open(path)
    const {manifests} = await layout.readIndex()
    if (manifests.length === 0) throw new UsageError(`the layout at ${path} has no manifest in index.json: nothing to push`)
    if (target.tag !== undefined && manifests.length > 1) {
      throw new UsageError(`--dest names tag ${target.tag}, but the layout at ${path} holds ${manifests.length} manifests: one tag cannot name them all; give --dest without a tag`)
    }

    for (const entry of manifests) {
      const name = entry.annotations?.[REF_NAME]
      const source = {kind: 'layout' as const, ref: {digest: name === undefined || target.tag !== undefined ? entry.digest : undefined, input: path, path, tag: target.tag === undefined ? name : undefined}}
      const tag = target.tag ?? name
      const destination = {kind: 'registry' as const, ref: {...target, tag}}
      const result = await this.copy(source, destination, {force, referrers})
      this.report(source, destination, result)
    }
  }
}
