import {Flags} from '@oclif/core'

import {referenceArgs, referenceFlags, registryFrom} from '../../command/flags.js'
import {RegistryCommand, safeLines} from '../../command/registry-command.js'
import {listCatalog} from '../../registry/registry.js'
import {UsageError} from '../../errors.js'

const messages = {
  allWithLast: '--all and --last are mutually exclusive',
}

export interface CatalogListResult {
  repositories: string[]
}

export default class CatalogList extends RegistryCommand<typeof CatalogList, CatalogListResult> {
  static override args = {registry: referenceArgs.registry()}

  static override description = `Prints one repository per line: one page (the registry's default size, or --n), or with --all every page, following the registry's Link headers. A Link that repeats a page, or points to another host, is an error.

Exits 3 when the registry does not offer the catalog API (404 or 405), 1 on other failures.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com',
    '<%= config.bin %> <%= command.id %> -r registry.example.com --n 50 --last team/other',
    '<%= config.bin %> <%= command.id %> -r registry.example.com --all -o repos.txt',
  ]

  static override flags = {
    registry: referenceFlags.registry(),
    n: Flags.integer({description: 'Repositories per page (the OCI n parameter)', min: 1}),
    last: Flags.string({description: 'Start after this repository (pagination cursor)'}),
    all: Flags.boolean({description: 'Fetch every page and merge them; not with --last'}),
    output: referenceFlags.output(),
  }

  static override summary = 'List the repositories of a registry'

  async run(): Promise<CatalogListResult> {
    const {all, last, n} = this.flags
    const registry = registryFrom(this.args.registry, this.flags.registry, 'regshape catalog list host')
    if (all && last !== undefined) throw new UsageError(messages.allWithLast)
    const {repositories} = await listCatalog(await this.connection(registry), registry.input, {follow: all, last, n})
    return {repositories}
  }

  protected override outputFile(): string | undefined {
    return this.flags.output
  }

  protected override renderText(result: CatalogListResult): string {
    return safeLines(result.repositories)
  }
}
