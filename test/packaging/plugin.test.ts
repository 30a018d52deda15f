/**
 * Third-party plugins, for real: @regshape/sdk is built and packed, each example plugin is built
 * against it and packed, `regshape plugins install file:` installs it into a temporary data
 * directory, and its command runs against the real registry with the credentials `auth login`
 * stored. `plugins link` is checked the same way. The promote example does registry work through
 * the SDK (a Repository, manifests, config blobs, the Copier); skopeo, which no one here wrote,
 * reads what it copied.
 */
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {basename, dirname, join} from 'node:path'

import {expect} from 'chai'

import {ImagePusher, MEDIA, type PushedManifest, pushDatedImage, pushIndex} from '../fixtures/images.js'
import {freePort} from '../fixtures/ports.js'
import {runProcess} from '../fixtures/proc.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, ROOT, runCli, tempHome} from '../helpers/cli.js'

const {alice} = USERS
/** What -p on the command line earns, as with docker; the only line these runs may print on stderr. */
const PASSWORD_FLAG_WARNING = 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n'

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {cwd, encoding: 'utf8', env: {...process.env, npm_config_audit: 'false', npm_config_fund: 'false'}, stdio: ['ignore', 'pipe', 'inherit']})
}

let sdkTarball: string | undefined

/** Builds and packs @regshape/sdk, once for every plugin here; returns the tarball. */
function packSdk(): string {
  if (sdkTarball === undefined) {
    const work = mkdtempSync(join(tmpdir(), 'regshape-sdk-pack-'))
    run(process.execPath, [join(ROOT, 'scripts', 'build-sdk.mjs')], ROOT)
    sdkTarball = join(work, run('npm', ['pack', '--json', '--pack-destination', work], join(ROOT, 'packages', 'sdk')).match(/"filename":\s*"([^"]+)"/)![1])
  }

  return sdkTarball
}

/** Packs an example plugin of examples/, depending on the SDK's tarball; returns the plugin's build dir and tarball. */
function buildPlugin(example: string): {directory: string; tarball: string} {
  const work = mkdtempSync(join(tmpdir(), 'regshape-plugin-build-'))
  const sdk = packSdk()
  const directory = join(work, example)
  cpSync(join(ROOT, 'examples', example), directory, {filter: (source) => !/\/(node_modules|dist)$/.test(source), recursive: true})
  // As published, the plugin depends on @regshape/sdk from the registry; here, on the tarball just built.
  const pjsonPath = join(directory, 'package.json')
  const pjson = JSON.parse(readFileSync(pjsonPath, 'utf8'))
  pjson.dependencies['@regshape/sdk'] = `file:${sdk}`
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
    plugin = buildPlugin('plugin-whoami')
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

/** The digest of what a tag names, as skopeo reads it (a witness regshape's code plays no part in). */
async function digestAt(registry: RegistryHandle, reference: string): Promise<string> {
  const inspected = await runProcess('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${alice.username}:${alice.password}`, `docker://${registry.host}/${reference}`], {timeoutMs: 60_000})
  expect(inspected.code, inspected.stderr).to.equal(0)
  return `sha256:${createHash('sha256').update(inspected.stdout).digest('hex')}`
}

function expectError(result: CliResult, code: number, line: string, warning = ''): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).to.equal(code)
  expect(result.stdout).to.equal('')
  expect(result.stderr).to.equal(`${warning}Error: ${line}\n`)
  expectNoStackTrace(result)
}

describe('the promote example plugin: registry work through @regshape/sdk', function () {
  this.timeout(300_000)
  const JAN = '2024-01-15T09:00:00Z'
  const JUN = '2024-06-03T14:30:00Z'
  let plugin: {directory: string; tarball: string}
  let registry: RegistryHandle
  let env: NodeJS.ProcessEnv
  let images: {jan: PushedManifest; jun: PushedManifest}
  /** A repository of its own for each test, so that none sees another's DST. */
  let next = 0
  const freshDestination = () => `promote/prod${++next}:stable`
  const promote = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(['example', 'promote', ...args], {env: {...env, ...extra}, timeoutMs: 60_000})
  const at = (reference: string) => `${registry.host}/${reference}`

  before(async () => {
    plugin = buildPlugin('plugin-promote')
    registry = await basicRegistry()
    env = pluginEnv()
    expectOk(await runCli(['plugins', 'install', `file:${plugin.tarball}`], {env, timeoutMs: 240_000}))
    expectOk(await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env, stdin: alice.password}))
    images = {
      jan: await pushDatedImage(registry, 'promote/team', 'jan', JAN),
      jun: await pushDatedImage(registry, 'promote/team', 'jun', JUN),
    }
  })

  it('copies to a DST that does not exist; with --if-newer, over an older DST but not over one as new or newer', async () => {
    const destination = freshDestination()
    const [jan, jun, dst] = [at('promote/team:jan'), at('promote/team:jun'), at(destination)]
    const first = await promote([jan, dst, '--if-newer'])
    expectOk(first)
    expect(first.stdout).to.equal(`Promoted ${jan} -> ${dst}: ${images.jan.digest} (created ${JAN}; ${dst} did not exist)\n`)
    expect(first.stderr).to.equal('')
    expect(await digestAt(registry, destination)).to.equal(images.jan.digest)

    const newer = await promote([jun, dst, '--if-newer'])
    expectOk(newer)
    expect(newer.stdout).to.equal(`Promoted ${jun} -> ${dst}: ${images.jun.digest} (created ${JUN}, after ${JAN})\n`)
    expect(await digestAt(registry, destination)).to.equal(images.jun.digest)

    const older = await promote([jan, dst, '--if-newer'])
    expectOk(older)
    expect(older.stdout).to.equal(`Skipped: ${dst} (created ${JUN}) is as new as ${jan} (created ${JAN}) or newer\n`)
    expect(await digestAt(registry, destination)).to.equal(images.jun.digest)

    const same = await promote([jun, dst, '--if-newer'])
    expectOk(same)
    expect(same.stdout).to.equal(`Skipped: ${dst} (created ${JUN}) is as new as ${jun} (created ${JUN}) or newer\n`)

    // Without --if-newer, no date is read: the copy happens.
    const always = await promote([jan, dst])
    expectOk(always)
    expect(always.stdout).to.equal(`Promoted ${jan} -> ${dst}: ${images.jan.digest}\n`)
    expect(await digestAt(registry, destination)).to.equal(images.jan.digest)
    expectNoSecrets(always, [alice.password])
  })

  it('--json: one object, promoted or not, with both dates; RegistryCommand\'s flags, steps and JSON errors', async () => {
    const destination = freshDestination()
    const [jan, jun, dst] = [at('promote/team:jan'), at('promote/team:jun'), at(destination)]
    const copied = await promote(['--json', jun, dst, '--if-newer', '--time-scenarios'])
    expectOk(copied)
    expect(JSON.parse(copied.stdout)).to.deep.equal({status: 'success', promoted: true, source: jun, destination: dst, digest: images.jun.digest, source_created: JUN, destination_created: null})
    const scenario = JSON.parse(copied.stderr.split('\n').find((line) => line.startsWith('{"type":"scenario"'))!)
    expect(scenario.name).to.equal('example promote')
    expect(scenario.steps.map((step: {name: string}) => step.name)).to.deep.equal(['created', 'copy'])

    const skipped = await promote(['--json', jan, dst, '--if-newer'])
    expectOk(skipped)
    expect(JSON.parse(skipped.stdout)).to.deep.equal({status: 'success', promoted: false, source: jan, destination: dst, digest: images.jun.digest, source_created: JAN, destination_created: JUN})
    expect(skipped.stderr).to.equal('')

    const plain = await promote(['--json', jan, at(freshDestination())])
    expectOk(plain)
    expect(JSON.parse(plain.stdout)).to.include({promoted: true, digest: images.jan.digest, source_created: null, destination_created: null})

    const missing = await promote(['--json', at('promote/team:nope'), dst, '--if-newer'])
    expect(missing.code).to.equal(1)
    const error = JSON.parse(missing.stdout)
    expect(error).to.include({status: 'error', code: 'MANIFEST_UNKNOWN'})
    expect(error.error).to.match(new RegExp(`^manifest get ${at('promote/team:nope')}: MANIFEST_UNKNOWN`))
    expect(await digestAt(registry, destination)).to.equal(images.jun.digest)

    const help = await promote(['--help'])
    expect(help.stdout).to.include('GLOBAL FLAGS').and.include('--break-rules=FILE').and.include('--if-newer')
  })

  it('dates an index by the config of its first manifest', async () => {
    const destination = freshDestination()
    const dst = at(destination)
    expectOk(await promote([at('promote/team:jun'), dst]))
    // The first manifest is newer than DST, the second older: the index is copied...
    const laterFirst = await pushIndex(registry, 'promote/team', 'later-first', [
      {...(await pushDatedImage(registry, 'promote/team', undefined, '2024-09-01T00:00:00Z', {architecture: 'arm64'})), platform: {architecture: 'arm64', os: 'linux'}},
      {...(await pushDatedImage(registry, 'promote/team', undefined, '2023-03-01T00:00:00Z')), platform: {architecture: 'amd64', os: 'linux'}},
    ])
    // ...and with the order reversed (the newer one second), it is not.
    const earlierFirst = await pushIndex(registry, 'promote/team', 'earlier-first', [
      {...(await pushDatedImage(registry, 'promote/team', undefined, '2023-03-01T00:00:00Z')), platform: {architecture: 'amd64', os: 'linux'}},
      {...(await pushDatedImage(registry, 'promote/team', undefined, '2025-09-01T00:00:00Z', {architecture: 'arm64'})), platform: {architecture: 'arm64', os: 'linux'}},
    ])
    const skipped = await promote([at('promote/team:earlier-first'), dst, '--if-newer'])
    expectOk(skipped)
    expect(skipped.stdout).to.equal(`Skipped: ${dst} (created ${JUN}) is as new as ${at('promote/team:earlier-first')} (created 2023-03-01T00:00:00Z) or newer\n`)
    const copied = await promote([at('promote/team:later-first'), dst, '--if-newer'])
    expectOk(copied)
    expect(copied.stdout).to.equal(`Promoted ${at('promote/team:later-first')} -> ${dst}: ${laterFirst.digest} (created 2024-09-01T00:00:00Z, after ${JUN})\n`)
    expect(await digestAt(registry, destination)).to.equal(laterFirst.digest)
    // DST is an index now: it is dated the same way.
    const again = await promote([at('promote/team:earlier-first'), dst, '--if-newer'])
    expect(again.stdout).to.equal(`Skipped: ${dst} (created 2024-09-01T00:00:00Z) is as new as ${at('promote/team:earlier-first')} (created 2023-03-01T00:00:00Z) or newer\n`)
    expect(earlierFirst.digest).not.to.equal(laterFirst.digest)
  })

  it('refuses what it cannot date or read, and a wrong command line: one Error line, exit 1 or 2, DST untouched', async () => {
    const destination = freshDestination()
    const dst = at(destination)
    expectOk(await promote([at('promote/team:jan'), dst]))

    await pushDatedImage(registry, 'promote/team', 'undated', undefined)
    expectError(await promote([at('promote/team:undated'), dst, '--if-newer']), 1, `${at('promote/team:undated')}: its config has no "created" date to compare`)
    await pushDatedImage(registry, 'promote/team', 'odd-date', 'last tuesday')
    expectError(await promote([at('promote/team:odd-date'), dst, '--if-newer']), 1, `${at('promote/team:odd-date')}: its config has no "created" date to compare`)
    // A config of 4 MiB and more is never fetched: its size in the manifest is enough to refuse it.
    const huge = await pushDatedImage(registry, 'promote/team', 'huge-config', JUN, {config: {padding: 'x'.repeat(4 * 1024 * 1024)}})
    const hugeConfig = JSON.parse(huge.bytes.toString('utf8')).config
    const mark = registry.markLogs()
    expectError(await promote([at('promote/team:huge-config'), dst, '--if-newer']), 1, `${at('promote/team:huge-config')}: its config blob is ${hugeConfig.size} bytes, more than the 4194304 read for a date`)
    const paths = registry.requestLog(mark).map((entry) => entry.path)
    expect(paths).to.include('/v2/promote/team/manifests/huge-config').and.not.include(`/v2/promote/team/blobs/${hugeConfig.digest}`)
    // A manifest that says its config is smaller than it is (distribution takes it): the read stops there.
    const push = new ImagePusher(registry)
    const config = await push.blob('promote/team', Buffer.from(JSON.stringify({created: JUN, padding: 'x'.repeat(64 * 1024)})), MEDIA.ociConfig)
    await push.manifest('promote/team', 'short-config', Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, config: {...config, size: 100}, layers: []})), MEDIA.ociManifest)
    expectError(await promote([at('promote/team:short-config'), dst, '--if-newer']), 1, `${at('promote/team:short-config')}: its config blob is longer than the 100 bytes its manifest says`)
    expect(await digestAt(registry, destination)).to.equal(images.jan.digest)

    const malformed = await promote(['promote/Team:jan', dst])
    expect(malformed.code).to.equal(2)
    expect(malformed.stderr).to.match(/^Error: SRC: invalid reference "promote\/Team:jan": [^\n]+\n$/)
    expectError(await promote([at('promote/team'), dst]), 2, `SRC ${at('promote/team')} names no tag or digest`)
    expectError(await promote([at('promote/team:jan'), `${dst}@${images.jan.digest}`]), 2, `DST ${dst}@${images.jan.digest} names a digest; promote moves a tag`)
    expectError(await promote([`${at('promote/team')}@${images.jan.digest}`, at('promote/prod')]), 2, `DST ${at('promote/prod')} names no tag, and SRC has none to lend it`)
    // 127.0.0.1 and localhost are the same registry, but not the same credentials key.
    const [, port] = registry.host.split(':')
    expectError(await promote([at('promote/team:jan'), `localhost:${port}/${destination}`, '-u', 'alice', '-p', alice.password]), 2, '-u/--username and -p/--password cannot be used when SRC and DST are on different registries; store each one\'s credentials (regshape auth login) instead', PASSWORD_FLAG_WARNING)
    expect(await digestAt(registry, destination)).to.equal(images.jan.digest)
  })

  it('works from a directory with `plugins link`', async () => {
    const linked = pluginEnv()
    expectOk(await runCli(['plugins', 'link', plugin.directory, '--no-install'], {env: linked, timeoutMs: 120_000}))
    const destination = freshDestination()
    const [jun, dst] = [at('promote/team:jun'), at(destination)]
    const result = await runCli(['example', 'promote', jun, dst, '--if-newer', '-u', 'alice', '-p', alice.password], {env: linked, timeoutMs: 60_000})
    expectOk(result)
    expect(result.stderr).to.equal(PASSWORD_FLAG_WARNING)
    expect(result.stdout).to.equal(`Promoted ${jun} -> ${dst}: ${images.jun.digest} (created ${JUN}; ${dst} did not exist)\n`)
    expect(await digestAt(registry, destination)).to.equal(images.jun.digest)
  })
})
