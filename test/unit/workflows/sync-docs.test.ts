import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'chai'
import {parse, parseAllDocuments} from 'yaml'

import {parseSyncFile} from '../../../src/workflows/sync-config.js'

/**
 * docs/sync/ ships a sync file, a GitHub Actions matrix and a Kubernetes Indexed Job: they must
 * parse, the sync files must be ones regshape accepts, and the number of shards must agree where
 * it is written twice. (That N runners' shares are the whole and disjoint is
 * test/commands/sync.test.ts's, against real registries.)
 */

const DOCS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'sync')
const read = (name: string) => readFileSync(join(DOCS, name), 'utf8')

describe('docs/sync: the sync file, the GitHub Actions matrix and the Indexed Job', () => {
  it('sync.yaml is a sync file regshape accepts', async () => {
    const entries = await parseSyncFile(read('sync.yaml'), 'docs/sync/sync.yaml')
    expect(entries.map((entry) => entry.source.kind)).to.deep.equal(['repository', 'catalog', 'catalog'])
  })

  it('the workflow runs one shard per matrix value, with --shard I/N where N is the matrix size', () => {
    const workflow = parse(read('github-actions.yml')) as {jobs: {sync: {steps: Array<{run?: string}>; strategy: {'fail-fast': boolean; matrix: {shard: number[]}}}}}
    const {steps, strategy} = workflow.jobs.sync
    const shards = strategy.matrix.shard
    expect(shards).to.deep.equal(Array.from({length: shards.length}, (_, index) => index))
    expect(strategy['fail-fast']).to.equal(false)
    const sync = steps.map((step) => step.run ?? '').find((run) => run.includes('regshape sync'))
    expect(sync).to.include(`--shard \${{ matrix.shard }}/${shards.length}`)
    const file = /-f (\S+)/.exec(sync!)![1]
    expect(file).to.equal('docs/sync/sync.yaml')
  })

  it('the Job is Indexed, and --shards is its completions; its sync.yaml is one regshape accepts', async () => {
    const documents = parseAllDocuments(read('kubernetes-indexed-job.yaml')).map((document) => document.toJSON() as {data?: Record<string, string>; kind: string; spec?: Record<string, unknown>})
    const job = documents.find((document) => document.kind === 'Job')!
    const spec = job.spec as {completionMode: string; completions: number; parallelism: number; template: {spec: {containers: Array<{args: string[]; env: Array<{name: string; value: string}>; volumeMounts: Array<{mountPath: string; name: string}>}>; volumes: Array<{configMap?: {name: string}; name: string}>}}}
    expect(spec.completionMode).to.equal('Indexed')
    const [container] = spec.template.spec.containers
    const command = container.args.join(' ')
    expect(command).to.include(`regshape sync -f /etc/regshape-sync/sync.yaml --shards ${spec.completions}`)
    expect(command).not.to.include('--shard ')
    expect(container.env).to.deep.include({name: 'DOCKER_CONFIG', value: '/etc/regshape-logins'})
    const mounts = container.volumeMounts.map((mount) => mount.mountPath)
    expect(mounts).to.include.members(['/etc/regshape-sync', '/etc/regshape-logins'])
    const configMap = documents.find((document) => document.kind === 'ConfigMap')!
    expect(spec.template.spec.volumes.find((volume) => volume.name === 'sync-config')?.configMap?.name).to.equal('regshape-sync')
    await parseSyncFile(configMap.data!['sync.yaml'], 'the ConfigMap\'s sync.yaml')
  })
})
