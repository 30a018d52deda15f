import {Flags} from '@oclif/core'

import {randomBytes} from 'node:crypto'
import {existsSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

import {RegshapeCommand} from '../command/base-command.js'
import {imageRefFrom, referenceArgs} from '../command/flags.js'
import {RegistryCommand} from '../command/registry-command.js'
import {terminalSafe} from '../util/text.js'
import {RegshapeError, UsageError, describeError} from '../errors.js'
import {scrubSecrets} from '../util/secrets.js'
import {type CaseResult, PROBE_CASES, ProbeStage, type ProbeReport, runProbe} from '../workflows/probe/index.js'

/** The probe's report, with the registry it probed. */
export type ProbeResult = ProbeReport & {registry: string}

export default class Probe extends RegistryCommand<typeof Probe, ProbeResult> {
  static override args = {reference: referenceArgs.image('Scratch repository to probe, host[:port]/repository (a tag or digest is ignored)')}

  // Break mode's flags are not probe's: it brings its own rules, one set per case. (Typed as the
  // parent's so the class still extends it; at run time the flags are simply not there.)
  static override baseFlags = RegshapeCommand.baseFlags as typeof RegistryCommand.baseFlags

  static override description = `Sends the registry, in a scratch repository you name, requests the OCI distribution spec says it must refuse, and reports what it did: a blob with a wrong digest or a corrupted body, an out-of-order chunk, a manifest naming a missing blob, a manifest whose Content-Type contradicts it, one over 4 MiB, an invalid tag, a HEAD of an unknown blob, requests without or with an expired token, a catalog n far past any page size, and a mount from a repository these credentials cannot read. Most cases are a correct request changed by a break-mode rule (docs/break-mode.md).

The probe pushes two small blobs for its cases and removes everything it pushed at the end; what it could not remove is listed. It talks only to the registry named. Exit 0 when the registry behaved as required in every case that ran, 1 otherwise.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/scratch/probe',
    '<%= config.bin %> <%= command.id %> registry.example.com/scratch/probe --case blob-wrong-digest --case auth-missing',
    '<%= config.bin %> <%= command.id %> registry.example.com/scratch/probe --json --junit probe.xml',
  ]

  static override flags = {
    case: Flags.string({description: `Run only this case (repeatable): ${PROBE_CASES.map((c) => c.name).join(', ')}`, helpValue: 'NAME', multiple: true}),
    junit: Flags.string({description: 'Also write the report as JUnit XML to this file', helpValue: 'FILE'}),
  }

  static override summary = 'Report how a registry answers requests it must refuse'

  override async init(): Promise<void> {
    await super.init()
    this.breakStage = new ProbeStage()
  }

  async run(): Promise<ProbeResult> {
    const ref = imageRefFrom(this.args.reference, undefined, {example: 'regshape probe host/scratch-repository'})
    const only = this.flags.case
    if (only) {
      const unknown = only.filter((name) => !PROBE_CASES.some((c) => c.name === name))
      if (unknown.length > 0) throw new UsageError(`no probe case ${unknown.map((n) => JSON.stringify(n)).join(', ')}; the cases are ${PROBE_CASES.map((c) => c.name).join(', ')}`)
    }

    // The report must have somewhere to go before the probe starts: found out afterwards, the
    // whole run would be lost.
    if (this.flags.junit !== undefined) checkJunitWritable(this.flags.junit)
    const repository = await this.repository(ref)
    const report = await runProbe(repository.connection, repository.path, this.breakStage as ProbeStage, only)
    if (this.flags.junit !== undefined) writeJunit(this.flags.junit, junit(report, ref.registry.host))
    return {registry: ref.registry.host, ...report}
  }

  protected override renderText(result: ProbeResult): string {
    return table(result)
  }

  /** Exit 1, once the report is printed, when the registry failed a case. */
  protected override async afterResult(result: ProbeResult): Promise<void> {
    if (result.failed > 0) this.exitWith(1)
  }
}

function outcome(result: CaseResult): string {
  if (!result.got) return '—'
  return `${result.got.status}${result.got.code ? ` ${result.got.code}` : ''}`
}

/** The text report: a table (case, request, expected, got, verdict), then totals and what was left behind. */
function table(report: ProbeReport): string {
  const rows = report.cases.map((r) => [r.name, r.request, r.expected, outcome(r), r.verdict === 'pass' ? 'pass' : r.verdict === 'skip' ? `skip: ${r.detail ?? ''}` : `FAIL${r.detail ? `: ${r.detail}` : ''}`])
  const header = ['CASE', 'REQUEST', 'EXPECTED', 'GOT', 'VERDICT']
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
  const lines = [header, ...rows].map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '))
  lines.push('', `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`)
  if (report.cleanup.left.length > 0) {
    lines.push('Not removed:')
    for (const item of report.cleanup.left) lines.push(`  ${item.what}: ${item.problem}`)
  } else {
    lines.push(`Cleaned up: ${report.cleanup.removed.length} item(s) removed`)
  }

  return lines.map((line) => terminalSafe(line)).join('\n')
}

function xml(text: string): string {
  // A failure's detail quotes what the registry said, which may echo credentials: the file gets
  // the same scrubbing as stdout. Characters XML 1.0 cannot hold at all are dropped; the five
  // special ones are escaped.
  // eslint-disable-next-line no-control-regex
  return scrubSecrets(text).replaceAll(/[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD]/gu, '').replaceAll(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export function junit(report: ProbeReport, registry: string): string {
  const cases = report.cases.map((r) => {
    const attributes = `classname="${xml(`regshape.probe.${registry}`)}" name="${xml(r.name)}"`
    const text = `${r.request}: expected ${r.expected}, got ${outcome(r)}${r.detail ? ` (${r.detail})` : ''}`
    if (r.verdict === 'pass') return `    <testcase ${attributes}/>`
    if (r.verdict === 'skip') return `    <testcase ${attributes}>\n      <skipped message="${xml(r.detail ?? '')}"/>\n    </testcase>`
    return `    <testcase ${attributes}>\n      <failure message="${xml(text)}"/>\n    </testcase>`
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="regshape probe" tests="${report.cases.length}" failures="${report.failed}" skipped="${report.skipped}">`,
    `  <testsuite name="${xml(`${registry}/${report.repository}`)}" tests="${report.cases.length}" failures="${report.failed}" skipped="${report.skipped}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}

/** The temporary file the report is written to, beside the file, and renamed over it. */
function temporaryFor(file: string): {target: string; temporary: string} {
  const target = resolve(file)
  return {target, temporary: join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`)}
}

/** Whether the report can be written where --junit says: a file created there and removed, before any request. */
function checkJunitWritable(file: string): void {
  const {target, temporary} = temporaryFor(file)
  try {
    if (existsSync(target) && statSync(target).isDirectory()) throw Object.assign(new Error('a directory'), {code: 'EISDIR'})
    writeFileSync(temporary, '', {flag: 'wx'})
    rmSync(temporary)
  } catch (error) {
    throw new UsageError(`cannot write --junit ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
  }
}

/** Written whole: a temporary beside the file, renamed over it. */
function writeJunit(file: string, text: string): void {
  const {target, temporary} = temporaryFor(file)
  try {
    writeFileSync(temporary, text, {flag: 'wx'})
    renameSync(temporary, target)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw new RegshapeError(`cannot write --junit ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
  }
}
