import {expect} from 'chai'

import {UsageError} from '../../../src/errors.js'
import {parseSize} from '../../../src/workflows/probe/config.js'
import type {ProbeContext} from '../../../src/workflows/probe/context.js'
import {PROBE_CASES, globMatches, selectCases} from '../../../src/workflows/probe/index.js'
import {defineProbeCase, pluginCases} from '../../../src/workflows/probe/plugin.js'
import {SPEC} from '../../../src/workflows/probe/case.js'

/** The probe's small parts: selection, sizes, and the checks on cases that plugins bring. */

const good = {area: 'pull', expected: '200', level: 'MAY', name: 'acme-ping', request: 'GET /v2/', run: async () => ({verdict: 'pass'}), spec: SPEC.support, writes: false}

describe('probe parts', () => {
  it('selects by area, glob, skip and level, in catalogue order, and names globs that match nothing', () => {
    expect(globMatches('pull-blob-range-*', 'pull-blob-range-first')).to.equal(true)
    expect(globMatches('pull-blob-?ange-first', 'pull-blob-range-first')).to.equal(true)
    expect(globMatches('pull.blob', 'pull-blob')).to.equal(false)
    const {selected, unmatched} = selectCases(PROBE_CASES, {areas: ['auth'], level: 'SHOULD', skip: ['*-challenge', 'nothing-*']})
    expect(selected.map((c) => c.name)).to.deep.equal(['auth-token-expires-in', 'auth-token-other-repository'])
    expect(unmatched).to.deep.equal(['nothing-*'])
    expect(new Set(PROBE_CASES.map((c) => c.name)).size).to.equal(PROBE_CASES.length)
  })

  it('reads sizes in bytes, KiB, MiB and GiB; anything else is a usage error', () => {
    expect(parseSize('67108864', '--x')).to.equal(64 * 1024 * 1024)
    expect(parseSize('64MiB', '--x')).to.equal(64 * 1024 * 1024)
    expect(parseSize('512 kb', '--x')).to.equal(512 * 1024)
    expect(parseSize(1, '--x')).to.equal(1)
    for (const bad of ['0', '-1', 'lots', '65GiB', '1TiB', '']) expect(() => parseSize(bad, '--x'), bad).to.throw(UsageError, /^--x expects a size/)
  })

  it('defineProbeCase refuses a case of the wrong shape at once', () => {
    expect(defineProbeCase(good as never).name).to.equal('acme-ping')
    expect(() => defineProbeCase({...good, name: 'Acme Ping'} as never)).to.throw(TypeError, /"name" must be lower-case letters/)
    expect(() => defineProbeCase({...good, area: 'elsewhere'} as never)).to.throw(TypeError, /"area" must be one of pull, push/)
    expect(() => defineProbeCase({...good, spec: 'x'} as never)).to.throw(TypeError, /"spec" must be \{section, url\}/)
  })

  it('a plugin\'s cases: a wrong one, or one whose name is taken, is left out with its reason; a case that returns no verdict fails', async () => {
    const taken = new Set(PROBE_CASES.map((c) => c.name))
    const {cases, problems} = pluginCases('acme', [good, {...good, name: 'pull-blob-get'}, {...good, level: 'OFTEN'}, {...good, name: 'acme-junk', run: async () => 'yes'}], taken)
    expect(cases.map((c) => [c.name, c.plugin])).to.deep.equal([['acme-ping', 'acme'], ['acme-junk', 'acme']])
    expect(problems).to.deep.equal([
      'plugin acme: probe case "pull-blob-get": another case has that name; left out',
      'plugin acme: probe case 3: "level" must be one of MUST, SHOULD, MAY; left out',
    ])
    const context = {fixture: async () => ({}), readOnly: false, repository: 'r', send: async () => ({})} as unknown as ProbeContext
    expect(await cases[1]!.run(context)).to.deep.equal({detail: "the plugin's case returned no verdict", verdict: 'fail'})
    expect(await cases[0]!.run(context)).to.deep.include({verdict: 'pass'})
    expect(pluginCases('acme', 'nope', new Set()).problems).to.deep.equal(['plugin acme: its regshape:probe-cases hook did not return a list of cases'])
  })
})
