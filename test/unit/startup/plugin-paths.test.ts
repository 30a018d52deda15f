import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {localPluginArgs} from '../../../src/startup/plugin-paths.js'

describe('plugins install: local packages become absolute file: specs', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'regshape-plugin-paths-'))
  writeFileSync(join(cwd, 'p-1.0.0.tgz'), '')
  mkdirSync(join(cwd, 'dir'))

  it('file:<relative>, ./path, ../path, /path and a bare .tgz name, from the current directory', () => {
    const sub = join(cwd, 'dir')
    expect(localPluginArgs('plugins:install', ['plugins', 'install', 'file:./p-1.0.0.tgz'], cwd)).to.deep.equal({args: ['plugins', 'install', `file:${cwd}/p-1.0.0.tgz`]})
    expect(localPluginArgs('plugins:install', ['plugins', 'install', 'p-1.0.0.tgz', '--force'], cwd)).to.deep.equal({args: ['plugins', 'install', `file:${cwd}/p-1.0.0.tgz`, '--force']})
    expect(localPluginArgs('plugins:install', ['plugins', 'install', './dir'], cwd)).to.deep.equal({args: ['plugins', 'install', `file:${sub}`]})
    expect(localPluginArgs('plugins:add', ['plugins:add', '../p-1.0.0.tgz'], sub)).to.deep.equal({args: ['plugins:add', `file:${cwd}/p-1.0.0.tgz`]})
    expect(localPluginArgs('plugins:install', ['plugins', 'install', `${cwd}/dir`], '/')).to.deep.equal({args: ['plugins', 'install', `file:${sub}`]})
  })

  it('leaves names, scoped names, org/repo slugs, URLs and other commands alone', () => {
    const args = ['plugins', 'install', 'regshape-plugin-whoami', '@scope/plugin@1.2.3', 'oclif/plugin-version', 'https://example.com/p.tgz', 'file:///abs/p.tgz', 'git+ssh://git@example.com/p.git']
    expect(localPluginArgs('plugins:install', args, cwd)).to.deep.equal({args})
    expect(localPluginArgs('plugins:link', ['plugins', 'link', './dir'], cwd)).to.deep.equal({args: ['plugins', 'link', './dir']})
  })

  it('names a local package that is not there, instead of asking GitHub or npm for it', () => {
    expect(localPluginArgs('plugins:install', ['plugins', 'install', './nope.tgz'], cwd)).to.deep.equal({error: `Error: cannot install the plugin ./nope.tgz: ${cwd}/nope.tgz does not exist`})
  })
})
