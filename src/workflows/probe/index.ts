import type {LabelledRequest, RegistryConnection} from '../../registry/connection.js'

import {randomBytes} from 'node:crypto'

import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {type CaseResult, type ProbeReport, codeText} from './case.js'
import {OffOrigin, ProbeContext, type ProbeStage} from './context.js'
import {type Fixture, refusals as catalogue} from './refusals.js'

export {type CaseResult, type ProbeReport, type Verdict} from './case.js'
export {ProbeContext, ProbeStage} from './context.js'

export const PROBE_CASES = catalogue(async () => {
  throw new Error('no fixture')
}).map(({expected, name, request}) => ({expected, name, request}))

/** Runs the cases (all, or those named) against `repository`, then removes what was pushed. */
export async function runProbe(access: RegistryConnection, repository: string, stage: ProbeStage, only?: string[]): Promise<ProbeReport> {
  const context = new ProbeContext(access, repository, stage)
  // A plain read first: does the registry want credentials at all, and does the repository answer?
  const first = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(repository)})
  context.challenged = first.challenged
  let fixture: Promise<Fixture> | undefined
  const getFixture = () => {
    fixture ??= (async () => {
      const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: [], type: 'layers'}, 'org.regshape.probe': randomBytes(8).toString('hex')}))
      const layer = randomBytes(1024)
      return {config: {digest: await context.pushBlob(config), size: config.length}, layer: {digest: await context.pushBlob(layer), size: layer.length}}
    })()
    return fixture
  }

  const results: CaseResult[] = []
  for (const probeCase of catalogue(getFixture)) {
    if (only && !only.includes(probeCase.name)) continue
    stage.mutations = []
    let outcome: Omit<CaseResult, 'expected' | 'mutations' | 'name' | 'request'>
    try {
      outcome = await probeCase.run(context)
    } catch (error) {
      outcome = {detail: (error as Error).message, verdict: error instanceof OffOrigin ? 'skip' : 'fail'}
    }

    results.push({expected: probeCase.expected, mutations: [...stage.mutations], name: probeCase.name, request: probeCase.request, ...outcome})
  }

  const cleanup = await removeCreated(context)
  return {
    cases: results,
    cleanup,
    failed: results.filter((r) => r.verdict === 'fail').length,
    passed: results.filter((r) => r.verdict === 'pass').length,
    repository,
    skipped: results.filter((r) => r.verdict === 'skip').length,
  }
}

async function removeCreated(context: ProbeContext): Promise<ProbeReport['cleanup']> {
  const removed: string[] = []
  const left: Array<{problem: string; what: string}> = []
  const remove = async (what: string, request: Omit<LabelledRequest, 'scope'>) => {
    try {
      const response = await context.send({...request, scope: repositoryScope(context.repository, ['delete'])})
      if (response.status === 202 || response.status === 200 || response.status === 404) removed.push(what)
      else left.push({problem: `HTTP ${response.status}${codeText(response)}`, what})
    } catch (error) {
      left.push({problem: (error as Error).message, what})
    }
  }

  for (const digest of context.created.manifests) await remove(`manifest ${digest}`, {method: 'DELETE', operation: 'manifest.delete', path: urls.manifest(context.repository, digest)})
  for (const digest of context.created.blobs) await remove(`blob ${digest}`, {method: 'DELETE', operation: 'blob.delete', path: urls.blob(context.repository, digest)})
  return {left, removed}
}
