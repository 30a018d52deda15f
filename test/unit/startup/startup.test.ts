/**
 * What bin/run.js does before oclif (src/startup/): `--version` without oclif, oclif's cache and
 * data directories, the code cache of the bundles, and the command order oclif gets without ICU.
 */
import {Config} from '@oclif/core'
import {expect} from 'chai'
import fc from 'fast-check'
import {execFileSync} from 'node:child_process'
import {createRequire} from 'node:module'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir, userInfo} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {codeUnitOrder, collatesLikeRoot, isLiteralPattern, isSimpleId} from '../../../src/startup/oclif-patches.js'
import {oclifDir} from '../../../src/startup/dirs.js'
import {settleHome} from '../../../src/util/home.js'
import {versionLine} from '../../../src/startup/version.js'
import {ROOT, RUN_JS, runCli, tempHome} from '../../helpers/cli.js'
import {check} from '../../property/settings.js'

const BIN_URL = pathToFileURL(RUN_JS).href
/** The minimatch that oclif itself uses. */
const {minimatch} = createRequire(join(ROOT, 'node_modules', '@oclif', 'core', 'package.json'))('minimatch') as {minimatch: (path: string, pattern: string) => boolean}
const STARTUP = join(ROOT, 'dist', 'bundle', 'startup.cjs')

/** A data directory with what `plugins install` leaves there: oclif then loads user plugins. */
function dataDirWithUserPlugins(): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-data-'))
  writeFileSync(join(directory, 'package.json'), JSON.stringify({oclif: {plugins: [], schema: 1}, private: true}))
  return directory
}

async function withEnv<T>(env: NodeJS.ProcessEnv, body: () => Promise<T>): Promise<T> {
  const saved = {...process.env}
  for (const name of ['HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'REGSHAPE_CACHE_DIR', 'REGSHAPE_DATA_DIR']) delete process.env[name]
  Object.assign(process.env, env)
  try {
    return await body()
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
    Object.assign(process.env, saved)
  }
}

describe('start-up before oclif', () => {
  describe('--version', () => {
    it('prints exactly oclif\'s config.userAgent', async () => {
      const config = await Config.load(ROOT)
      const result = await runCli(['--version'])
      expect(result).to.deep.include({code: 0, stderr: '', stdout: `${config.userAgent}\n`})
      expect(versionLine(BIN_URL, {HOME: tempHome()})).to.equal(config.userAgent)
    })

    it('gives the same answer as oclif itself, which answers when a user plugin could have an init hook', async () => {
      const env = {REGSHAPE_DATA_DIR: dataDirWithUserPlugins()}
      expect(versionLine(BIN_URL, env)).to.equal(undefined)
      const byOclif = await runCli(['--version'], {env})
      const fast = await runCli(['--version'])
      expect(byOclif.code).to.equal(0)
      expect(byOclif.stdout).to.equal(fast.stdout)
      // oclif's rule: only the first argument counts, and what follows it is ignored
      expect((await runCli(['--version', 'auth'])).stdout).to.equal(fast.stdout)
      expect((await runCli(['--version', 'auth'], {env})).stdout).to.equal(fast.stdout)
    })

    it('leaves the answer to oclif for debug output and possible WSL', () => {
      const home = tempHome()
      expect(versionLine(BIN_URL, {DEBUG: '*', HOME: home})).to.equal(undefined)
      expect(versionLine(BIN_URL, {HOME: home, REGSHAPE_DEBUG: '1'})).to.equal(undefined)
      if (process.platform === 'linux') expect(versionLine(BIN_URL, {__IS_WSL_TEST__: '1', HOME: home})).to.equal(undefined)
    })

    it('is right to skip init hooks: neither regshape nor its core plugins have one', () => {
      const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
      const plugins = [pjson, ...pjson.oclif.plugins.map((name: string) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')))]
      for (const plugin of plugins) expect(plugin.oclif.hooks?.init, `${plugin.name} has an init hook`).to.equal(undefined)
    })
  })

  describe('oclif\'s directories', () => {
    const cases: NodeJS.ProcessEnv[] = [
      {HOME: '/home/someone'},
      {HOME: '/home/someone', XDG_CACHE_HOME: '/xdg/cache', XDG_DATA_HOME: '/xdg/data'},
      {HOME: '/home/someone', REGSHAPE_CACHE_DIR: '/own/cache', REGSHAPE_DATA_DIR: '/own/data', XDG_CACHE_HOME: '/xdg/cache'},
    ]
    for (const env of cases) {
      it(`match Config#cacheDir and #dataDir with ${JSON.stringify(env)}`, async () => {
        const config = await withEnv(env, () => Config.load(ROOT))
        expect(oclifDir('cache', {bin: 'regshape', dirname: 'regshape', env})).to.equal(config.cacheDir)
        expect(oclifDir('data', {bin: 'regshape', dirname: 'regshape', env})).to.equal(config.dataDir)
      })
    }

    it('with HOME empty or relative, are under the home of the user database, where oclif\'s are once bin/run.js settled HOME', async () => {
      const home = userInfo().homedir
      for (const given of ['', 'relative']) {
        const env: NodeJS.ProcessEnv = {HOME: given, XDG_DATA_HOME: 'relative/data'}
        expect(oclifDir('data', {bin: 'regshape', dirname: 'regshape', env: {HOME: given}})).to.equal(join(home, '.local', 'share', 'regshape'))
        expect(oclifDir('cache', {bin: 'regshape', dirname: 'regshape', env: {HOME: given}})).to.equal(join(home, '.cache', 'regshape'))
        expect(settleHome(env, 'linux')).to.equal(undefined)
        expect(env).to.deep.equal({HOME: home})
        const config = await withEnv(env, () => Config.load(ROOT))
        expect([config.home, config.dataDir, config.cacheDir]).to.deep.equal([home, join(home, '.local', 'share', 'regshape'), join(home, '.cache', 'regshape')])
      }
    })

    it('follow macOS for the cache', () => {
      expect(oclifDir('cache', {bin: 'regshape', dirname: 'regshape', env: {HOME: '/Users/someone'}, platform: 'darwin'})).to.equal('/Users/someone/Library/Caches/regshape')
    })
  })

  describe('the order of command ids', () => {
    const collators = ['en', 'en-US', 'und', 'en-US-u-va-posix'].map((locale) => new Intl.Collator(locale))

    it('is the root collation\'s for ids of lower-case letters, ":" and "-"', () =>
      check(
        fc.property(fc.array(fc.stringMatching(/^[a-z:-]{0,12}$/), {maxLength: 30}), (ids) => {
          const sorted = [...ids].sort(codeUnitOrder)
          for (const collator of collators) expect(sorted).to.deep.equal([...ids].sort(collator.compare))
        }),
      ))

    it('keeps ids with other characters, and other locales, to localeCompare', () => {
      for (const id of ['a1', 'a_b', 'Auth', 'é']) expect(isSimpleId(id)).to.equal(false)
      expect(collatesLikeRoot({})).to.equal(true)
      expect(collatesLikeRoot({LANG: 'C.UTF-8'})).to.equal(true)
      expect(collatesLikeRoot({LANG: 'en_GB.UTF-8'})).to.equal(true)
      expect(collatesLikeRoot({LC_ALL: 'POSIX'})).to.equal(true)
      expect(collatesLikeRoot({LANG: 'da_DK.UTF-8'})).to.equal(false)
      expect(collatesLikeRoot({LANG: 'en_US.UTF-8', LC_MESSAGES: 'cs_CZ.UTF-8'})).to.equal(false)
      expect(collatesLikeRoot({LANG: 'en_US.UTF-8', LC_ALL: 'et_EE.UTF-8'})).to.equal(false)
    })

    it('gives the help the same command list as before', async () => {
      const config = await Config.load(ROOT)
      const ids = config.commands.map((command) => command.id)
      const result = await runCli(['--help'])
      expect(result.code).to.equal(0)
      for (const id of ids.filter((id) => !id.includes(':'))) expect(result.stdout).to.include(`  ${id}`)
      expect([...ids].sort(codeUnitOrder)).to.deep.equal([...ids].sort((a, b) => a.localeCompare(b)))
    })
  })

  describe('the core plugins\' patterns', () => {
    it('are matched by name exactly when minimatch would match them only by name', () =>
      check(
        fc.property(fc.stringMatching(/^(@[a-z.*-]{1,6}\/)?[a-z.*!?(){}+@-]{1,8}$/), fc.stringMatching(/^(@[a-z.-]{1,6}\/)?[a-z.-]{1,8}$/), (pattern, name) => {
          if (isLiteralPattern(pattern)) expect(minimatch(name, pattern)).to.equal(name === pattern)
          if (isLiteralPattern(pattern)) expect(minimatch(pattern, pattern)).to.equal(true)
        }),
      ))

    it('that regshape lists are all plain names', () => {
      const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
      for (const name of pjson.oclif.plugins) expect(isLiteralPattern(name), name).to.equal(true)
      for (const pattern of ['@oclif/plugin-*', '!@oclif/plugin-help', '@(a|b)', './x', 'a/../b']) expect(isLiteralPattern(pattern), pattern).to.equal(false)
    })
  })

  describe('the code cache of the bundles (Node 20)', () => {
    // Node 22.1 and later use module.enableCompileCache instead; the code under test is the same.
    let work: string
    let scope: string
    let target: string

    /** Loads scope/bundle.cjs in a new process through installCodeCache; returns what it printed. */
    function run(directory: string): string {
      const script = `
        const {installCodeCache} = require(${JSON.stringify(STARTUP)})
        installCodeCache({directory: ${JSON.stringify(directory)}, hostImport: (specifier) => import(specifier), scope: ${JSON.stringify(scope)}})
        require(${JSON.stringify(target)}).main().then((text) => console.log(text))`
      return execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'}).trim()
    }

    function bundle(value: string): void {
      // like the real bundles: import() only through __regshapeImport (scripts/bundle.mjs)
      writeFileSync(
        target,
        `"use strict";
var __regshapeImport = typeof __regshapeHostImport === "function" ? __regshapeHostImport : (specifier) => import(specifier);
exports.main = async () => (await __regshapeImport(${JSON.stringify(pathToFileURL(join(scope, 'esm.mjs')).href)})).word + " ${value}";
`,
      )
    }

    const cacheFiles = (directory: string) => readdirSync(directory).filter((name) => name.endsWith('.v8cache'))

    beforeEach(function () {
      if ((process.versions.node.split('.').map(Number) as number[])[0]! >= 22) this.skip()
      work = mkdtempSync(join(tmpdir(), 'regshape-code-cache-'))
      scope = join(work, 'bundle')
      mkdirSync(scope)
      target = join(scope, 'bundle.cjs')
      writeFileSync(join(scope, 'esm.mjs'), 'export const word = "imported"\n')
      bundle('one')
    })

    it('is written at exit, then used, and import() works from cached code', () => {
      const directory = join(work, 'cache')
      expect(run(directory)).to.equal('imported one')
      const [file] = cacheFiles(directory)
      expect(file).to.match(new RegExp(`^bundle-node${process.version.replaceAll('.', '\\.')}-${process.arch}-[0-9a-f]{16}\\.v8cache$`))
      const written = readFileSync(join(directory, file!))
      const {mtimeMs} = statSync(join(directory, file!))
      expect(run(directory)).to.equal('imported one')
      expect(run(directory)).to.equal('imported one')
      // accepted, so not written again
      expect(statSync(join(directory, file!)).mtimeMs).to.equal(mtimeMs)
      expect(readFileSync(join(directory, file!)).equals(written)).to.equal(true)
    })

    it('is written again when V8 rejects it', () => {
      const directory = join(work, 'cache')
      run(directory)
      const [file] = cacheFiles(directory)
      const path = join(directory, file!)
      const size = statSync(path).size
      for (const broken of [Buffer.alloc(size, 7), readFileSync(path).subarray(0, 10)]) {
        writeFileSync(path, broken)
        expect(run(directory)).to.equal('imported one')
        const rewritten = readFileSync(path)
        expect(rewritten.equals(broken)).to.equal(false)
        // and the new one is accepted: left as it is by the next run
        expect(run(directory)).to.equal('imported one')
        expect(readFileSync(path).equals(rewritten)).to.equal(true)
      }
    })

    it('never serves a changed file, even one of the same length, and drops the old cache', () => {
      const directory = join(work, 'cache')
      run(directory)
      const [before] = cacheFiles(directory)
      bundle('two')
      expect(run(directory)).to.equal('imported two')
      const after = cacheFiles(directory)
      expect(after).to.have.length(1)
      expect(after[0]).not.to.equal(before)
    })

    it('is never fatal when the cache directory cannot be written', () => {
      const blocker = join(work, 'a-file')
      writeFileSync(blocker, '')
      expect(run(join(blocker, 'cache'))).to.equal('imported one')
      expect(run(join(blocker, 'cache'))).to.equal('imported one')
    })

    it('leaves files outside its scope to Node', () => {
      const directory = join(work, 'cache')
      const outside = join(work, 'outside.cjs')
      writeFileSync(outside, 'exports.main = async () => "outside"\n')
      target = outside
      expect(run(directory)).to.equal('outside')
      expect(() => readdirSync(directory)).to.throw(/ENOENT/)
    })
  })

  describe('the CLI with a warm cache', () => {
    it('runs its own commands and the plugins\' (loaded with import()) from cached code', async () => {
      const home = tempHome()
      const cache = join(home, '.cache', 'regshape', 'code-cache')
      for (let round = 0; round < 2; round++) {
        const help = await runCli(['help', 'auth', 'logout'], {env: {HOME: home}})
        expect(help.code, help.stderr).to.equal(0)
        expect(help.stdout).to.include('Remove persisted credentials for a registry')
        const plugins = await runCli(['plugins', '--core'], {env: {HOME: home}})
        expect(plugins.code, plugins.stderr).to.equal(0)
        expect(plugins.stdout).to.include('@oclif/plugin-help')
        const logout = await runCli(['auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: join(home, 'docker'), HOME: home}})
        expect(logout).to.deep.include({code: 0, stderr: '', stdout: 'Not logged in to registry.example.com.\n'})
        expect(readdirSync(cache)).not.to.deep.equal([])
      }
    })

    it('gives way to source maps on Node 20, which map only what Node\'s own loader compiles', async function () {
      if (Number(process.versions.node.split('.')[0]) >= 22) this.skip()
      const home = tempHome()
      const result = await runCli(['auth', 'logout', '-r', 'registry.example.com'], {env: {HOME: home, NODE_OPTIONS: '--enable-source-maps'}})
      expect(result.code).to.equal(0)
      expect(() => readdirSync(join(home, '.cache'))).to.throw(/ENOENT/)
    })

    it('is not written with NODE_DISABLE_COMPILE_CACHE=1, nor needed when it cannot be', async () => {
      const home = tempHome()
      const off = await runCli(['auth', 'logout', '-r', 'registry.example.com'], {env: {HOME: home, NODE_DISABLE_COMPILE_CACHE: '1'}})
      expect(off.code).to.equal(0)
      expect(() => readdirSync(join(home, '.cache'))).to.throw(/ENOENT/)
      const blocker = join(home, 'a-file')
      writeFileSync(blocker, '')
      const unwritable = await runCli(['auth', 'logout', '-r', 'registry.example.com'], {env: {HOME: home, REGSHAPE_CACHE_DIR: join(blocker, 'cache')}})
      expect(unwritable).to.deep.include({code: 0, stderr: ''})
    })
  })
})
