/**
 * The npm package must not carry the standalone tarballs, which oclif writes into dist/ (also tsc's
 * outDir): `files` admits only dist's .js and .d.ts, whatever else lies there.
 */
import {execFileSync} from 'node:child_process'
import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {expect} from 'chai'

import {ROOT} from '../helpers/cli.js'

describe('npm package contents', () => {
  it('lists no tarball, even with one left in dist/', () => {
    const stray = join(ROOT, 'dist', 'regshape-v0.0.0-stray00-linux-x64.tar.gz')
    writeFileSync(stray, 'not a tarball')
    let files: string[]
    try {
      const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {cwd: ROOT, encoding: 'utf8'}))
      files = (packed.files as Array<{path: string}>).map((file) => file.path)
    } finally {
      rmSync(stray, {force: true})
    }

    expect(files).to.include.members(['bin/run.js', 'dist/index.js', 'oclif.manifest.json', 'completions/bash/regshape', 'completions/zsh/_regshape'])
    expect(files.filter((file) => /\.(tgz|tar\.gz|tar\.xz)$/.test(file) || /^(release|tmp)\//.test(file))).to.deep.equal([])
  })
})
