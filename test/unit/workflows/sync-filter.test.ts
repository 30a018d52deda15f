import {expect} from 'chai'
import fc from 'fast-check'

import {FilterError, compileFilter, inShard, parseShard, selectTags} from '../../../src/workflows/sync-filter.js'
import {parseSyncDestination, parseSyncFile, parseSyncSource} from '../../../src/workflows/sync-config.js'

/**
 * The parts of a sync that decide what it copies (src/workflows/sync-filter.ts, sync-config.ts):
 * the tag filters, the shard split, the endpoints and the file. The whole, against real
 * registries, is test/commands/sync.test.ts.
 */

const TAGS = ['1.0.0', 'v1.2.0', '1.2', '2', '2.0.0-rc.1', '2.0.0', '10.0.0', 'latest', '3.19-alpine', 'v', 'main']

async function select(spec: Parameters<typeof compileFilter>[0], tags = TAGS): Promise<string[]> {
  return selectTags(tags, await compileFilter(spec))
}

describe('sync: tag filters, shards, endpoints and files', () => {
  it('include and exclude are anchored at both ends; an exclude wins; no include takes every tag', async () => {
    expect(await select({})).to.deep.equal([...TAGS].sort())
    expect(await select({include: ['1']})).to.deep.equal([])
    expect(await select({include: ['1\\..*']})).to.deep.equal(['1.0.0', '1.2'])
    expect(await select({include: ['1.*']})).to.deep.equal(['1.0.0', '1.2', '10.0.0'])
    expect(await select({include: ['v.*', 'main'], exclude: ['v']})).to.deep.equal(['main', 'v1.2.0'])
    expect(await select({exclude: ['.*\\d.*']})).to.deep.equal(['latest', 'main', 'v'])
  })

  it('--semver: npm ranges, a v on either side, short tags as X.Y.0, prereleases only when the range names their version', async () => {
    expect(await select({semver: '^1'})).to.deep.equal(['1.0.0', '1.2', 'v1.2.0'])
    expect(await select({semver: '>=v2'})).to.deep.equal(['10.0.0', '2', '2.0.0'])
    expect(await select({semver: '>=2.0.0-rc.0'})).to.deep.equal(['10.0.0', '2', '2.0.0', '2.0.0-rc.1'])
    expect(await select({semver: '~3.19'})).to.deep.equal([])
  })

  it('--latest: the newest N by semver after the other filters; names that are no version drop out; one version spelt twice in text order', async () => {
    expect(await select({latest: 2})).to.deep.equal(['10.0.0', '2'])
    expect(await select({latest: 1, semver: '<2'})).to.deep.equal(['1.2'])
    expect(await select({latest: 5, include: ['[a-z].*']})).to.deep.equal(['v1.2.0'])
  })

  it('a pattern, a range or a count that is wrong is named by its field', async () => {
    for (const [spec, field] of [
      [{include: ['(']}, 'include'],
      [{exclude: ['a', '[']}, 'exclude'],
      [{semver: 'soon'}, 'semver'],
      [{latest: 0}, 'latest'],
      [{latest: 1.5}, 'latest'],
    ] as const) {
      const error = await compileFilter(spec).then(
        () => undefined,
        (failure: unknown) => failure,
      )
      expect(error, JSON.stringify(spec)).to.be.instanceOf(FilterError)
      expect((error as FilterError).field).to.equal(field)
    }
  })

  it('--shard I/N: 0 ≤ I < N, else a usage error', () => {
    expect(parseShard('0/1')).to.deep.equal({count: 1, index: 0})
    expect(parseShard('2/3')).to.deep.equal({count: 3, index: 2})
    for (const text of ['3/3', '1/0', '-1/3', '1', 'a/b', '1/3/5', '']) expect(() => parseShard(text), text).to.throw(/--shard/)
  })

  it('N shards split any set of work: the union is the whole, no piece is in two', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), {maxLength: 200}), fc.integer({max: 9, min: 1}), (keys, count) => {
        const owners = keys.map((key) => Array.from({length: count}, (_, index) => index).filter((index) => inShard(key, {count, index})))
        return owners.every((list) => list.length === 1)
      }),
    )
  })

  it('sources and destinations: a repository, a prefix of the catalog, a layout, the layouts under a directory', () => {
    expect(parseSyncSource('r.example/team/app')).to.include({kind: 'repository'})
    expect(parseSyncSource('r.example/team/*')).to.deep.include({kind: 'catalog', prefix: 'team'})
    expect(parseSyncSource('r.example/*')).to.deep.include({kind: 'catalog', prefix: ''})
    expect(parseSyncSource('oci:/media/usb/app')).to.deep.equal({kind: 'layout', path: '/media/usb/app'})
    expect(parseSyncSource('oci:/media/usb/*')).to.deep.equal({kind: 'layouts', path: '/media/usb'})
    expect(parseSyncDestination('m.example')).to.deep.include({kind: 'registry', path: ''})
    expect(parseSyncDestination('m.example/mirror')).to.deep.include({kind: 'registry', path: 'mirror'})
    expect(parseSyncDestination('oci:out')).to.deep.equal({kind: 'layout', path: 'out'})
    for (const text of ['r.example/team/app:1.0', 'r.example/team/app@sha256:' + '0'.repeat(64), 'oci:dir:v1', 'r.example/a:1/*']) expect(() => parseSyncSource(text), text).to.throw()
    for (const text of ['m.example/app:1.0', 'oci:dir:v1']) expect(() => parseSyncDestination(text), text).to.throw()
  })

  it('a file is JSON too; a layout source needs a destination repository', async () => {
    const entries = await parseSyncFile('{"sync": [{"source": "oci:in", "destination": "m.example/app", "include": "v.*", "referrers": true}]}')
    expect(entries).to.have.length(1)
    expect(entries[0].referrers).to.equal(true)
    expect(entries[0].filter.include.map(String)).to.deep.equal(['/^(?:v.*)$/'])
    const error = await parseSyncFile('sync:\n  - source: oci:in\n    destination: m.example\n', 'f.yaml').then(
      () => undefined,
      (failure: Error) => failure,
    )
    expect(error?.message).to.match(/^f\.yaml: entry 1 \(source "oci:in"\): field "destination": "m\.example" names no repository/)
  })
})
