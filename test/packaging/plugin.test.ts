/**
 * A third-party plugin, for real: @regshape/sdk is built and packed, the example plugin is built
 * against it and packed, `regshape plugins install file:` installs it into a temporary data
 * directory, and its command runs against the real registry with the credentials `auth login`
 * stored. `plugins link` is checked the same way.
 */
import {execFileSync} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {basename, dirname, join} from 'node:path'

import {expect} from 'chai'

import {freePort} from '../fixtures/ports.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, ROOT, runCli, tempHome} from '../helpers/cli.js'

const {alice} = USERS
/** What -p on the command line earns, as with docker; the only line these runs may print on stderr. */
const PASSWORD_FLAG_WARNING = 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n'

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {cwd, encoding: 'utf8', env: {...process.env, npm_config_audit: 'false', npm_config_fund: 'false'}, stdio: ['ignore', 'pipe', 'inherit']})
}

/** Packs @regshape/sdk and the example plugin (depending on that SDK tarball); returns the plugin's build dir and tarball. */
function buildPlugin(): {directory: string; tarball: string} {
  const work = mkdtempSync(join(tmpdir(), 'regshape-plugin-build-'))
  run(process.execPath, [join(ROOT, 'scripts', 'build-sdk.mjs')], ROOT)
  const sdkTarball = join(work, run('npm', ['pack', '--json', '--pack-destination', work], join(ROOT, 'packages', 'sdk')).match(/"filename":\s*"([^"]+)"/)![1])
  const directory = join(work, 'plugin-whoami')
  cpSync(join(ROOT, 'examples', 'plugin-whoami'), directory, {filter: (source) => !/\/(node_modules|dist)$/.test(source), recursive: true})
  // As published, the plugin depends on @regshape/sdk from the registry; here, on the tarball just built.
  const pjsonPath = join(directory, 'package.json')
  const pjson = JSON.parse(readFileSync(pjsonPath, 'utf8'))
  pjson.dependencies['@regshape/sdk'] = `file:${sdkTarball}`
  writeFileSync(pjsonPath, JSON.stringify(pjson, null, 2))
  run('npm', ['install', '--omit=dev'], directory)
  // Build tools come from this repository, so the plugin's dev dependencies need not be fetched.
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], directory)
  run(process.execPath, [join(ROOT, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest'], directory)
  const tarball = join(work, run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], directory).match(/"filename":\s*"([^"]+)"/)![1])
  return {directory, tarball}
}

/** regshape with its own data, cache and config directories, and the machine's npm cache. */
function pluginEnv(): NodeJS.ProcessEnv {
  const base = mkdtempSync(join(tmpdir(), 'regshape-plugin-home-'))
  return {
    DOCKER_CONFIG: join(base, 'docker'),
    HOME: tempHome(),
    REGSHAPE_CACHE_DIR: join(base, 'cache'),
    REGSHAPE_CONFIG_DIR: join(base, 'config'),
    REGSHAPE_DATA_DIR: join(base, 'data'),
    npm_config_cache: join(homedir(), '.npm'),
  }
}

function expectOk(result: CliResult): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).to.equal(0)
  expectNoStackTrace(result)
}

describe('plugins built on @regshape/sdk', function () {
  this.timeout(300_000)
  let plugin: {directory: string; tarball: string}

  before(() => {
    plugin = buildPlugin()
  })

  it('installs from a tarball with `plugins install file:` and runs with the stored credentials', async () => {
    const env = pluginEnv()
    const registry = await basicRegistry()
    expectOk(await runCli(['plugins', 'install', `file:${plugin.tarball}`], {env, timeoutMs: 240_000}))
    const listed = await runCli(['plugins', '--json'], {env})
    expect(JSON.parse(listed.stdout).map((p: {name: string}) => p.name)).to.include('regshape-plugin-whoami')
    // The plugin brings the small SDK, never a second copy of regshape itself.
    const modules = join(env.REGSHAPE_DATA_DIR as string, 'node_modules')
    expect(existsSync(join(modules, '@regshape', 'sdk', 'package.json'))).to.equal(true)
    expect(existsSync(join(modules, 'regshape'))).to.equal(false)

    const before = await runCli(['example', 'whoami', '-r', registry.host], {env})
    expectOk(before)
    expect(before.stdout).to.equal(`anonymous on ${registry.host}, from anonymous (nothing stored): not accepted (HTTP 401)\n`)

    expectOk(await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env, stdin: alice.password}))
    const after = await runCli(['example', 'whoami', '-r', registry.host], {env})
    expectOk(after)
    expect(after.stdout).to.equal(`alice on ${registry.host}, from file ${join(env.DOCKER_CONFIG as string, 'config.json')}: accepted\n`)
    expectNoSecrets(after, [alice.password])
  })

  for (const form of ['file:./NAME', './NAME', 'NAME']) {
    it(`installs from \`plugins install ${form}\`, taken from the current directory, with no warning`, async () => {
      const env = pluginEnv()
      const registry = await basicRegistry()
      const [directory, name] = [dirname(plugin.tarball), basename(plugin.tarball)]
      const installed = await runCli(['plugins', 'install', form.replace('NAME', name)], {cwd: directory, env, timeoutMs: 240_000})
      expectOk(installed)
      expect(installed.stderr).not.to.match(/Warning|prepare script/)
      expect(installed.stderr).to.include(`Installing plugin file:${plugin.tarball}... installed v0.1.0`)
      const result = await runCli(['example', 'whoami', '-r', registry.host, '-u', 'alice', '-p', alice.password], {env})
      expectOk(result)
      expect(result.stderr).to.equal(PASSWORD_FLAG_WARNING)
      expect(result.stdout).to.equal(`alice on ${registry.host}, from command-line flags: accepted\n`)
    })
  }

  it('gets the shared flags, --json, telemetry and error handling from RegshapeCommand', async () => {
    const env = pluginEnv()
    const registry = await tokenRegistry()
    expectOk(await runCli(['plugins', 'install', `file:${plugin.tarball}`], {env, timeoutMs: 240_000}))

    const help = await runCli(['example', 'whoami', '--help'], {env})
    expect(help.stdout).to.include('GLOBAL FLAGS').and.include('--docker-config=PATH').and.include('--time-scenarios')

    // Global flags before the command, explicit credentials, JSON, and a scenario on stderr.
    const json = await runCli(['--json', 'example', 'whoami', '-r', registry.host, '-u', 'bob', '-p', USERS.bob.password, '--time-scenarios'], {env})
    expectOk(json)
    expect(JSON.parse(json.stdout)).to.deep.equal({accepted: true, registry: registry.host, source: {kind: 'flags'}, status: 'success', username: 'bob'})
    const scenario = json.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
    expect(scenario.map((event) => event.type)).to.deep.equal(['scenario'])
    expect(scenario[0].name).to.equal('example whoami')
    expect(scenario[0].steps.map((step: {name: string}) => step.name)).to.deep.equal(['ping'])
    expectNoSecrets(json, [USERS.bob.password, ...registry.tokenServer.issuedTokens])

    const port = await freePort()
    const unreachable = await runCli(['example', 'whoami', '-r', `127.0.0.1:${port}`], {env})
    expect(unreachable.code).to.equal(1)
    expect(unreachable.stderr).to.equal(`Error: 127.0.0.1:${port} is not reachable: connect ECONNREFUSED 127.0.0.1:${port}\n`)
    const usage = await runCli(['example', 'whoami'], {env})
    expect(usage.code).to.equal(2)
    expect(usage.stderr).to.equal('Error: Missing required flag registry (see --help)\n')
  })

  it('adds its probe case through @regshape/sdk/probe: it runs and reports like a built-in one, with the plugin\'s name', async () => {
    const env = pluginEnv()
    const registry = await basicRegistry()
    expectOk(await runCli(['plugins', 'install', `file:${plugin.tarball}`], {env, timeoutMs: 240_000}))
    expectOk(await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env, stdin: alice.password}))
    const json = await runCli(['probe', `${registry.host}/probe/plugin`, '--case', 'whoami-*', '--case', 'pull-manifest-by-tag', '--json'], {env})
    expectOk(json)
    const report = JSON.parse(json.stdout) as {cases: Array<{area: string; level: string; name: string; plugin?: string; verdict: string}>}
    expect(report.cases.map(({area, level, name, plugin: from, verdict}) => ({area, level, name, plugin: from, verdict}))).to.deep.equal([
      {area: 'pull', level: 'MUST', name: 'pull-manifest-by-tag', plugin: undefined, verdict: 'pass'},
      {area: 'pull', level: 'MAY', name: 'whoami-api-version-header', plugin: 'regshape-plugin-whoami', verdict: 'pass'},
    ])
    const text = await runCli(['probe', `${registry.host}/probe/plugin`, '--case', 'whoami-*'], {env})
    expectOk(text)
    expect(text.stdout).to.match(/^whoami-api-version-header +MAY +200 and Docker-Distribution-API-Version: registry\/2\.0 +200 +pass \[regshape-plugin-whoami\]$/m)
    // Selected out like any case; and without the plugin, the name is unknown.
    const skipped = await runCli(['probe', `${registry.host}/probe/plugin`, '--case', 'whoami-*', '--skip', 'whoami-api-*'], {env})
    expect(skipped.code).to.equal(2)
    expect(skipped.stderr).to.equal('Error: the selection (--area, --case, --skip, --level) leaves no case to run\n')
    expectOk(await runCli(['plugins', 'uninstall', 'regshape-plugin-whoami'], {env, timeoutMs: 120_000}))
    const gone = await runCli(['probe', `${registry.host}/probe/plugin`, '--case', 'whoami-*'], {env})
    expect(gone.code).to.equal(2)
    expect(gone.stderr).to.match(/^Error: no probe case matches "whoami-\*"/)
  })

  it('works from a directory with `plugins link`', async () => {
    const env = pluginEnv()
    const registry = await basicRegistry()
    expectOk(await runCli(['plugins', 'link', plugin.directory, '--no-install'], {env, timeoutMs: 120_000}))
    const result = await runCli(['example', 'whoami', '-r', registry.host, '-u', 'alice', '-p', alice.password], {env})
    expectOk(result)
    // oclif would add "regshape-plugin-whoami is a linked ESM module and cannot be auto-transpiled" to every run
    expect(result.stderr).to.equal(PASSWORD_FLAG_WARNING)
    expect(result.stdout).to.equal(`alice on ${registry.host}, from command-line flags: accepted\n`)
  })
})
