import type {LabelledRequest, RegistryConnection} from '../../registry/connection.js'

import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {AREAS, type Area, CaseEnd, type CaseResult, LEVELS, type Level, type Outcome, type ProbeReport, type Tally, codeText} from './case.js'
import {OffOrigin, type ProbeCase, ProbeContext, type ProbeSettings, type ProbeStage} from './context.js'
import {AUTH} from './auth.js'
import {DISCOVERY} from './discovery.js'
import {MANAGEMENT} from './management.js'
import {PULL} from './pull.js'
import {PUSH} from './push.js'
import {REFUSALS} from './refusals.js'
import {ROBUSTNESS} from './robustness.js'

export {AREAS, AREA_TITLES, type Area, type CaseResult, LEVELS, type Level, type ProbeReport, SPEC, type SpecRef, type Verdict} from './case.js'
export {type ProbeCase, ProbeContext, type ProbeSettings, ProbeStage} from './context.js'

/** The built-in catalogue, in report order: by area, then as each area's file lists them. */
export const PROBE_CASES: readonly ProbeCase[] = [...PULL, ...PUSH, ...DISCOVERY, ...MANAGEMENT, ...REFUSALS, ...AUTH, ...ROBUSTNESS].sort((a, b) => AREAS.indexOf(a.area) - AREAS.indexOf(b.area))

export interface Selection {
  areas?: Area[]
  /** Globs (`*` any run of characters, `?` one) a case name must match one of. */
  cases?: string[]
  /** MUST: only MUST cases; SHOULD: MUST and SHOULD; MAY (or none): all. */
  level?: Level
  /** Globs of cases to leave out. */
  skip?: string[]
}

export function globMatches(glob: string, name: string): boolean {
  const pattern = glob.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replaceAll(/[.+^${}()|[\]\\]/g, String.raw`\$&`))).join('')
  return new RegExp(`^${pattern}$`).test(name)
}

/** The cases a selection keeps, in catalogue order; globs that match nothing are named in `unmatched`. */
export function selectCases(cases: readonly ProbeCase[], selection: Selection): {selected: ProbeCase[]; unmatched: string[]} {
  const unmatched = [...(selection.cases ?? []), ...(selection.skip ?? [])].filter((glob) => !cases.some((c) => globMatches(glob, c.name)))
  const depth = selection.level ? LEVELS.indexOf(selection.level) : LEVELS.length - 1
  const selected = cases.filter(
    (c) =>
      (!selection.areas || selection.areas.includes(c.area)) &&
      (!selection.cases || selection.cases.some((glob) => globMatches(glob, c.name))) &&
      !(selection.skip ?? []).some((glob) => globMatches(glob, c.name)) &&
      LEVELS.indexOf(c.level) <= depth,
  )
  return {selected, unmatched}
}

export interface ProbeRun extends ProbeSettings {
  cases: ProbeCase[]
  connection: RegistryConnection
  /** Told of each result as it comes (progress). */
  onResult?: (result: CaseResult) => void
  repository: string
  stage: ProbeStage
}

function tallyOf(results: CaseResult[]): Tally {
  return {
    failed: results.filter((r) => r.verdict === 'fail').length,
    passed: results.filter((r) => r.verdict === 'pass').length,
    skipped: results.filter((r) => r.verdict === 'skip').length,
  }
}

/** Runs the cases against `repository`, then removes what was pushed. */
export async function runProbe(run: ProbeRun): Promise<ProbeReport> {
  const started = performance.now()
  const context = new ProbeContext(run.connection, run.repository, run.stage, run)
  // A plain read first: does the registry want credentials for reads at all? Without, the auth
  // and rights cases have nothing to test (a new repository's tag list may well be a 404).
  const first = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(run.repository)})
  context.challenged = first.challenged

  const results: CaseResult[] = []
  for (const probeCase of run.cases) {
    run.stage.mutations = []
    const caseStarted = performance.now()
    let outcome: Outcome
    if (run.readOnly && probeCase.writes) {
      outcome = {detail: '--read-only: this case writes to the registry', verdict: 'skip'}
    } else {
      try {
        outcome = await probeCase.run(context)
      } catch (error) {
        outcome =
          error instanceof CaseEnd
            ? error.outcome
            : {detail: (error as Error)?.message ?? String(error), verdict: error instanceof OffOrigin ? 'skip' : 'fail'}
      }
    }

    const result: CaseResult = {
      area: probeCase.area,
      durationMs: Math.round(performance.now() - caseStarted),
      expected: probeCase.expected,
      level: probeCase.level,
      mutations: [...run.stage.mutations],
      name: probeCase.name,
      ...(probeCase.plugin === undefined ? {} : {plugin: probeCase.plugin}),
      request: probeCase.request,
      spec: probeCase.spec,
      ...outcome,
    }
    results.push(result)
    run.onResult?.(result)
  }

  const cleanup = await removeCreated(context)
  const areas: ProbeReport['areas'] = {}
  const levels: ProbeReport['levels'] = {}
  for (const area of AREAS) if (results.some((r) => r.area === area)) areas[area] = tallyOf(results.filter((r) => r.area === area))
  for (const level of LEVELS) if (results.some((r) => r.level === level)) levels[level] = tallyOf(results.filter((r) => r.level === level))
  return {
    ...tallyOf(results),
    areas,
    cases: results,
    cleanup,
    durationMs: Math.round(performance.now() - started),
    levels,
    readOnly: run.readOnly,
    repository: run.repository,
  }
}

/** Manifests first, newest first (an index before what it lists, a referrer before its subject), then blobs. */
async function removeCreated(context: ProbeContext): Promise<ProbeReport['cleanup']> {
  const removed: string[] = []
  const left: Array<{problem: string; what: string}> = []
  const remove = async (what: string, repository: string, request: Omit<LabelledRequest, 'scope'>) => {
    try {
      const response = await context.send({...request, scope: repositoryScope(repository, ['delete'])})
      if (response.status === 202 || response.status === 200 || response.status === 404) removed.push(what)
      else left.push({problem: `HTTP ${response.status}${codeText(response)}`, what})
    } catch (error) {
      left.push({problem: (error as Error).message, what})
    }
  }

  const label = (kind: string, repository: string, digest: string) => `${kind} ${repository === context.repository ? '' : `${repository}@`}${digest}`
  for (const {digest, repository} of [...context.created.manifests].reverse()) {
    await remove(label('manifest', repository, digest), repository, {method: 'DELETE', operation: 'manifest.delete', path: urls.manifest(repository, digest)})
  }

  for (const [repository, digests] of context.created.blobs) {
    for (const digest of digests) await remove(label('blob', repository, digest), repository, {method: 'DELETE', operation: 'blob.delete', path: urls.blob(repository, digest)})
  }

  return {left, removed}
}
