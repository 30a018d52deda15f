import {Args, Flags} from '@oclif/core'

import {basename} from 'node:path'

import {RegshapeCommand, writeResultFile} from '../../command/base-command.js'
import {UsageError} from '../../errors.js'
import {readRegularFile} from '../../util/files.js'
import {terminalSafe} from '../../util/text.js'
import {type Matrix, compare, htmlMatrix, markdown, notAReport} from '../../workflows/probe/compare.js'

/** A probe report of 10,000 cases is a few MiB: anything past this is not one. */
const MAX_REPORT_BYTES = 64 * 1024 * 1024

export type CompareResult = Matrix

export default class ProbeCompare extends RegshapeCommand<typeof ProbeCompare, CompareResult> {
  static override args = {reports: Args.string({description: 'Two or more `regshape probe --json` reports', required: true})}

  static override description = `Reads the --json reports of several probe runs (one per registry) and prints a compatibility matrix: one row per case, grouped by area, with its level, and one column per registry (pass, fail, skip or disabled; — where a report lacks the case), then how many MUST cases each registry passed. Markdown on stdout, or one self-contained HTML page with --html.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> distribution.json zot.json harbor.json',
    '<%= config.bin %> <%= command.id %> distribution.json zot.json --html matrix.html',
  ]

  static override flags = {
    html: Flags.string({description: 'Also write the matrix as one self-contained HTML page', helpValue: 'FILE'}),
  }

  static override strict = false

  static override summary = 'Compare several registries\' probe reports'

  async run(): Promise<CompareResult> {
    // Every argument is a report (strict: false), which oclif's parse hands back in argv.
    const {argv} = await this.parse({args: this.ctor.args, baseFlags: this.ctor.baseFlags, enableJsonFlag: false, flags: this.ctor.flags, strict: false})
    const files = argv as string[]
    if (files.length < 2) throw new UsageError('probe compare needs two or more reports (regshape probe --json > FILE)')
    const reports = []
    for (const file of files) {
      let text: string
      try {
        text = (await readRegularFile(file, MAX_REPORT_BYTES)).bytes.toString('utf8')
      } catch (error) {
        const {code, message} = error as NodeJS.ErrnoException
        throw new UsageError(`cannot read ${file}: ${code ?? message}`)
      }

      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        throw new UsageError(`${file}: not JSON`)
      }

      const why = notAReport(parsed)
      if (why) throw new UsageError(`${file}: ${why}`)
      reports.push({file: basename(file), report: parsed as Parameters<typeof compare>[0][number]['report']})
    }

    const matrix = compare(reports)
    if (this.flags.html !== undefined) writeResultFile(this.flags.html, htmlMatrix(matrix))
    return matrix
  }

  protected override renderText(result: CompareResult): string {
    return markdown(result)
      .split('\n')
      .map((line) => terminalSafe(line))
      .join('\n')
  }
}
