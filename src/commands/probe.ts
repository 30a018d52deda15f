import {Flags} from '@oclif/core'

import {randomBytes} from 'node:crypto'
import {existsSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

import type {ImageRef} from '../reference/image.js'

import {RegshapeCommand} from '../command/base-command.js'
import {asUsage, referenceArgs} from '../command/flags.js'
import {RegistryCommand} from '../command/registry-command.js'
import {parseImageRef} from '../reference/image.js'
import {RegistryConnection} from '../registry/connection.js'
import {terminalSafe} from '../util/text.js'
import {RegshapeError, UsageError, describeError} from '../errors.js'
import {rememberCredentials, rememberSecret, scrubSecrets} from '../util/secrets.js'
import {AREAS, AREA_TITLES, type Area, LEVELS, type Level, PROBE_CASES, type ProbeCase, type ProbeReport, ProbeStage, runProbe, selectCases} from '../workflows/probe/index.js'
import {loadProbeConfig, parseSize, type ProbeConfig} from '../workflows/probe/config.js'
import {pluginCases} from '../workflows/probe/plugin.js'
import {htmlReport, junit, mustFailures, outcomeText, verdictText} from '../workflows/probe/report.js'

/** The probe's report, with the registry it probed. */
export type ProbeResult = ProbeReport & {registry: string}

/** The oclif hook a plugin adds probe cases through (docs/plugins.md). */
export const PROBE_CASES_HOOK = 'regshape:probe-cases'

const DEFAULT_LARGE_BLOB = 64 * 1024 * 1024

export default class Probe extends RegistryCommand<typeof Probe, ProbeResult> {
  static override args = {reference: referenceArgs.image('Scratch repository to probe, host[:port]/repository (a tag or digest is ignored); with --read-only, --image names it')}

  // Break mode's flags are not probe's: it brings its own rules, one set per case. (Typed as the
  // parent's so the class still extends it; at run time the flags are simply not there.)
  static override baseFlags = RegshapeCommand.baseFlags as typeof RegistryCommand.baseFlags

  static override description = `The registry conformance and security suite: pull, push, content discovery, content management, refusals, auth and robustness, ${PROBE_CASES.length} cases, each naming the spec section it checks and its level (MUST, SHOULD, MAY), what it sends, what the spec requires and what the registry did.

The probe writes only to the scratch repository you name (and, for the mount cases, to --mount-source, <repository>/mount-source by default), and removes everything it pushed at the end; what it could not remove is listed. It talks only to the registry named. A case that cannot apply (no auth, no referrers API, deletes switched off, --read-only) is a skip with its reason. Exit 0 only when every selected MUST case passed, 1 otherwise.

--read-only --image R/repo:tag only reads, of content already there (for mirrors and production registries). --reader-username and --reader-password give a second, read-only identity: a push, a delete, a mount and a catalog read with it must be refused. A config file (--config probe.yaml) holds everything a flag can say. Plugins add cases through @regshape/sdk/probe.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com/scratch/probe',
    '<%= config.bin %> <%= command.id %> registry.example.com/scratch/probe --area pull --area push --level must',
    "<%= config.bin %> <%= command.id %> registry.example.com/scratch/probe --case 'pull-blob-range-*' --skip robust-large-blob",
    '<%= config.bin %> <%= command.id %> --read-only --image registry.example.com/library/alpine:3.20',
    '<%= config.bin %> <%= command.id %> --config probe.yaml --json --junit probe.xml --html probe.html',
  ]

  static override flags = {
    area: Flags.string({description: 'Run only the cases of this area (repeatable)', multiple: true, options: [...AREAS]}),
    case: Flags.string({description: 'Run only the cases whose name matches this glob (repeatable; * and ?)', helpValue: 'GLOB', multiple: true}),
    config: Flags.string({description: 'A YAML (or JSON) file of probe settings, keyed by these flags\' names; flags win over it', helpValue: 'FILE'}),
    html: Flags.string({description: 'Also write the report as one self-contained HTML page', helpValue: 'FILE'}),
    image: Flags.string({description: 'With --read-only: the image the cases read, host[:port]/repository:tag or @digest', helpValue: 'REF'}),
    junit: Flags.string({description: 'Also write the report as JUnit XML to this file', helpValue: 'FILE'}),
    'large-blob-size': Flags.string({description: 'Size of the blob robust-large-blob round-trips (default 64MiB)', helpValue: 'SIZE'}),
    level: Flags.string({description: 'Run only cases of this level and stricter: must (MUST only), should (MUST and SHOULD), may (all)', options: ['must', 'should', 'may']}),
    'mount-source': Flags.string({description: 'The repository the mount cases mount from (default: <repository>/mount-source)', helpValue: 'REPOSITORY'}),
    'read-only': Flags.boolean({description: 'Only read, content already there (--image): no case that writes runs'}),
    'reader-password': Flags.string({description: 'Password of the read-only identity (or reader-password-env in --config)', helpValue: 'PASSWORD'}),
    'reader-username': Flags.string({description: 'A second, read-only identity: the rights cases check it may not push, delete, mount or list the catalog', helpValue: 'USERNAME'}),
    skip: Flags.string({description: 'Leave out the cases whose name matches this glob (repeatable)', helpValue: 'GLOB', multiple: true}),
  }

  static override summary = 'Check a registry against the OCI distribution spec, and what it must refuse'

  override async init(): Promise<void> {
    await super.init()
    this.breakStage = new ProbeStage()
    // The probe reports what the registry did: a 429 or a 503 retried behind its back would hide
    // it. Retries stay off unless --retries says otherwise.
    if (!this.argv.some((arg) => arg === '--retries' || arg.startsWith('--retries='))) this.flags.retries = 0
    rememberSecret(this.flags['reader-password'])
  }

  async run(): Promise<ProbeResult> {
    const config: ProbeConfig = this.flags.config === undefined ? {} : await loadProbeConfig(this.flags.config)
    const setting = <K extends keyof ProbeConfig>(flag: K): ProbeConfig[K] => ((this.flags as Record<string, unknown>)[flag] as ProbeConfig[K]) ?? config[flag]
    // Settings a file may hold for the shared flags: read before the first request builds the transport.
    this.flags.insecure ||= config.insecure === true
    this.flags['ca-file'] ??= config['ca-file']

    const readOnly = this.flags['read-only'] || config['read-only'] === true
    const imageInput = setting('image')
    if (readOnly && imageInput === undefined) throw new UsageError('--read-only needs --image REF: the content the cases read')
    if (!readOnly && imageInput !== undefined) throw new UsageError('--image is for --read-only runs (otherwise the probe pushes the content it reads)')
    const image = imageInput === undefined ? undefined : asUsage(() => parseImageRef(imageInput))
    if (image && image.tag === undefined && image.digest === undefined) throw new UsageError('--image needs a tag or a digest: host/repository:tag')
    const ref = this.scratchRepository(this.args.reference ?? config.repository, image)

    const readerUsername = setting('reader-username')
    let readerPassword = this.flags['reader-password']
    const passwordEnv = config['reader-password-env']
    if (readerPassword === undefined && passwordEnv !== undefined) {
      readerPassword = process.env[passwordEnv]
      if (readerPassword === undefined) throw new UsageError(`--config: reader-password-env names ${passwordEnv}, which is not set`)
    }

    if ((readerUsername === undefined) !== (readerPassword === undefined)) throw new UsageError('--reader-username and --reader-password go together')
    rememberCredentials({password: readerPassword, username: readerUsername})

    const largeBlob = setting('large-blob-size')
    const largeBlobBytes = largeBlob === undefined ? DEFAULT_LARGE_BLOB : parseSize(largeBlob, '--large-blob-size')
    const mountSource = setting('mount-source') ?? `${ref.repository}/mount-source`
    asUsage(() => parseImageRef(`${ref.registry.host}/${mountSource}`))

    const plugins = await this.pluginCases()
    const levelFlag = setting('level')
    const {selected, unmatched} = selectCases([...PROBE_CASES, ...plugins], {
      areas: setting('area') as Area[] | undefined,
      cases: setting('case'),
      level: levelFlag === undefined ? undefined : (levelFlag.toUpperCase() as Level),
      skip: setting('skip'),
    })
    if (unmatched.length > 0) {
      throw new UsageError(`no probe case matches ${unmatched.map((n) => JSON.stringify(n)).join(', ')}; the cases are ${[...PROBE_CASES, ...plugins].map((c) => c.name).join(', ')}`)
    }

    if (selected.length === 0) throw new UsageError('the selection (--area, --case, --skip, --level) leaves no case to run')

    // The reports must have somewhere to go before the probe starts: found out afterwards, the
    // whole run would be lost.
    const junitFile = setting('junit')
    const htmlFile = setting('html')
    if (junitFile !== undefined) checkWritable(junitFile, '--junit')
    if (htmlFile !== undefined) checkWritable(htmlFile, '--html')

    const repository = await this.repository(ref)
    const credentials = async () => (await this.resolveCredentials(ref.registry)).credentials
    const reader =
      readerUsername === undefined
        ? undefined
        : new RegistryConnection((await this.services.transport()).fork(), ref.registry, async () => ({password: readerPassword, username: readerUsername}), true)
    let report: ProbeReport
    try {
      report = await this.step('probe', () =>
        runProbe({
          cases: selected,
          connection: repository.connection,
          credentials,
          image: image && {reference: image.digest ?? image.tag!, repository: image.repository},
          largeBlobBytes,
          mountSource,
          readOnly,
          reader,
          repository: ref.repository,
          stage: this.breakStage as ProbeStage,
        }),
      )
    } finally {
      reader?.close()
    }

    if (junitFile !== undefined) writeWhole(junitFile, junit(report, ref.registry.host), '--junit')
    if (htmlFile !== undefined) writeWhole(htmlFile, htmlReport(report, ref.registry.host), '--html')
    return {registry: ref.registry.host, ...report}
  }

  protected override renderText(result: ProbeResult): string {
    return table(result)
  }

  /** Exit 1, once the report is printed, when a MUST case failed. */
  protected override async afterResult(result: ProbeResult): Promise<void> {
    if (mustFailures(result).length > 0) this.exitWith(1)
  }

  /** The scratch repository: the argument (or the config's), or under --read-only the image's. */
  private scratchRepository(input: string | undefined, image: ImageRef | undefined): ImageRef {
    if (input === undefined && image) return {...image, digest: undefined, tag: undefined}
    if (input === undefined) throw new UsageError('a scratch repository to probe is needed: regshape probe host/scratch-repository')
    const ref = asUsage(() => parseImageRef(input))
    if (image && (image.registry.host !== ref.registry.host || image.repository !== ref.repository)) throw new UsageError('--image must be in the repository probed')
    return ref
  }

  /** The cases plugins add through their `regshape:probe-cases` hook; a wrong one is left out with a warning. */
  private async pluginCases(): Promise<ProbeCase[]> {
    const hooked = this.config.plugins.size > 0 ? await this.config.runHook(PROBE_CASES_HOOK as never, {} as never) : {failures: [], successes: []}
    const taken = new Set(PROBE_CASES.map((c) => c.name))
    const cases: ProbeCase[] = []
    for (const {error, plugin} of hooked.failures as Array<{error: Error; plugin: {name: string}}>) this.warning(`plugin ${plugin.name}: its regshape:probe-cases hook failed (${describeError(error)}); its cases are left out`)
    for (const {plugin, result} of hooked.successes as Array<{plugin: {name: string}; result: unknown}>) {
      if (result === undefined) continue
      const found = pluginCases(plugin.name, result, taken)
      for (const problem of found.problems) this.warning(problem)
      cases.push(...found.cases)
    }

    return cases
  }
}

/** The text report: a table per area (case, level, expected, got, verdict), then totals and what was left behind. */
function table(report: ProbeReport): string {
  const header = ['CASE', 'LEVEL', 'EXPECTED', 'GOT', 'VERDICT']
  const rowsOf = (area: Area) =>
    report.cases
      .filter((r) => r.area === area)
      .map((r) => [r.name, r.level, r.expected, outcomeText(r), `${verdictText(r)}${r.detail && r.verdict !== 'pass' ? `: ${r.detail}` : ''}${r.plugin ? ` [${r.plugin}]` : ''}`])
  const all = AREAS.flatMap((area) => rowsOf(area))
  const widths = header.map((title, column) => Math.max(title.length, ...all.map((row) => row[column]!.length)))
  const line = (row: string[]) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')
  const lines: string[] = []
  for (const area of AREAS) {
    const rows = rowsOf(area)
    if (rows.length === 0) continue
    const tally = report.areas[area]!
    lines.push(`${AREA_TITLES[area]} (${tally.passed} passed, ${tally.failed} failed, ${tally.skipped} skipped)`, line(header), ...rows.map((row) => line(row)), '')
  }

  const byLevel = LEVELS.filter((level) => report.levels[level]).map((level) => `${level} ${report.levels[level]!.passed}/${report.levels[level]!.passed + report.levels[level]!.failed}`)
  lines.push(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`, `Passed by level: ${byLevel.join(', ')}; ${(report.durationMs / 1000).toFixed(1)} s`)
  if (report.cleanup.left.length > 0) {
    lines.push('Not removed:')
    for (const item of report.cleanup.left) lines.push(`  ${item.what}: ${item.problem}`)
  } else {
    lines.push(`Cleaned up: ${report.cleanup.removed.length} item(s) removed`)
  }

  return lines.map((text) => terminalSafe(text)).join('\n')
}

/** The temporary file a report is written to, beside the file, and renamed over it. */
function temporaryFor(file: string): {target: string; temporary: string} {
  const target = resolve(file)
  return {target, temporary: join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`)}
}

/** Whether a report can be written where the flag says: a file created there and removed, before any request. */
function checkWritable(file: string, flag: string): void {
  const {target, temporary} = temporaryFor(file)
  try {
    if (existsSync(target) && statSync(target).isDirectory()) throw Object.assign(new Error('a directory'), {code: 'EISDIR'})
    writeFileSync(temporary, '', {flag: 'wx'})
    rmSync(temporary)
  } catch (error) {
    throw new UsageError(`cannot write ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
  }
}

/** Written whole: a temporary beside the file, renamed over it; scrubbed of the run's secrets. */
function writeWhole(file: string, text: string, flag: string): void {
  const {target, temporary} = temporaryFor(file)
  try {
    writeFileSync(temporary, scrubSecrets(text), {flag: 'wx'})
    renameSync(temporary, target)
  } catch (error) {
    rmSync(temporary, {force: true})
    throw new RegshapeError(`cannot write ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`)
  }
}
