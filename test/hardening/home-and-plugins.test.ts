/**
 * Where regshape finds the home directory, and the directories it loads code from (issue 10):
 * - with HOME unset, empty or relative, the home comes from the user database, as Docker finds
 *   it; never the temporary directory (oclif's fallback, where anyone can plant a data directory)
 *   nor the current directory (`./.docker/config.json`);
 * - user and linked plugins, and the V8 code cache of the bundles, are only ever loaded from
 *   directories that nobody but the user and root can write.
 *
 * Real processes through bin/run.js. Tests run as root; "another user" is uid 65534 (nobody),
 * owning what it planted, or, where regshape itself runs as nobody (through spawn's uid/gid, which
 * also drops supplementary groups) because its passwd entry matters, uid 12345.
 */
import {expect} from 'chai'
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type CliResult, expectNoStackTrace, ROOT, RUN_JS, tempHome} from '../helpers/cli.js'

const NOBODY = 65534
/** Another user again, who plants files for nobody to trip on */
const PLANTER = 12_345
/** A uid with no passwd entry, so no home in the user database (checked in before()). */
const NO_ENTRY = 42_424
const NODE_20 = Number(process.versions.node.split('.')[0]) < 22

interface Run {
  cwd?: string
  env: NodeJS.ProcessEnv
  /** run as this uid (and the same gid) */
  uid?: number
  /** umask 002 (a shell wrapper), as for users with private groups */
  umask002?: boolean
}

/**
 * The Node running the tests, at a path every uid can reach: under npm exec (npm run test:lts) it
 * lives in root's 0700 home, where another uid cannot execute it.
 */
let reachableNode: string | undefined
function nodeForAnyUid(): string {
  if (reachableNode) return reachableNode
  const directory = mkdtempSync(join(tmpdir(), 'regshape-node-'))
  chmodSync(directory, 0o755)
  const target = join(directory, 'node')
  try {
    linkSync(process.execPath, target)
  } catch {
    copyFileSync(process.execPath, target)
  }

  chmodSync(target, 0o755)
  reachableNode = target
  return target
}

/** bin/run.js with exactly this environment (no HOME unless given) from `cwd`. */
function regshape(args: string[], {cwd = ROOT, env, uid, umask002}: Run): Promise<CliResult> {
  const environment: NodeJS.ProcessEnv = {LANG: 'C.UTF-8', PATH: process.env.PATH, ...env}
  for (const [name, value] of Object.entries(environment)) if (value === undefined) delete environment[name]
  const node = uid === undefined ? process.execPath : nodeForAnyUid()
  const [command, argv] = umask002 ? ['/bin/sh', ['-c', 'umask 002; exec "$@"', 'sh', node, RUN_JS, ...args]] : [node, [RUN_JS, ...args]]
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, argv, {cwd, env: environment, gid: uid, stdio: ['ignore', 'pipe', 'pipe'], uid})
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({code, signal, stderr, stdout})
    })
  })
}

/** A directory of its own that every uid may enter (mkdtemp gives 0700). */
function workDir(): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-h10-'))
  chmodSync(directory, 0o755)
  return directory
}

function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid)
  if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), uid)
}

interface Planted {
  /** files the plugins' init hooks write when oclif runs them */
  markers: string[]
}

/**
 * What `plugins install` and `plugins link` leave in a data directory, for a user plugin and a
 * linked one (kept next to the data directory, owned by root), each with an init hook that
 * writes a marker file into `markers` (world-writable, so a hook run as any uid can write it).
 */
function plantPlugins(dataDir: string, markers: string): Planted {
  mkdirSync(markers, {recursive: true})
  chmodSync(markers, 0o777)
  const linked = `${dataDir}-linked`
  const user = join(dataDir, 'node_modules', 'planted-user')
  const plugins = [
    {name: 'planted-user', root: user, type: 'user'},
    {name: 'planted-link', root: linked, type: 'link'},
  ]
  for (const {name, root} of plugins) {
    mkdirSync(root, {recursive: true})
    writeFileSync(join(root, 'package.json'), JSON.stringify({name, oclif: {hooks: {init: './init.cjs'}}, version: '1.0.0'}))
    writeFileSync(join(root, 'init.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(join(markers, name))}, 'ran')\nmodule.exports = async () => {}\n`)
  }

  const pjson = {
    dependencies: {'planted-user': '1.0.0'},
    oclif: {plugins: [{name: 'planted-user', tag: 'latest', type: 'user'}, {name: 'planted-link', root: linked, type: 'link'}], schema: 1},
    private: true,
  }
  writeFileSync(join(dataDir, 'package.json'), JSON.stringify(pjson))
  return {markers: plugins.map(({name}) => join(markers, name))}
}

/**
 * A V8 code cache for dist/bundle/regshape.cjs, under the name regshape looks for, made from other
 * code of the same length: V8 checks only the length, so loading it runs that code, which writes
 * `marker`. Made in a child node, whose V8 flags are those of bin/run.js.
 */
function plantCodeCache(codeCacheDir: string, marker: string): void {
  const script = `
    const {createHash} = require('node:crypto')
    const {mkdirSync, readFileSync, writeFileSync} = require('node:fs')
    const {Script} = require('node:vm')
    const bundle = ${JSON.stringify(join(ROOT, 'dist', 'bundle', 'regshape.cjs'))}
    const content = readFileSync(bundle)
    const head = '(function (exports, require, module, __filename, __dirname, __regshapeHostImport) { '
    const tail = '\\n});'
    const length = head.length + content.toString('utf8').length + tail.length
    const body = head + 'require("node:fs").writeFileSync(' + JSON.stringify(${JSON.stringify(marker)}) + ', "planted code ran");'
    const data = new Script(body + ' '.repeat(length - body.length - tail.length) + tail, {filename: bundle}).createCachedData()
    const name = 'regshape-node' + process.version + '-' + process.arch + '-' + createHash('sha1').update(content).digest('hex').slice(0, 16) + '.v8cache'
    mkdirSync(${JSON.stringify(codeCacheDir)}, {recursive: true})
    writeFileSync(${JSON.stringify(codeCacheDir)} + '/' + name, data, {mode: 0o600})`
  execFileSync(process.execPath, ['-e', script])
}

function passwdHome(uid: number): string {
  return execFileSync('getent', ['passwd', String(uid)], {encoding: 'utf8'}).trim().split(':')[5]!
}

const notLoggedIn = (dockerConfig: string) => `No stored credentials (config file ${dockerConfig}).\n`

describe('hardening: the home directory, and where plugins and cached code come from', function () {
  this.timeout(120_000)

  before(() => {
    for (const uid of [NO_ENTRY, PLANTER]) expect(spawnSync('getent', ['passwd', String(uid)]).status, `uid ${uid} must have no passwd entry`).to.equal(2)
  })

  describe('with HOME unset, empty or relative', () => {
    let work: string
    let cwd: string
    let shared: string
    let markers: string
    let planted: string[]

    /**
     * Another user's (PLANTER; regshape runs as nobody, whose passwd home is /nonexistent): a current directory holding .docker/config.json, and a sticky, world-writable
     * temporary directory (TMPDIR, like /tmp) where they created oclif's fallback data and cache
     * directories, with plugins and a code cache in them, and a .docker/config.json.
     */
    before(() => {
      work = workDir()
      markers = join(work, 'markers')
      cwd = join(work, 'cwd')
      shared = join(work, 'tmp')
      mkdirSync(shared)
      chmodSync(shared, 0o1777)
      const dataDir = join(shared, '.local', 'share', 'regshape')
      mkdirSync(dataDir, {recursive: true})
      planted = plantPlugins(dataDir, markers).markers
      plantCodeCache(join(shared, '.cache', 'regshape', 'code-cache'), join(markers, 'code-cache'))
      for (const directory of [cwd, shared]) {
        mkdirSync(join(directory, '.docker'), {recursive: true})
        writeFileSync(join(directory, '.docker', 'config.json'), JSON.stringify({auths: {'planted.example': {auth: Buffer.from('mallory:x').toString('base64')}}}))
      }

      for (const file of readdirSync(join(shared, '.cache', 'regshape', 'code-cache'))) chmodSync(join(shared, '.cache', 'regshape', 'code-cache', file), 0o644)
      chownTree(cwd, PLANTER)
      for (const entry of readdirSync(shared)) chownTree(join(shared, entry), PLANTER)
    })

    const homes: Array<[string, string | undefined]> = [
      ['unset', undefined],
      ['empty', ''],
      ['relative', 'somewhere'],
      ['"."', '.'],
    ]
    for (const [label, home] of homes) {
      it(`HOME ${label}: config.json is the one in the passwd entry's home, and nothing planted runs`, async () => {
        const asNobody = await regshape(['auth', 'status'], {cwd, env: {HOME: home, TMPDIR: shared}, uid: NOBODY})
        expect(asNobody).to.deep.include({code: 0, stderr: '', stdout: notLoggedIn(join(passwdHome(NOBODY), '.docker', 'config.json'))})
        expect(planted.filter((marker) => existsSync(marker))).to.deep.equal([])
        expect(existsSync(join(markers, 'code-cache'))).to.equal(false)
      })
    }

    it('fails with one line, touching nothing, when the user database has no home either', async () => {
      for (const home of [undefined, '', 'somewhere']) {
        for (const args of [['auth', 'status'], ['auth', 'login', '-r', 'r.example', '-u', 'u', '-p', 'p'], ['--version']]) {
          const result = await regshape(args, {cwd, env: {HOME: home, TMPDIR: shared}, uid: NO_ENTRY})
          expect(result.code, result.stderr).to.equal(1)
          expect(result.stdout).to.equal('')
          expect(result.stderr).to.match(new RegExp(`^Error: cannot find your home directory: HOME (is not set|is empty|\\(somewhere\\) is not an absolute path) and the user database has none for uid ${NO_ENTRY}; set HOME to an absolute path\\n$`))
          expectNoStackTrace(result)
        }
      }

      expect(planted.filter((marker) => existsSync(marker))).to.deep.equal([])
      expect(existsSync(join(markers, 'code-cache'))).to.equal(false)
    })
  })

  describe('plugins in the data directory', () => {
    /** auth status with this data directory, as root unless `uid`; the plugins' markers that exist after it */
    async function statusWith(dataDir: string, planted: Planted, uid?: number): Promise<{ran: string[]; result: CliResult}> {
      const home = tempHome()
      if (uid !== undefined) chownTree(home, uid)
      const result = await regshape(['auth', 'status'], {env: {DOCKER_CONFIG: join(home, 'docker'), HOME: home, REGSHAPE_DATA_DIR: dataDir}, uid})
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(notLoggedIn(join(home, 'docker', 'config.json')))
      return {ran: planted.markers.filter((marker) => existsSync(marker)).map((marker) => marker.split('/').pop()!), result}
    }

    it('are loaded, user and linked alike, from a data directory only the user (or root) can write', async () => {
      const work = workDir()
      const rootOwned = join(work, 'root-data')
      mkdirSync(rootOwned)
      const byRoot = await statusWith(rootOwned, plantPlugins(rootOwned, join(work, 'markers-root')))
      expect(byRoot.ran).to.deep.equal(['planted-user', 'planted-link'])
      expect(byRoot.result.stderr).to.equal('')
      // someone else's own 0700 data directory is fine for them
      const theirs = join(work, 'nobody-data')
      mkdirSync(theirs, {mode: 0o700})
      const planted = plantPlugins(theirs, join(work, 'markers-nobody'))
      chownTree(theirs, NOBODY)
      chownTree(`${theirs}-linked`, NOBODY)
      const byNobody = await statusWith(theirs, planted, NOBODY)
      expect(byNobody.ran).to.deep.equal(['planted-user', 'planted-link'])
      expect(byNobody.result.stderr).to.equal('')
    })

    /** Each sets up `dataDir` (not yet existing, its parent does) so that someone else could change it. */
    const unsafe: Array<{name: string; reason: (dataDir: string) => string; setUp(dataDir: string): void}> = [
      {name: 'world-writable', reason: (d) => `${d} is writable by other users (mode 0777)`, setUp: (d) => chmodSync(d, 0o777)},
      {name: 'group-writable', reason: (d) => `${d} is writable by its group (mode 0775)`, setUp: (d) => chmodSync(d, 0o775)},
      {name: 'owned by another uid', reason: (d) => `${d} is owned by uid ${NOBODY}`, setUp: (d) => chownSync(d, NOBODY, NOBODY)},
      {
        name: 'safe itself, in a world-writable directory (it can be renamed and replaced)',
        reason: (d) => `${join(d, '..')} is writable by other users (mode 0777)`,
        setUp: (d) => chmodSync(join(d, '..'), 0o777),
      },
      {
        name: 'created by another uid in a sticky directory such as /tmp',
        reason: (d) => `${d} is owned by uid ${NOBODY}`,
        setUp(d) {
          chmodSync(join(d, '..'), 0o1777)
          chownSync(d, NOBODY, NOBODY)
        },
      },
      {
        name: 'a symbolic link (root\'s) to another uid\'s directory',
        reason: (d) => `${d}-target is owned by uid ${NOBODY}`,
        setUp(d) {
          const target = `${d}-target`
          mkdirSync(target)
          for (const entry of readdirSync(d)) execFileSync('mv', [join(d, entry), target])
          execFileSync('rmdir', [d])
          symlinkSync(target, d)
          chownSync(target, NOBODY, NOBODY)
        },
      },
      {
        name: 'safe, with a package.json the group can edit (umask 002)',
        reason: (d) => `${join(d, 'package.json')} is writable by its group (mode 0664)`,
        setUp: (d) => chmodSync(join(d, 'package.json'), 0o664),
      },
    ]
    for (const {name, reason, setUp} of unsafe) {
      it(`are never loaded from a data directory ${name}, with one warning`, async () => {
        const work = workDir()
        const parent = join(work, 'parent')
        const dataDir = join(parent, 'data')
        mkdirSync(dataDir, {recursive: true})
        const planted = plantPlugins(dataDir, join(work, 'markers'))
        setUp(dataDir)
        const {ran, result} = await statusWith(dataDir, planted)
        expect(ran).to.deep.equal([])
        expect(result.stderr).to.equal(`Warning: not loading the plugins in ${dataDir}: ${reason(dataDir)}\n`)
      })
    }

    it('`plugins install`, `link` and the others refuse to work in such a directory, which stays as it was', async () => {
      const work = workDir()
      const dataDir = join(work, 'data')
      mkdirSync(dataDir, {mode: 0o777})
      chmodSync(dataDir, 0o777)
      const planted = plantPlugins(dataDir, join(work, 'markers'))
      const before = readdirSync(dataDir, {recursive: true}).sort()
      const home = tempHome()
      for (const args of [['plugins', 'install', 'file:/nonexistent/plugin.tgz'], ['plugins:link', `${dataDir}-linked`], ['--json', 'plugins'], ['plugins', 'uninstall', 'planted-user']]) {
        const result = await regshape(args, {env: {HOME: home, REGSHAPE_DATA_DIR: dataDir}})
        expect(result).to.deep.include({code: 1, stderr: `Error: refusing to manage plugins in ${dataDir}: ${dataDir} is writable by other users (mode 0777)\n`, stdout: ''})
      }

      expect(readdirSync(dataDir, {recursive: true}).sort()).to.deep.equal(before)
      expect(planted.markers.filter((marker) => existsSync(marker))).to.deep.equal([])
    })

    it('`plugins link` under umask 002 leaves a data directory that the next run trusts', async () => {
      const work = workDir()
      const base = join(work, 'base')
      mkdirSync(base, {mode: 0o700})
      const dataDir = join(base, 'share', 'regshape')
      // the plugin to link: planted into a scratch data directory, which is then dropped
      const scratch = join(work, 'scratch')
      mkdirSync(scratch)
      const planted = plantPlugins(scratch, join(work, 'markers'))
      const home = tempHome()
      const env = {DOCKER_CONFIG: join(home, 'docker'), HOME: home, REGSHAPE_DATA_DIR: dataDir}
      const link = await regshape(['plugins', 'link', '--no-install', `${scratch}-linked`], {env, umask002: true})
      expect(link.code, link.stderr).to.equal(0)
      expect(lstatSync(dataDir).mode & 0o777).to.equal(0o700)
      const status = await regshape(['auth', 'status'], {env, umask002: true})
      expect(status).to.deep.include({code: 0, stderr: '', stdout: notLoggedIn(join(home, 'docker', 'config.json'))})
      expect(planted.markers.filter((marker) => existsSync(marker)).map((marker) => marker.split('/').pop())).to.deep.equal(['planted-link'])
    })

    const escaped = (text: string) => text.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')

    /** Ways a linked plugin stops loading, each set up in its (existing) root; reason: a pattern, given the root as a pattern. */
    const brokenLinks: Array<{name: string; reason: (root: string) => string; setUp(root: string): void}> = [
      {
        name: 'whose build is gone (oclif\'s ModuleLoadError)',
        reason: (root) => `import\\(\\) failed to load ${root}/dist/index.js: Cannot find module '${root}/dist/index.js'.*`,
        setUp(root) {
          const oclif = {commands: {identifier: 'COMMANDS', strategy: 'explicit', target: './dist/index.js'}}
          writeFileSync(join(root, 'package.json'), JSON.stringify({name: 'broken-link', oclif, type: 'module', version: '1.0.0'}))
        },
      },
      {
        name: 'whose directory is gone',
        reason: (root) => `ENOENT: no such file or directory, open '${root}/package.json'`,
        setUp: (root) => execFileSync('rm', ['-r', root]),
      },
      {
        name: 'with a command that does not parse',
        reason: () => "Unexpected token '\\{'",
        setUp(root) {
          mkdirSync(join(root, 'commands'))
          writeFileSync(join(root, 'commands', 'hello.js'), 'export default {{{\n')
          writeFileSync(join(root, 'package.json'), JSON.stringify({name: 'broken-link', oclif: {commands: './commands'}, type: 'module', version: '1.0.0'}))
        },
      },
    ]
    for (const {name, reason, setUp} of brokenLinks) {
      it(`a linked plugin ${name}: one warning line on every command, naming it and \`plugins unlink\`, which removes it`, async () => {
        const work = workDir()
        const dataDir = join(work, 'data')
        const root = join(work, 'broken-link')
        mkdirSync(dataDir, {mode: 0o700})
        mkdirSync(root)
        const plugins = [{name: 'broken-link', root, type: 'link'}]
        writeFileSync(join(dataDir, 'package.json'), JSON.stringify({oclif: {plugins, schema: 1}, private: true}))
        setUp(root)
        const home = tempHome()
        const env = {DOCKER_CONFIG: join(home, 'docker'), HOME: home, REGSHAPE_DATA_DIR: dataDir}
        const warning = new RegExp(
          `^Warning: linked plugin broken-link \\(${escaped(root)}\\)(: its command hello)? cannot be loaded: ${reason(escaped(root))}; fix or rebuild it there, or run \`regshape plugins unlink broken-link\`$`,
        )
        const status = await regshape(['auth', 'status'], {env})
        expect(status).to.deep.include({code: 0, stdout: notLoggedIn(join(home, 'docker', 'config.json'))})
        expect(status.stderr.split('\n'), status.stderr).to.have.length(2)
        expect(status.stderr.split('\n')[0]).to.match(warning)
        // auth login too, refused by a closed port: the warning, the --password caution, the error.
        const login = await regshape(['auth', 'login', '-r', '127.0.0.1:9', '-u', 'u', '-p', 'p'], {env})
        expect(login.code).to.equal(1)
        const lines = login.stderr.trimEnd().split('\n')
        expect(lines, login.stderr).to.have.length(3)
        expect(lines[0]).to.match(warning)
        expect(lines[2]).to.match(/^Error: Login failed for 127\.0\.0\.1:9: /)
        expectNoStackTrace(login)
        const unlink = await regshape(['plugins', 'unlink', 'broken-link'], {env})
        expect(unlink.code, unlink.stderr).to.equal(0)
        expect(await regshape(['auth', 'status'], {env})).to.deep.include({code: 0, stderr: ''})
      })
    }
  })

  describe("Node's own compile cache (Node 22.1 and later, as in the standalone tarballs)", () => {
    beforeEach(function () {
      if (NODE_20) this.skip()
    })

    /** What Node's compile cache left in `cacheDir/code-cache` after one run (it writes at exit). */
    async function cacheFilesAfterRun(cacheDir: string): Promise<string[]> {
      const home = tempHome()
      const result = await regshape(['auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: join(home, 'docker'), HOME: home, REGSHAPE_CACHE_DIR: cacheDir}})
      expect(result).to.deep.include({code: 0, stderr: '', stdout: 'Not logged in to registry.example.com.\n'})
      const directory = join(cacheDir, 'code-cache')
      return existsSync(directory) ? readdirSync(directory, {recursive: true}).map(String) : []
    }

    it('is used in a cache directory only the user can write', async () => {
      const cacheDir = join(workDir(), 'cache')
      mkdirSync(cacheDir, {mode: 0o700})
      expect(await cacheFilesAfterRun(cacheDir)).not.to.deep.equal([])
    })

    for (const [name, mode, owner] of [['world-writable', 0o777, undefined], ['group-writable', 0o775, undefined], ['owned by another uid', 0o755, NOBODY]] as const) {
      it(`is never enabled in a cache directory ${name}: Node neither reads nor writes there`, async () => {
        const cacheDir = join(workDir(), 'cache')
        mkdirSync(cacheDir, {mode})
        chmodSync(cacheDir, mode)
        if (owner !== undefined) chownSync(cacheDir, owner, owner)
        expect(await cacheFilesAfterRun(cacheDir)).to.deep.equal([])
      })
    }
  })

  describe('the code cache of the bundles (Node 20; Node 22.1 and later use their own)', () => {
    beforeEach(function () {
      if (!NODE_20) this.skip()
    })

    /** auth logout with this cache directory; whether the planted cached code ran */
    async function logoutWith(cacheDir: string, marker: string): Promise<boolean> {
      const home = tempHome()
      const result = await regshape(['auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: join(home, 'docker'), HOME: home, REGSHAPE_CACHE_DIR: cacheDir}})
      const ran = existsSync(marker)
      if (!ran) expect(result).to.deep.include({code: 0, stderr: '', stdout: 'Not logged in to registry.example.com.\n'})
      return ran
    }

    it('is read from a cache directory only the user can write (the planted cache is live)', async () => {
      const work = workDir()
      const cacheDir = join(work, 'cache')
      mkdirSync(cacheDir, {mode: 0o700})
      plantCodeCache(join(cacheDir, 'code-cache'), join(work, 'marker'))
      expect(await logoutWith(cacheDir, join(work, 'marker'))).to.equal(true)
    })

    const unsafe: Array<{name: string; setUp(cacheDir: string): void}> = [
      {name: 'a cache directory owned by another uid', setUp: (c) => chownTree(c, NOBODY)},
      {name: 'a world-writable cache directory', setUp: (c) => chmodSync(join(c, 'code-cache'), 0o777)},
      {name: 'a group-writable cache directory', setUp: (c) => chmodSync(c, 0o775)},
      {
        name: 'a cache file owned by another uid',
        setUp(c) {
          for (const file of readdirSync(join(c, 'code-cache'))) chownSync(join(c, 'code-cache', file), NOBODY, NOBODY)
        },
      },
      {
        name: 'a cache file others can write',
        setUp(c) {
          for (const file of readdirSync(join(c, 'code-cache'))) chmodSync(join(c, 'code-cache', file), 0o666)
        },
      },
    ]
    for (const {name, setUp} of unsafe) {
      it(`is never read from ${name}`, async () => {
        const work = workDir()
        const cacheDir = join(work, 'cache')
        mkdirSync(cacheDir, {mode: 0o755})
        plantCodeCache(join(cacheDir, 'code-cache'), join(work, 'marker'))
        setUp(cacheDir)
        expect(await logoutWith(cacheDir, join(work, 'marker'))).to.equal(false)
      })
    }
  })
})
