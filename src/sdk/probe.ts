/**
 * @regshape/sdk/probe: cases a plugin adds to `regshape probe`. A plugin declares the oclif hook
 * `regshape:probe-cases` in its package.json and returns a list of `defineProbeCase(...)` from it;
 * the probe runs them like its own, judges them the same way, and names the plugin in the report.
 *
 *   // package.json: "oclif": {"hooks": {"regshape:probe-cases": "./dist/hooks/probe-cases.js"}}
 *   import {defineProbeCase, SPEC} from '@regshape/sdk/probe'
 *   export default async function probeCases() {
 *     return [defineProbeCase({name: 'acme-ping', area: 'pull', level: 'MUST', spec: SPEC.support, …})]
 *   }
 */
export {type ProbeCaseContext, type ProbeCaseDefinition, defineProbeCase} from '../workflows/probe/plugin.js'
export {AREAS, type Area, type Expectation, type Got, LEVELS, type Level, type Outcome, SPEC, type SpecRef, type Verdict} from '../workflows/probe/case.js'
export type {BlobRef, Fixture, ManifestRef} from '../workflows/probe/context.js'
