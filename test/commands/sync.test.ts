import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, type ServerResponse, createServer, request as httpRequest} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {ImagePusher, MEDIA, seedImages} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import {type AccessLogEntry, type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * regshape sync (and copy --all-tags) between two real distribution registries with different
 * users: the shared token-auth one as the source (alice, through the token server), a second one
 * of carol's (htpasswd) as the destination, and the shared htpasswd one as the third registry of
 * the air-gap round trip. skopeo is the witness of what arrived; the access logs are the proof of
 * what was sent. node:http servers stand only for what distribution cannot do: a source that
 * serves a corrupt blob for one image, and a registry that rate-limits with 429 and Retry-After.
 */

const {alice} = USERS
const carol = {username: 'carol', password: 'c4rol-only-here'}
type User = {password: string; username: string}

/** 53 tags: versions with and without v, short ones, prereleases, and names that are no version. */
const VERSIONS = ['0.9.0', '1.0.0', '1.0.1', 'v1.1.0', '1.2.0', '1.2.3', 'v1.3.0', '1.10.0', '2.0.0-rc.1', '2.0.0', '2.1.0', 'v2.1.1', '2.2.0', '3.0.0-beta.2', '3.0.0', 'v3.1.0', '3.1.5', '3', '3.2', '4.0.0']
const MORE_VERSIONS = Array.from({length: 20}, (_, at) => `5.${Math.floor(at / 4)}.${at % 4}`)
const NAMES = ['latest', 'main', 'nightly', 'stable', 'edge', '1.2-alpine', '3.2-debug', 'sha-0a1b2c3', 'feature-login', 'release-2024-01', 'v1', 'x1.2.3', 'testing']
const APP_TAGS = [...VERSIONS, ...MORE_VERSIONS, ...NAMES]
/** Distinct images in sync/app; its tags name them in turn (tags of a mirror share images and blobs). */
const APP_IMAGES = 6

/**
 * Images of 3 small layers each: a base layer every image shares, a tools layer shared within a
 * repository, and one of its own; then tags pointing at them in turn.
 */
async function seed(registry: RegistryHandle, repository: string, tags: string[], images: number, seedText = repository): Promise<Map<string, string>> {
  const push = new ImagePusher(registry)
  const base = await push.blob(repository, Buffer.from('the base layer every image shares\n'), MEDIA.ociLayer)
  const tools = await push.blob(repository, Buffer.from(`tools of ${seedText}\n`), MEDIA.ociLayer)
  const manifests: Array<{bytes: Buffer; digest: string}> = []
  for (let at = 0; at < images; at++) {
    const own = await push.blob(repository, Buffer.from(`layer ${at} of ${seedText}\n`), MEDIA.ociLayer)
    const config = await push.blob(repository, Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: []}, config: {Labels: {image: `${seedText} ${at}`}}})), MEDIA.ociConfig)
    const bytes = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [base, tools, own]}))
    manifests.push({bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`})
  }

  const digests = new Map<string, string>()
  for (const [at, tag] of tags.entries()) {
    const {bytes, digest} = manifests[at % images]
    await push.manifest(repository, tag, bytes, MEDIA.ociManifest)
    digests.set(tag, digest)
  }

  return digests
}

function configFor(logins: Array<[string, User]>): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-sync-cfg-'))
  const auths = Object.fromEntries(logins.map(([host, user]) => [host, {auth: Buffer.from(`${user.username}:${user.password}`).toString('base64')}]))
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths}))
  return join(directory, 'config.json')
}

interface SyncJson {
  dry_run: boolean
  repositories: number
  shard: null | string
  summary: {bytes: number; copied: number; failed: number; missing: number; skipped: number; tags: number; total: number}
  tags: Array<{bytes: number; destination: string; digest: null | string; error: null | string; source: string; status: string; tag: null | string}>
}

function parsed(result: CliResult): SyncJson {
  expect(result.stdout.trimEnd().split('\n'), result.stdout).to.have.length(1)
  return JSON.parse(result.stdout) as SyncJson
}

function tagsOf(json: SyncJson): string[] {
  return json.tags.map((entry) => entry.tag!).sort()
}

function writes(entries: AccessLogEntry[]): AccessLogEntry[] {
  return entries.filter((entry) => entry.method === 'POST' || entry.method === 'PUT' || entry.method === 'PATCH' || entry.method === 'DELETE')
}

function expectOneErrorLine(result: CliResult, pattern: RegExp, code = 2): void {
  expect(result.code, result.stderr).to.equal(code)
  expect(result.stdout).to.equal('')
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).to.have.length(1)
  expect(lines[0]).to.match(pattern)
  expectNoStackTrace(result)
}

/** The digest a tag names, as the registry says (HEAD, Docker-Content-Digest), with plain node:http. */
function headDigest(registry: RegistryHandle, user: User, repository: string, tag: string): Promise<string | undefined> {
  return new Promise((resolvePromise, reject) => {
    const accept = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest].join(', ')
    const request = httpRequest(`${registry.url}/v2/${repository}/manifests/${tag}`, {headers: {accept, authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`}, method: 'HEAD'}, (response) => {
      response.resume()
      resolvePromise(response.statusCode === 200 ? (response.headers['docker-content-digest'] as string) : undefined)
    })
    request.on('error', reject)
    request.end()
  })
}

async function skopeoDigest(reference: string, creds?: User): Promise<string> {
  const args = ['inspect', '--format', '{{.Digest}}', ...(reference.startsWith('docker://') ? ['--tls-verify=false'] : []), ...(creds ? ['--creds', `${creds.username}:${creds.password}`] : []), reference]
  const result = await runProcess('skopeo', args, {timeoutMs: 60_000})
  expect(result.code, result.stderr).to.equal(0)
  return result.stdout.trim()
}

/**
 * A node:http server in front of the source registry, forwarding everything, for what
 * distribution cannot do: `fault` may answer a request itself (a 429 with Retry-After, a rate
 * limit), `corrupt` flips the first byte of an answer (a source serving a corrupt blob). It notes
 * when each request arrived.
 */
interface FrontProxy {
  arrivals: Array<{at: number; method: string; url: string}>
  close(): Promise<void>
  host: string
}

async function frontProxy(
  target: RegistryHandle,
  options: {corrupt?: (request: IncomingMessage) => boolean; delayMs?: (request: IncomingMessage) => number; fault?: (request: IncomingMessage) => undefined | {headers: Record<string, string>; status: number}},
): Promise<FrontProxy> {
  const arrivals: FrontProxy['arrivals'] = []
  const server = createServer((request, response) => {
    arrivals.push({at: performance.now(), method: request.method ?? '', url: request.url ?? ''})
    const delay = options.delayMs?.(request) ?? 0
    if (delay > 0) setTimeout(() => answer(request, response), delay)
    else answer(request, response)
  })
  const answer = (request: IncomingMessage, response: ServerResponse) => {
    const fault = options.fault?.(request)
    if (fault) {
      request.resume()
      response.writeHead(fault.status, {'content-type': 'application/json', ...fault.headers})
      response.end(JSON.stringify({errors: [{code: 'TOOMANYREQUESTS', message: 'the front proxy says slow down'}]}))
      return
    }

    const forward = httpRequest(`${target.url}${request.url}`, {headers: request.headers, method: request.method}, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers)
      if (!options.corrupt?.(request)) {
        answer.pipe(response)
        return
      }

      let first = true
      answer.on('data', (chunk: Buffer) => {
        if (first && chunk.length > 0) {
          chunk[0] ^= 0xff
          first = false
        }

        response.write(chunk)
      })
      answer.on('end', () => response.end())
    })
    forward.on('error', () => response.destroy())
    request.pipe(forward)
  }

  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  const {port} = server.address() as AddressInfo
  return {
    arrivals,
    close: () =>
      new Promise((resolvePromise) => {
        server.closeAllConnections()
        server.close(() => resolvePromise())
      }),
    host: `127.0.0.1:${port}`,
  }
}

describe('regshape sync between two real registries, and through OCI layouts', function () {
  this.timeout(300_000)
  let source: RegistryHandle
  let destination: RegistryHandle
  let config: string
  let app: Map<string, string>
  let lib: Map<string, string>
  let tool: Map<string, string>
  const proxies: FrontProxy[] = []

  before(async () => {
    source = await tokenRegistry()
    // Another registry, another user: carol exists only here, alice only at the source.
    destination = await startRegistry({auth: {kind: 'htpasswd', users: {[carol.username]: carol.password}}, logLevel: 'info'})
    app = await seed(source, 'sync/app', APP_TAGS, APP_IMAGES)
    lib = await seed(source, 'sync/lib', ['1.0.0', '1.1.0', 'latest'], 2)
    tool = await seed(source, 'sync/team/tool', ['v0.1.0', 'v0.2.0-beta.1', 'v0.2.0'], 3)
    // Outside the sync/ prefix: a catalog sync of sync/* must leave it.
    await seed(source, 'elsewhere/app', ['1.0.0'], 1)
    config = configFor([
      [source.host, alice],
      [destination.host, carol],
    ])
  })

  after(async () => {
    for (const proxy of proxies) await proxy.close()
    await destination?.close()
  })

  const dryRun = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const mark = destination.markLogs()
    const result = await runCli(['sync', ...args, '--dry-run', '--json', '--docker-config', config], {env, timeoutMs: 60_000})
    expect(result.code, result.stderr).to.equal(0)
    expect(writes(destination.requestLog(mark)), 'a dry run wrote').to.deep.equal([])
    return parsed(result)
  }

  it(`filters ${APP_TAGS.length} tags: --include and --exclude anchored, --semver with and without v, --latest by semver; a dry run writes nothing`, async () => {
    const from = `${source.host}/sync/app`
    const to = `${destination.host}/filtered/app`
    expect(APP_TAGS.length).to.be.at.least(50)
    const all = await dryRun([from, to])
    expect(tagsOf(all)).to.deep.equal([...APP_TAGS].sort())
    expect(all.tags.every((entry) => entry.status === 'copy' && entry.digest === app.get(entry.tag!))).to.equal(true)
    expect(all.summary).to.include({copied: APP_TAGS.length, failed: 0, missing: 0, skipped: 0})
    // Anchored: 'v1' takes v1 only, not v1.1.0 or v1.3.0; an exclude wins over an include.
    expect(tagsOf(await dryRun([from, to, '--include', 'v1']))).to.deep.equal(['v1'])
    expect(tagsOf(await dryRun([from, to, '--include', 'v1.*', '--include', 'latest', '--exclude', '.*\\.0']))).to.deep.equal(['latest', 'v1'])
    expect(tagsOf(await dryRun([from, to, '--exclude', '\\d.*', '--exclude', 'v.*', '--exclude', 'x.*']))).to.deep.equal(['edge', 'feature-login', 'latest', 'main', 'nightly', 'release-2024-01', 'sha-0a1b2c3', 'stable', 'testing'])
    // npm's ranges: a leading v on tag or range, short tags as X.Y.0, prereleases only when the range names their version.
    expect(tagsOf(await dryRun([from, to, '--semver', '>=1.1 <2']))).to.deep.equal(['1.10.0', '1.2.0', '1.2.3', 'v1.1.0', 'v1.3.0'])
    expect(tagsOf(await dryRun([from, to, '--semver', '^v3']))).to.deep.equal(['3', '3.0.0', '3.1.5', '3.2', 'v3.1.0'])
    expect(tagsOf(await dryRun([from, to, '--semver', '>=2.0.0-rc.0 <2.1']))).to.deep.equal(['2.0.0', '2.0.0-rc.1'])
    // The newest N by semver after the other filters; names that are no version drop out.
    expect(tagsOf(await dryRun([from, to, '--latest', '3']))).to.deep.equal(['5.4.1', '5.4.2', '5.4.3'])
    expect(tagsOf(await dryRun([from, to, '--semver', '<3', '--latest', '2', '--exclude', 'v.*']))).to.deep.equal(['2.1.0', '2.2.0'])
    expect(tagsOf(await dryRun([from, to, '--include', '.*-.*', '--latest', '5']))).to.deep.equal(['2.0.0-rc.1', '3.0.0-beta.2'])
  })

  it('copies the tags; skopeo reads each at the destination with the source\'s digest; a blob shared by tags is uploaded once', async () => {
    const mark = destination.markLogs()
    const result = await runCli(['sync', `${source.host}/sync/app`, `${destination.host}/mirror/app`, '--docker-config', config, '--concurrency', '8', '--progress', 'plain'], {timeoutMs: 120_000})
    expect(result.code, result.stdout).to.equal(0)
    expect(result.stdout).to.match(new RegExp(`^Synced ${APP_TAGS.length} tags in 1 repository: ${APP_TAGS.length} copied, 0 skipped, 0 missing at the source, 0 failed; \\d+ bytes in [\\d.]+ s\\n$`))
    // --progress plain: a line for the plan, then one per tag.
    const lines = result.stderr.trimEnd().split('\n')
    expect(lines[0]).to.equal(`sync: ${APP_TAGS.length} tags to look at`)
    expect(lines.slice(1)).to.have.length(APP_TAGS.length)
    for (const line of lines.slice(1)) expect(line).to.match(new RegExp(`^\\[\\d+/${APP_TAGS.length}\\] copied ${source.host}/sync/app:\\S+ -> ${destination.host}/mirror/app:\\S+ sha256:[0-9a-f]{64} \\(.+ in [\\d.]+ s\\)$`))
    for (const [tag, digest] of app) expect(await headDigest(destination, carol, 'mirror/app', tag), tag).to.equal(digest)
    // skopeo, which no one here wrote, reads some of them as the source has them.
    for (const tag of ['1.2.3', 'latest', '3.0.0-beta.2', 'v3.1.0']) {
      expect(await skopeoDigest(`docker://${destination.host}/mirror/app:${tag}`, carol)).to.equal(await skopeoDigest(`docker://${source.host}/sync/app:${tag}`, alice))
    }

    // Tags share images and blobs: each blob was uploaded into the repository once.
    const uploads = destination.requestLog(mark).filter((entry) => entry.method === 'PUT' && entry.path.includes('/blobs/uploads/'))
    const digests = uploads.map((entry) => decodeURIComponent(/digest=([^&]+)/.exec(entry.path)![1]))
    expect(digests.length, JSON.stringify(digests)).to.equal(new Set(digests).size)
    // 3 layers and a config per image, the base and tools layers shared: 2 + 2 per image.
    expect(new Set(digests).size).to.equal(2 + 2 * APP_IMAGES)
    const log = destination.logs.slice(mark).join('\n')
    expect(log).to.include('auth.user.name=carol')
    expect(log).not.to.include('alice')
    expectNoSecrets(result, [alice.password, carol.password])
  })

  it('a re-sync with nothing changed sends two HEADs a tag (one each side) and nothing else but the tag list and one 401 challenge a side', async () => {
    const sourceMark = source.markLogs()
    const destinationMark = destination.markLogs()
    const result = await runCli(['sync', `${source.host}/sync/app`, `${destination.host}/mirror/app`, '--docker-config', config, '--json'], {timeoutMs: 120_000})
    expect(result.code, result.stderr).to.equal(0)
    const json = parsed(result)
    expect(json.summary).to.include({copied: 0, failed: 0, missing: 0, skipped: APP_TAGS.length, bytes: 0})
    expect(json.tags.every((entry) => entry.status === 'skipped')).to.equal(true)
    // 401s are the token challenge (then the same request with the token): not counted.
    const answered = (entries: AccessLogEntry[]) => entries.filter((entry) => entry.status !== 401 && entry.path !== '/v2/')
    const atSource = answered(source.requestLog(sourceMark))
    const atDestination = answered(destination.requestLog(destinationMark))
    const heads = (entries: AccessLogEntry[]) => entries.filter((entry) => entry.method === 'HEAD' && /\/v2\/[^?]+\/manifests\/[^/]+$/.test(entry.path))
    expect(heads(atSource).map((entry) => entry.path).sort()).to.deep.equal(APP_TAGS.map((tag) => `/v2/sync/app/manifests/${tag}`).sort())
    expect(heads(atDestination).map((entry) => entry.path).sort()).to.deep.equal(APP_TAGS.map((tag) => `/v2/mirror/app/manifests/${tag}`).sort())
    expect(atSource.filter((entry) => entry.method !== 'HEAD').map((entry) => `${entry.method} ${entry.path}`)).to.deep.equal(['GET /v2/sync/app/tags/list'])
    expect(atDestination.filter((entry) => entry.method !== 'HEAD')).to.deep.equal([])
    // The first HEAD meets each registry's challenge alone; the others carry the credentials.
    const challenged = (entries: AccessLogEntry[]) => entries.filter((entry) => entry.status === 401 && entry.path !== '/v2/')
    expect(challenged(source.requestLog(sourceMark)).length, 'source 401s').to.be.at.most(1)
    expect(challenged(destination.requestLog(destinationMark)).length, 'destination 401s').to.be.at.most(1)
  })

  it('--dry-run prints the plan: copy, skip, and missing at the source (a tag listed whose manifest is gone)', async () => {
    // Two tags already there, and a destination tag that names another image: to be copied over.
    const from = `${source.host}/sync/lib`
    const to = `${destination.host}/plan/lib`
    const first = await runCli(['sync', from, to, '--include', '1\\.0\\.0|latest', '--docker-config', config])
    expect(first.code, first.stderr).to.equal(0)
    const plan = await runCli(['sync', from, to, '--dry-run', '--docker-config', config])
    expect(plan.code, plan.stderr).to.equal(0)
    expect(plan.stdout).to.equal(
      [
        `skip    ${from}:1.0.0 -> ${to}:1.0.0 ${lib.get('1.0.0')}`,
        `copy    ${from}:1.1.0 -> ${to}:1.1.0 ${lib.get('1.1.0')}`,
        `skip    ${from}:latest -> ${to}:latest ${lib.get('latest')}`,
        `Dry run, nothing written: 3 tags in 1 repository; 1 to copy, 2 to skip, 0 missing at the source, 0 failed`,
        '',
      ].join('\n'),
    )
    // A source that lists a tag whose manifest is gone (a node:http server in front of the source,
    // answering 404 to that tag's manifest as a registry does right after a delete).
    const proxy = await frontProxy(source, {fault: (request) => (request.url === '/v2/sync/lib/manifests/1.1.0' ? {headers: {}, status: 404} : undefined)})
    proxies.push(proxy)
    const through = await runCli(['sync', `${proxy.host}/sync/lib`, to, '--dry-run', '--docker-config', configFor([[proxy.host, alice], [destination.host, carol]])])
    expect(through.code, through.stderr).to.equal(0)
    expect(through.stdout).to.include(`missing ${proxy.host}/sync/lib:1.1.0 -> ${to}:1.1.0: no manifest at the source\n`)
    expect(through.stdout).to.match(/\nDry run, nothing written: 3 tags in 1 repository; 0 to copy, 2 to skip, 1 missing at the source, 0 failed\n$/)
  })

  it('-f sync.yaml: a catalog prefix and a repository with filters, in one run', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-sync-file-'))
    const file = join(directory, 'sync.yaml')
    writeFileSync(
      file,
      [
        'sync:',
        `  - source: ${source.host}/sync/*`,
        `    destination: ${destination.host}/catalog`,
        `    include: ['latest', 'v?0\\.\\d+\\.\\d+.*', '1\\.0\\.0']`,
        `  - source: ${source.host}/sync/app`,
        `    destination: ${destination.host}/pinned/app`,
        `    semver: "^2"`,
        '    latest: 2',
        '',
      ].join('\n'),
    )
    const mark = destination.markLogs()
    const result = await runCli(['sync', '-f', file, '--docker-config', config, '--json', '--concurrency', '16'], {timeoutMs: 120_000})
    expect(result.code, result.stderr).to.equal(0)
    const json = parsed(result)
    expect(json.repositories).to.equal(4)
    // Two entries, one pair of registries: the destination's challenge is met once.
    expect(destination.requestLog(mark).filter((entry) => entry.status === 401 && entry.path !== '/v2/'), 'destination 401s').to.have.length(1)
    const copied = json.tags.map((entry) => `${entry.destination}`).sort()
    expect(copied).to.deep.equal(
      [
        `${destination.host}/catalog/app:1.0.0`,
        `${destination.host}/catalog/app:latest`,
        `${destination.host}/catalog/lib:1.0.0`,
        `${destination.host}/catalog/lib:latest`,
        `${destination.host}/catalog/team/tool:v0.1.0`,
        `${destination.host}/catalog/team/tool:v0.2.0`,
        `${destination.host}/catalog/team/tool:v0.2.0-beta.1`,
        `${destination.host}/catalog/app:0.9.0`,
        `${destination.host}/pinned/app:2.2.0`,
        `${destination.host}/pinned/app:v2.1.1`,
      ].sort(),
    )
    expect(json.tags.every((entry) => entry.status === 'copied')).to.equal(true)
    expect(await headDigest(destination, carol, 'catalog/team/tool', 'v0.2.0-beta.1')).to.equal(tool.get('v0.2.0-beta.1'))
    expect(await headDigest(destination, carol, 'catalog/lib', 'latest')).to.equal(lib.get('latest'))
    expect(await headDigest(destination, carol, 'pinned/app', 'v2.1.1')).to.equal(app.get('v2.1.1'))
    // elsewhere/app is not under sync/.
    expect(json.tags.some((entry) => entry.source.includes('elsewhere'))).to.equal(false)
  })

  describe('a sync file that is wrong exits 2 before any request, naming the entry and the field', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['a latest of 0', 'sync:\n  - source: r.example/a\n    destination: m.example/a\n    latest: 0\n', /: entry 1 \(source "r\.example\/a"\): field "latest": must be >= 1$/],
      ['an unknown field', 'sync:\n  - source: r.example/a\n    destination: m.example/a\n  - source: r.example/b\n    destination: m.example/b\n    tags: [a]\n', /: entry 2 \(source "r\.example\/b"\): field "tags": not a field of an entry/],
      ['a range that is none', 'sync:\n  - source: r.example/a\n    destination: m.example/a\n    semver: "next please"\n', /: entry 1 \(source "r\.example\/a"\): field "semver": "next please" is not an npm version range/],
      ['a pattern that is none', 'sync:\n  - source: r.example/a\n    destination: m.example/a\n    exclude: ["ok", "(unclosed"]\n', /: entry 1 \(source "r\.example\/a"\): field "exclude": "\(unclosed" is not a regular expression/],
      ['a missing destination', 'sync:\n  - source: r.example/a\n', /: entry 1 \(source "r\.example\/a"\): field "destination": missing$/],
      ['a source with a tag', 'sync:\n  - source: r.example/a:1.0\n    destination: m.example/a\n', /: entry 1 \(source "r\.example\/a:1\.0"\): field "source": .*name the repository/],
      ['a platform that is none', 'sync:\n  - source: r.example/a\n    destination: m.example/a\n    platforms: linux\n', /: entry 1 \(source "r\.example\/a"\): field "platforms": invalid platform "linux"/],
      ['no list', 'sync: {}\n', /: field "sync": must be array$/],
      ['not YAML', 'sync: [\n', /: not valid YAML or JSON \(line \d+, column \d+\)/],
    ]
    for (const [name, text, pattern] of cases) {
      it(name, async () => {
        const file = join(mkdtempSync(join(tmpdir(), 'regshape-sync-bad-')), 'sync.yaml')
        writeFileSync(file, text)
        expectOneErrorLine(await runCli(['sync', '-f', file]), new RegExp(`^Error: ${file.replaceAll(/[./]/g, '\\$&')}${pattern.source}`))
      })
    }
  })

  it('bad command lines exit 2 with one line, before any request', async () => {
    const from = `${source.host}/sync/app`
    const to = `${destination.host}/x/app`
    const mark = source.markLogs()
    expectOneErrorLine(await runCli(['sync', `${from}:1.0.0`, to]), /^Error: ".*:1\.0\.0": sync and copy --all-tags copy the tags of a repository/)
    expectOneErrorLine(await runCli(['sync', from, to, '--include', '(']), /^Error: --include: "\(" is not a regular expression/)
    expectOneErrorLine(await runCli(['sync', from, to, '--semver', 'soon']), /^Error: --semver: "soon" is not an npm version range/)
    expectOneErrorLine(await runCli(['sync', from, to, '--latest', '0']), /^Error: --latest expects a whole number of at least 1 \(see --help\)$/)
    expectOneErrorLine(await runCli(['sync', from, to, '--shards', '2']), /^Error: --shards N takes this runner's index from JOB_COMPLETION_INDEX, which is not set/)
    expectOneErrorLine(await runCli(['sync', from, to, '--shard', '3/3']), /^Error: --shard 3\/3: I counts from 0, so it must be below N \(0 to 2\)$/)
    expectOneErrorLine(await runCli(['sync', from, to, '--shard', 'half']), /^Error: --shard expects I\/N/)
    expectOneErrorLine(await runCli(['sync', from, to], {env: {JOB_COMPLETION_INDEX: '1'}}), /^Error: JOB_COMPLETION_INDEX is set \(1: a Kubernetes Indexed Job\).*--shards N/)
    expectOneErrorLine(await runCli(['sync', from]), /^Error: name what to sync: regshape sync SOURCE DESTINATION/)
    expectOneErrorLine(await runCli(['sync', '-f', '/nonexistent/sync.yaml']), /^Error: -f \/nonexistent\/sync\.yaml: cannot read it \(ENOENT\)$/)
    expectOneErrorLine(await runCli(['sync', '-f', '/dev/null', '--include', 'x']), /^Error: --include: with -f, filters belong to the file's entries/)
    expectOneErrorLine(await runCli(['sync', from, 'oci:/tmp/x:v1']), /^Error: "oci:\/tmp\/x:v1": a sync's layout takes the source's tags/)
    expectOneErrorLine(await runCli(['sync', from, to, '-u', 'alice']), /cannot be used when the sync reaches 2 registries/)
    expectOneErrorLine(await runCli(['copy', from, to, '--include', 'v1']), /^Error: --include choose tags for --all-tags/)
    expect(source.requestLog(mark)).to.deep.equal([])
  })

  it('--shard I/N: N runners split the work; their union is exactly the whole, and no two share a tag (JOB_COMPLETION_INDEX with --shards alike)', async () => {
    const from = `${source.host}/sync/*`
    const to = `${destination.host}/sharded`
    const whole = await dryRun([from, to])
    const key = (entry: SyncJson['tags'][number]) => `${entry.source} ${entry.destination}`
    const all = whole.tags.map((entry) => key(entry)).sort()
    expect(all).to.have.length(APP_TAGS.length + 3 + 3)
    for (const count of [2, 3]) {
      const parts: string[][] = []
      for (let index = 0; index < count; index++) {
        const part = await dryRun([from, to, '--shard', `${index}/${count}`])
        expect(part.shard).to.equal(`${index}/${count}`)
        parts.push(part.tags.map((entry) => key(entry)))
        // The same share from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
        const indexed = await dryRun([from, to, '--shards', String(count)], {JOB_COMPLETION_INDEX: String(index)})
        expect(indexed.tags.map((entry) => key(entry))).to.deep.equal(parts[index])
      }

      for (const part of parts) expect(part.length, `a share of ${count} is empty`).to.be.greaterThan(0)
      expect(parts.flat().sort()).to.deep.equal(all)
      expect(new Set(parts.flat()).size).to.equal(all.length)
    }
  })

  it('air gap: registry → oci:DIR (a layout per repository) → a third registry; skopeo sees the same digests at every step', async () => {
    const third = await basicRegistry()
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-sync-airgap-')), 'mirror')
    const out = await runCli(['sync', `${source.host}/sync/*`, `oci:${directory}`, '--include', 'latest|1\\.0\\.0|v0\\.2\\.0', '--docker-config', config], {timeoutMs: 120_000})
    expect(out.code, out.stderr).to.equal(0)
    expect(out.stdout).to.match(/^Synced 5 tags in 3 repositories: 5 copied, 0 skipped/)
    for (const path of ['app', 'lib', 'team/tool']) expect(existsSync(join(directory, path, 'oci-layout')), path).to.equal(true)
    expect(await skopeoDigest(`oci:${join(directory, 'app')}:latest`)).to.equal(app.get('latest'))
    expect(await skopeoDigest(`oci:${join(directory, 'team', 'tool')}:v0.2.0`)).to.equal(tool.get('v0.2.0'))
    // Again: nothing to do; the layouts answer the HEADs.
    const again = await runCli(['sync', `${source.host}/sync/*`, `oci:${directory}`, '--include', 'latest|1\\.0\\.0|v0\\.2\\.0', '--docker-config', config])
    expect(again.stdout).to.match(/^Synced 5 tags in 3 repositories: 0 copied, 5 skipped/)
    // Across the gap: every layout under the directory, to a prefix of the third registry.
    const thirdConfig = configFor([[third.host, alice]])
    const back = await runCli(['sync', `oci:${directory}/*`, `${third.host}/airgap`, '--docker-config', thirdConfig, '--json'], {timeoutMs: 120_000})
    expect(back.code, back.stderr).to.equal(0)
    expect(parsed(back).summary).to.include({copied: 5, failed: 0})
    for (const [path, tag, digest] of [
      ['app', 'latest', app.get('latest')],
      ['app', '1.0.0', app.get('1.0.0')],
      ['lib', 'latest', lib.get('latest')],
      ['lib', '1.0.0', lib.get('1.0.0')],
      ['team/tool', 'v0.2.0', tool.get('v0.2.0')],
    ]) {
      expect(await skopeoDigest(`docker://${third.host}/airgap/${path}:${tag}`, alice), `${path}:${tag}`).to.equal(digest)
    }
  })

  it('copy --all-tags copies a repository\'s tags as sync does, with the filters', async () => {
    const result = await runCli(['copy', `${source.host}/sync/team/tool`, `${destination.host}/all/tool`, '--all-tags', '--exclude', '.*beta.*', '--docker-config', config])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/^Synced 2 tags in 1 repository: 2 copied, 0 skipped, 0 missing at the source, 0 failed/)
    expect(await headDigest(destination, carol, 'all/tool', 'v0.2.0')).to.equal(tool.get('v0.2.0'))
    expect(await headDigest(destination, carol, 'all/tool', 'v0.2.0-beta.1')).to.equal(undefined)
  })

  it('a source failing for one image: the other tags are copied, the summary names the failure, exit 1', async () => {
    const faulty = await seed(source, 'sync/faulty', ['a', 'b', 'c', 'd'], 4)
    // The layer of image "b" only: a source serving a corrupt blob (its bytes do not hash to its digest).
    const own = Buffer.from('layer 1 of sync/faulty\n')
    const bad = `sha256:${createHash('sha256').update(own).digest('hex')}`
    const proxy = await frontProxy(source, {corrupt: (request) => request.method === 'GET' && (request.url?.endsWith(bad) ?? false)})
    proxies.push(proxy)
    const result = await runCli(['sync', `${proxy.host}/sync/faulty`, `${destination.host}/faulty/app`, '--docker-config', configFor([[proxy.host, alice], [destination.host, carol]])], {timeoutMs: 120_000})
    expect(result.code, result.stderr).to.equal(1)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).to.match(/^Synced 4 tags in 1 repository: 3 copied, 0 skipped, 0 missing at the source, 1 failed;/)
    expect(lines.slice(1)).to.have.length(1)
    expect(lines[1]).to.match(new RegExp(`^failed ${proxy.host}/sync/faulty:b -> ${destination.host}/faulty/app:b: blob ${bad} \\(${proxy.host}/sync/faulty\\): .*(digest|hash)`))
    for (const tag of ['a', 'c', 'd']) expect(await headDigest(destination, carol, 'faulty/app', tag), tag).to.equal(faulty.get(tag))
    expect(await headDigest(destination, carol, 'faulty/app', 'b')).to.equal(undefined)
    expectNoStackTrace(result)
  })

  it('a 429 with Retry-After pauses the whole sync, not one request; then every tag is copied', async () => {
    await seed(source, 'sync/limited', ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'], 8)
    // Docker Hub's rate limit: the first request for one manifest meets a 429 with Retry-After: 2.
    let limitedAt: number | undefined
    const proxy = await frontProxy(source, {
      fault(request) {
        if (limitedAt !== undefined || request.method !== 'HEAD' || request.url !== '/v2/sync/limited/manifests/t3') return undefined
        limitedAt = performance.now()
        return {headers: {'retry-after': '2'}, status: 429}
      },
    })
    proxies.push(proxy)
    const result = await runCli(['sync', `${proxy.host}/sync/limited`, `${destination.host}/limited/app`, '--concurrency', '4', '--docker-config', configFor([[proxy.host, alice], [destination.host, carol]])], {timeoutMs: 120_000})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/^Synced 8 tags in 1 repository: 8 copied, 0 skipped, 0 missing at the source, 0 failed;/)
    expect(limitedAt).not.to.equal(undefined)
    // Requests that were already on the wire may land just after the 429; none is sent later
    // until Retry-After ran out.
    const during = proxy.arrivals.filter((arrival) => arrival.at > limitedAt! + 100 && arrival.at < limitedAt! + 1900)
    expect(during, JSON.stringify(during)).to.deep.equal([])
    expect(proxy.arrivals.some((arrival) => arrival.at >= limitedAt! + 1900)).to.equal(true)
  })

  it('--platform picks from an index and copies an image manifest as it is; --referrers brings the referrers; a re-sync compares what was copied', async () => {
    // seedImages: an index of two platforms (multi), an image with a referrer (oci), a Docker image.
    const seeded = await seedImages(source, 'sync/images', {bigLayerBytes: 64 * 1024})
    // With --referrers, the referrers tag schema's tag (sha256-…) is the referrers copy's, not a tag to copy.
    const args = [`${source.host}/sync/images`, `${destination.host}/platform/app`, '--include', 'multi|oci|docker|sha256-.*', '--platform', 'linux/arm64/v8', '--referrers', '--docker-config', config]
    const result = await runCli(['sync', ...args, '--json'], {timeoutMs: 120_000})
    expect(result.code, result.stdout).to.equal(0)
    const arm64 = seeded.index.platforms.find((entry) => entry.platform === 'linux/arm64/v8')!.digest
    const byTag = new Map(parsed(result).tags.map((entry) => [entry.tag, entry]))
    expect(byTag.get('multi')).to.include({digest: arm64, status: 'copied'})
    expect(byTag.get('oci')).to.include({digest: seeded.oci.digest, status: 'copied'})
    expect(byTag.get('docker')).to.include({digest: seeded.docker.digest, status: 'copied'})
    expect(await headDigest(destination, carol, 'platform/app', 'multi')).to.equal(arm64)
    expect(await headDigest(destination, carol, 'platform/app', seeded.referrer.digest)).to.equal(seeded.referrer.digest)
    // The platform's manifest is what DST's tag names: a dry run finds every tag there.
    expect([...byTag.keys()].sort()).to.deep.equal(['docker', 'multi', 'oci'])
    const plan = await dryRun(args.filter((arg) => arg !== '--docker-config' && arg !== config))
    expect(plan.tags.map((entry) => entry.status)).to.deep.equal(['skip', 'skip', 'skip'])
    // Without --referrers it is a tag like any other, and --platform leaves an index of referrers (no platforms) as it is.
    const schemaTag = seeded.oci.digest.replace(':', '-')
    const tagged = await runCli(['sync', `${source.host}/sync/images`, `${destination.host}/platform/schema`, '--include', 'sha256-.*', '--platform', 'linux/arm64/v8', '--docker-config', config, '--json'])
    expect(tagged.code, tagged.stdout).to.equal(0)
    expect(parsed(tagged).tags.map((entry) => [entry.tag, entry.status, entry.digest])).to.deep.equal([[schemaTag, 'copied', seeded.referrer.tagSchemaIndex.digest]])
  })

  it('on a terminal: one bar of the tags done, their total, and the bytes', async () => {
    const {runOnPty} = await import('../helpers/pty.js')
    const directory = mkdtempSync(join(tmpdir(), 'regshape-sync-pty-'))
    writeFileSync(join(directory, 'config.json'), readFileSync(config))
    const result = await runOnPty(['sync', `${source.host}/sync/lib`, `${destination.host}/bar/lib`], [], {DOCKER_CONFIG: directory, HOME: mkdtempSync(join(tmpdir(), 'regshape-home-'))}, 60)
    expect(result.code, result.transcript).to.equal(0)
    expect(result.transcript).to.match(/sync \[.*\] 3\/3 tags \| [\d.]+ (bytes|KiB) \| 0 failed/)
    expect(result.transcript).to.include('Synced 3 tags in 1 repository: 3 copied')
  })

  it('Ctrl-C: exit 130, one Error line; the tags of the copies in flight are not pushed', async () => {
    await seed(source, 'sync/slow', ['s1', 's2', 's3', 's4'], 4)
    // A slow source (every blob GET waits 3 s), so that the copies are in flight when Ctrl-C comes.
    let blobGets = 0
    const proxy = await frontProxy(source, {
      delayMs(request) {
        if (request.method !== 'GET' || !request.url?.includes('/blobs/')) return 0
        blobGets++
        return 3000
      },
    })
    proxies.push(proxy)
    const slowConfig = configFor([
      [proxy.host, alice],
      [destination.host, carol],
    ])
    const {spawn} = await import('node:child_process')
    const {RUN_JS, tempHome} = await import('../helpers/cli.js')
    const child = spawn(process.execPath, [RUN_JS, 'sync', `${proxy.host}/sync/slow`, `${destination.host}/interrupted/app`, '--docker-config', slowConfig, '--concurrency', '4'], {
      env: {HOME: tempHome(), PATH: process.env.PATH},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    for (let waited = 0; blobGets === 0 && waited < 20_000; waited += 10) await new Promise((resolvePromise) => setTimeout(resolvePromise, 10))
    child.kill('SIGINT')
    const code = await new Promise<null | number>((resolvePromise) => child.once('close', resolvePromise))
    expect(code, stderr).to.equal(130)
    expect(stdout).to.equal('')
    expect(stderr.trimEnd().split('\n')).to.deep.equal(['Error: sync: interrupted; the tags of the copies in flight were not changed'])
    for (const tag of ['s1', 's2', 's3', 's4']) expect(await headDigest(destination, carol, 'interrupted/app', tag), tag).to.equal(undefined)
  })
})
