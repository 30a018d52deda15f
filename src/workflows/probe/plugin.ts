import type {BreakRule} from '../../break/rules.js'
import type {LabelledRequest} from '../../registry/connection.js'
import type {RegistryResponse} from '../../transport/transport.js'

import {AREAS, type Area, type Expectation, LEVELS, type Level, type Outcome, type SpecRef, judge} from './case.js'
import type {Fixture, ProbeCase, ProbeContext} from './context.js'

/**
 * Probe cases from plugins (`@regshape/sdk/probe`). A plugin's oclif hook `regshape:probe-cases`
 * returns a list of `defineProbeCase(...)` values; the probe checks each one's shape (a plugin has
 * its own copy of the SDK, so nothing here relies on `instanceof`) and runs it like a built-in
 * case, with the plugin's name in the report.
 */

/** What a plugin's case gets: the scratch repository, requests through the probe's transport, and the run's image. */
export interface ProbeCaseContext {
  /** The content the pull cases read: pushed by the run, or the --image of a read-only run. */
  fixture(): Promise<Fixture>
  /** A response judged against the statuses (and OCI error codes) the spec requires. */
  judge(response: RegistryResponse, expected: Expectation): Outcome
  /** Only reads (--read-only); a case with `writes: true` is skipped then, before it runs. */
  readonly readOnly: boolean
  /** The scratch repository. */
  readonly repository: string
  /**
   * A request to the registry (a path under /v2/), with the credentials of the run, the token
   * scope its method needs unless `scope` says otherwise, and break-mode `rules` applied.
   */
  send(request: Omit<LabelledRequest, 'scope'> & {scope?: string}, rules?: BreakRule[]): Promise<RegistryResponse>
}

/** A probe case, as a plugin defines it. */
export interface ProbeCaseDefinition {
  area: Area
  /** What the spec requires, in words. */
  expected: string
  level: Level
  /** Lower-case letters, digits and dashes; unique among all cases (prefix it with your plugin's name). */
  name: string
  /** What is sent, in words. */
  request: string
  run(context: ProbeCaseContext): Promise<Outcome>
  spec: SpecRef
  /** Whether the case writes to the registry (then it is skipped under --read-only). */
  writes: boolean
}

const NAME = /^[a-z0-9][a-z0-9-]{0,79}$/

/** Why a definition is not a probe case, or undefined when it is one. */
function problem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'not an object'
  const definition = value as Record<string, unknown>
  if (typeof definition.name !== 'string' || !NAME.test(definition.name)) return '"name" must be lower-case letters, digits and dashes'
  if (!AREAS.includes(definition.area as Area)) return `"area" must be one of ${AREAS.join(', ')}`
  if (!LEVELS.includes(definition.level as Level)) return `"level" must be one of ${LEVELS.join(', ')}`
  for (const field of ['request', 'expected']) if (typeof definition[field] !== 'string' || definition[field] === '') return `"${field}" must be a string`
  const spec = definition.spec as Record<string, unknown> | undefined
  if (typeof spec?.section !== 'string' || typeof spec.url !== 'string') return '"spec" must be {section, url}'
  if (typeof definition.writes !== 'boolean') return '"writes" must be true or false'
  if (typeof definition.run !== 'function') return '"run" must be a function'
  return undefined
}

/** A probe case for a plugin to return from its `regshape:probe-cases` hook; a wrong shape throws at once. */
export function defineProbeCase(definition: ProbeCaseDefinition): ProbeCaseDefinition {
  const why = problem(definition)
  if (why) throw new TypeError(`defineProbeCase: ${why}`)
  return Object.freeze({...definition})
}

/** A plugin's definitions checked and made into cases, with what was left out and why. */
export function pluginCases(plugin: string, values: unknown, taken: Set<string>): {cases: ProbeCase[]; problems: string[]} {
  const cases: ProbeCase[] = []
  const problems: string[] = []
  if (!Array.isArray(values)) return {cases, problems: [`plugin ${plugin}: its regshape:probe-cases hook did not return a list of cases`]}
  for (const [index, value] of values.entries()) {
    const why = problem(value)
    const definition = value as ProbeCaseDefinition
    if (why) {
      problems.push(`plugin ${plugin}: probe case ${index + 1}: ${why}; left out`)
      continue
    }

    if (taken.has(definition.name)) {
      problems.push(`plugin ${plugin}: probe case ${JSON.stringify(definition.name)}: another case has that name; left out`)
      continue
    }

    taken.add(definition.name)
    cases.push({
      area: definition.area,
      expected: definition.expected,
      level: definition.level,
      name: definition.name,
      plugin,
      request: definition.request,
      async run(context: ProbeContext): Promise<Outcome> {
        const view: ProbeCaseContext = {
          fixture: () => context.fixture(),
          judge,
          readOnly: context.readOnly,
          repository: context.repository,
          send: (request, rules) => context.send(request, rules),
        }
        const outcome = (await definition.run(view)) as Outcome | undefined
        if (!outcome || !['fail', 'pass', 'skip'].includes(outcome.verdict)) return {detail: `the plugin's case returned no verdict`, verdict: 'fail'}
        return {detail: typeof outcome.detail === 'string' ? outcome.detail : undefined, got: outcome.got, verdict: outcome.verdict}
      },
      spec: {section: definition.spec.section, url: definition.spec.url},
      writes: definition.writes,
    })
  }

  return {cases, problems}
}
