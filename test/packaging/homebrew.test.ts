/**
 * The Homebrew formula (npm run formula) for the tarballs in release/: Ruby's own syntax and
 * warning check, then formula_stub.rb, a stand-in for Homebrew's Formula DSL that checks the fields
 * and every sha256 against its tarball, and on this platform runs the formula's install and test.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'chai'

import {HOST_TARGET, RELEASE_DIR, releaseTarball, VERSION} from './helpers.js'

const FORMULA = join(RELEASE_DIR, 'Formula', 'regshape.rb')
const STUB = join(dirname(fileURLToPath(import.meta.url)), 'formula_stub.rb')
const HOMEBREW_PLATFORM: Record<string, string> = {
  'darwin-arm64': 'macos-arm',
  'darwin-x64': 'macos-intel',
  'linux-arm64': 'linux-arm',
  'linux-x64': 'linux-intel',
}

function ruby(args: string[]): Promise<{code: number; stderr: string; stdout: string}> {
  return new Promise((resolve) => {
    execFile('ruby', args, {timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr, stdout})
    })
  })
}

describe('Homebrew formula release/Formula/regshape.rb', () => {
  before(() => {
    releaseTarball()
    if (!existsSync(FORMULA)) throw new Error(`${FORMULA} is missing: run npm run formula (npm run test:packaging does)`)
  })

  it('passes ruby -wc without warnings', async () => {
    const result = await ruby(['-wc', FORMULA])
    expect(result.stderr).to.equal('')
    expect(result.stdout.trim()).to.equal('Syntax OK')
    expect(result.code).to.equal(0)
  })

  it('declares the fields, a url and sha256 per platform, installs, and passes its own test', async function () {
    this.timeout(60_000)
    const result = await ruby(['-w', STUB, FORMULA, RELEASE_DIR, HOMEBREW_PLATFORM[HOST_TARGET]])
    expect(result.stderr).to.equal('')
    expect(result.code).to.equal(0)
    const summary = JSON.parse(result.stdout)
    expect(summary.fields).to.include({license: 'Apache-2.0', version: VERSION})
    expect(summary.platforms[HOMEBREW_PLATFORM[HOST_TARGET]].url).to.match(new RegExp(`/v${VERSION}/regshape-${VERSION}-${HOST_TARGET}\\.tar\\.gz$`))
    expect(summary.installed).to.include.members(['bin/regshape', 'etc/bash_completion.d/regshape', 'share/zsh/site-functions/_regshape'])
    expect(summary.test).to.equal('passed')
  })

  it('the stub catches a sha256 that does not match its tarball', async () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'regshape-formula-')), 'regshape.rb')
    writeFileSync(broken, readFileSync(FORMULA, 'utf8').replace(/sha256 "([0-9a-f])/, (_match, first: string) => `sha256 "${first === '0' ? '1' : '0'}`))
    const result = await ruby(['-w', STUB, broken, RELEASE_DIR])
    expect(result.code).to.equal(1)
    expect(result.stderr).to.match(/sha256 does not match/)
  })
})
