import {Flags} from '@oclif/core'

import {imageRefFrom, referenceArgs, referenceFlags} from '../../command/flags.js'
import {RegistryCommand, safeLines} from '../../command/registry-command.js'

/** The tags of a repository, as the registry's tags/list names them. */
export interface TagListResult {
  name: string
  tags: string[]
}

export default class TagList extends RegistryCommand<typeof TagList, TagListResult> {
  static override args = {reference: referenceArgs.image('Repository reference, host[:port]/repository (a tag or digest is ignored)')}

  static override description = `Prints one tag per line, following the registry's Link pagination to the last page. --n alone asks for one page of n tags (after --last, if given); --all with --n walks every page of n. A Link that repeats a page, or points to another host, is an error.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app',
    '<%= config.bin %> <%= command.id %> -i registry.example.com/team/app --n 10 --last v1.5',
    '<%= config.bin %> <%= command.id %> registry.example.com/team/app --json',
  ]

  static override flags = {
    'image-ref': referenceFlags.imageRef('Repository reference with embedded registry (e.g. registry/repo; a tag is ignored)'),
    n: Flags.integer({description: 'Tags per page; without --all, one page of this many', min: 1}),
    last: Flags.string({description: 'Start after this tag (pagination cursor)'}),
    all: Flags.boolean({description: 'With --n: follow every page of n (the default without --n)'}),
    output: referenceFlags.output(),
  }

  static override summary = 'List the tags of a repository'

  async run(): Promise<TagListResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape tag list host/repository'})
    const {all, last, n} = this.flags
    const repository = await this.repository(ref)
    const list = await repository.tags({follow: all || n === undefined, last, n})
    return {name: list.name, tags: list.tags}
  }

  protected override outputFile(): string | undefined {
    return this.flags.output
  }

  protected override renderText(result: TagListResult): string {
    return safeLines(result.tags)
  }
}
