import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, request as httpRequest} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {ImagePusher, MEDIA, type SeededImages, seedImages} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import {type AccessLogEntry, type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * regshape copy between two real distribution registries with different users (the shared
 * htpasswd one as the source, alice; a second one of carol's as the destination), and through
 * OCI layouts, with skopeo, umoci and oci-image-tool as witnesses and the registries' access logs
 * as proof of what was sent.
 */

const {alice} = USERS
const carol = {username: 'carol', password: 'c4rol-only-here'}
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
const basicAuth = (user: {password: string; username: string}) => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`

interface Answer {
  body: Buffer
  headers: IncomingMessage['headers']
  status: number
}

/** One request with plain node:http: regshape's code plays no part in what it reads. */
export function plain(method: string, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const request = httpRequest(url, {headers, method}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolvePromise({body: Buffer.concat(chunks), headers: response.headers, status: response.statusCode ?? 0}))
    })
    request.on('error', reject)
    request.end()
  })
}

const ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ')

function manifestAt(registry: RegistryHandle, user: {password: string; username: string}, repository: string, reference: string): Promise<Answer> {
  return plain('GET', `${registry.url}/v2/${repository}/manifests/${reference}`, {accept: ACCEPT, authorization: basicAuth(user)})
}

/** A docker config that logs in to each registry as its own user. */
function configFor(logins: Array<[RegistryHandle, {password: string; username: string}]>): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-copy-cfg-'))
  const auths = Object.fromEntries(logins.map(([registry, user]) => [registry.host, {auth: Buffer.from(`${user.username}:${user.password}`).toString('base64')}]))
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths}))
  return join(directory, 'config.json')
}

function uploads(entries: AccessLogEntry[]): AccessLogEntry[] {
  return entries.filter((entry) => entry.method === 'POST' || entry.method === 'PUT' || entry.method === 'PATCH')
}

function expectOneErrorLine(result: CliResult, pattern: RegExp, code = 1): void {
  expect(result.code, result.stderr).to.equal(code)
  expect(result.stdout).to.equal('')
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).to.have.length(1)
  expect(lines[0]).to.match(pattern)
  expectNoStackTrace(result)
}

async function skopeo(args: string[]): Promise<{code: null | number; stderr: string; stdout: string}> {
  return runProcess('skopeo', args, {timeoutMs: 60_000})
}

describe('regshape copy, between two real registries and through OCI layouts', function () {
  this.timeout(180_000)
  let source: RegistryHandle
  let destination: RegistryHandle
  let seeded: SeededImages
  let indexReferrer: {bytes: Buffer; digest: string}
  let config: string

  before(async () => {
    source = await basicRegistry()
    // Another registry, other users: carol exists only here, alice only at the source.
    destination = await startRegistry({auth: {kind: 'htpasswd', users: {[carol.username]: carol.password}}, logLevel: 'info'})
    seeded = await seedImages(source, 'copy/app', {bigLayerBytes: 3 * 1024 * 1024})
    // A referrer of the two-platform index (seedImages' referrer is the single image's).
    const push = new ImagePusher(source)
    const empty = await push.blob('copy/app', Buffer.from('{}'), MEDIA.ociEmpty)
    const sbom = await push.blob('copy/app', Buffer.from('an sbom of the index\n'), 'application/spdx+json')
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        artifactType: 'application/spdx+json',
        config: empty,
        layers: [sbom],
        subject: {mediaType: MEDIA.ociIndex, digest: seeded.index.digest, size: seeded.index.size},
      }),
    )
    const pushed = await push.manifest('copy/app', undefined, bytes, MEDIA.ociManifest)
    await push.manifest(
      'copy/app',
      seeded.index.digest.replace(':', '-'),
      Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [{mediaType: MEDIA.ociManifest, digest: pushed.digest, size: pushed.size, artifactType: 'application/spdx+json'}]})),
      MEDIA.ociIndex,
    )
    indexReferrer = {bytes, digest: pushed.digest}
    config = configFor([
      [source, alice],
      [destination, carol],
    ])
  })

  after(async () => {
    await destination?.close()
  })

  it('copies a two-platform index with its referrer; digests equal byte for byte; each side saw only its own user', async () => {
    const sourceMark = source.markLogs()
    const destinationMark = destination.markLogs()
    const result = await runCli(['copy', `${source.host}/copy/app:multi`, `${destination.host}/mirror/app`, '--referrers', '--docker-config', config, '--progress', 'plain'])
    expect(result.code, result.stderr).to.equal(0)
    // --progress plain: one line per blob copied, for CI logs.
    expect(result.stderr.trimEnd().split('\n')).to.have.length(6)
    for (const line of result.stderr.trimEnd().split('\n')) expect(line).to.match(/^sha256:[0-9a-f]{12}: copied \d+ bytes in [\d.]+ s$/)
    expect(result.stdout).to.match(new RegExp(`^Copied ${source.host}/copy/app:multi -> ${destination.host}/mirror/app:multi: ${seeded.index.digest}; manifests 4 copied, 0 skipped; blobs 6 copied, 0 skipped, 0 mounted; \\d+ bytes in [\\d.]+ s\\n$`))
    // The index under the source's tag, byte for byte; its children and the referrer by digest.
    const index = await manifestAt(destination, carol, 'mirror/app', 'multi')
    expect(index.status).to.equal(200)
    expect(index.body.equals(seeded.index.bytes)).to.equal(true)
    for (const {digest} of seeded.index.platforms) expect((await manifestAt(destination, carol, 'mirror/app', digest)).status).to.equal(200)
    const referrer = await manifestAt(destination, carol, 'mirror/app', indexReferrer.digest)
    expect(referrer.body.equals(indexReferrer.bytes)).to.equal(true)
    // The referrer is found at DST too: distribution has no referrers API, so the tag schema.
    const listed = await runCli(['referrer', 'list', `${destination.host}/mirror/app@${seeded.index.digest}`, '--json', '--docker-config', config])
    expect(JSON.parse(listed.stdout).manifests.map((entry: {digest: string}) => entry.digest)).to.deep.equal([indexReferrer.digest])
    // skopeo, which no one here wrote, reads the copy as the source.
    const inspected = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `${carol.username}:${carol.password}`, `docker://${destination.host}/mirror/app:multi`])
    expect(inspected.code, inspected.stderr).to.equal(0)
    expect(sha256(Buffer.from(inspected.stdout))).to.equal(seeded.index.digest)
    // The destination's log knows only carol, the source's only alice: distribution logs a user whose
    // credentials it refused (level=error, 'error authenticating user "alice"'), so a credential
    // sent to the wrong side would show here by name.
    const destinationLog = destination.logs.slice(destinationMark).join('\n')
    const sourceLog = source.logs.slice(sourceMark).join('\n')
    expect(destinationLog).to.include('auth.user.name=carol')
    expect(destinationLog).not.to.include('alice')
    expect(sourceLog).not.to.include('carol')
    expectNoSecrets(result, [alice.password, carol.password])
  })

  it('a second copy of the complete image sends only HEADs and manifest GETs', async () => {
    const sourceMark = source.markLogs()
    const destinationMark = destination.markLogs()
    const result = await runCli(['copy', `${source.host}/copy/app:multi`, `${destination.host}/mirror/app`, '--referrers', '--docker-config', config])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/manifests 0 copied, \d+ skipped; blobs 0 copied, 0 skipped, 0 mounted; 0 bytes/)
    const sent = [...source.requestLog(sourceMark), ...destination.requestLog(destinationMark)].filter((entry) => entry.path !== '/v2/')
    expect(uploads(sent), JSON.stringify(sent)).to.deep.equal([])
    // GETs of manifests, and with --referrers the referrers API's answer (a 404 here: distribution has none).
    for (const entry of sent) expect(entry.method === 'HEAD' || (entry.method === 'GET' && /\/(manifests|referrers)\//.test(entry.path)), `${entry.method} ${entry.path}`).to.equal(true)
    expect(sent.filter((entry) => entry.method === 'GET' && entry.path.includes('/blobs/'))).to.deep.equal([])
  })

  it('mounts blobs within one registry (POST ?mount=&from=) and pushes the tag last', async () => {
    const mark = source.markLogs()
    const result = await runCli(['copy', `${source.host}/copy/app:oci`, `${source.host}/copy/mounted:v1`, '--docker-config', config])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/manifests 1 copied, 0 skipped; blobs 0 copied, 0 skipped, 3 mounted; 0 bytes/)
    const log = source.requestLog(mark).filter((entry) => entry.path.includes('/copy/mounted/'))
    const mounts = log.filter((entry) => entry.method === 'POST')
    expect(mounts).to.have.length(3)
    for (const entry of mounts) expect(entry.path).to.match(/mount=sha256%3A[0-9a-f]{64}&from=copy%2Fapp|from=copy%2Fapp&mount=/)
    expect(mounts.every((entry) => entry.status === 201)).to.equal(true)
    const puts = log.filter((entry) => entry.method === 'PUT')
    expect(puts.map((entry) => entry.path)).to.deep.equal([`/v2/copy/mounted/manifests/${seeded.oci.digest}`, '/v2/copy/mounted/manifests/v1'])
    expect((await manifestAt(source, alice, 'copy/mounted', 'v1')).body.equals(seeded.oci.bytes)).to.equal(true)
  })

  it('--platform once copies that manifest; twice makes a new index of just those', async () => {
    const [amd64, arm64] = seeded.index.platforms
    const one = await runCli(['copy', `${source.host}/copy/app:multi`, `${destination.host}/mirror/arm:only`, '--platform', 'linux/arm64/v8', '--docker-config', config])
    expect(one.code, one.stderr).to.equal(0)
    expect(one.stdout).to.include(arm64.digest)
    expect(sha256((await manifestAt(destination, carol, 'mirror/arm', 'only')).body)).to.equal(arm64.digest)
    const both = await runCli(['copy', `${source.host}/copy/app:multi`, `${destination.host}/mirror/two:both`, '--platform', 'linux/arm64/v8', '--platform', 'linux/amd64', '--json', '--docker-config', config])
    expect(both.code, both.stderr).to.equal(0)
    const made = JSON.parse((await manifestAt(destination, carol, 'mirror/two', 'both')).body.toString('utf8'))
    expect(made.manifests.map((entry: {digest: string}) => entry.digest)).to.deep.equal([arm64.digest, amd64.digest])
    expect(JSON.parse(both.stdout).digest).not.to.equal(seeded.index.digest)
    const missing = await runCli(['copy', `${source.host}/copy/app:multi`, `${destination.host}/mirror/two:x`, '--platform', 'linux/s390x', '--docker-config', config])
    expectOneErrorLine(missing, /^Error: .*no manifest for platform linux\/s390x in the index; it has linux\/amd64, linux\/arm64\/v8$/)
  })

  it('layout → registry → layout → registry: oci-image-tool, umoci and skopeo read the layout copy writes; every digest is kept', async () => {
    // A real image (tar layers) built with the layout group, pushed to the source with layout push.
    const work = mkdtempSync(join(tmpdir(), 'regshape-copy-layout-'))
    const built = join(work, 'built')
    const tree = join(work, 'tree')
    await runProcess('sh', ['-c', `mkdir -p "$1/etc" && echo 'hello from a copied layer' > "$1/etc/hello.txt" && tar -C "$1" -cf "$2" etc`, 'sh', tree, join(work, 'layer.tar')])
    for (const args of [
      ['layout', 'init', '-p', built],
      ['layout', 'add', 'layer', '-p', built, '-f', join(work, 'layer.tar')],
      ['layout', 'generate', 'config', '-p', built, '--architecture', 'amd64', '--os', 'linux'],
      ['layout', 'generate', 'manifest', '-p', built, '--ref-name', 'v1'],
    ]) expect((await runCli(args)).code).to.equal(0)
    const pushed = await runCli(['layout', 'push', '-p', built, '-d', `${source.host}/copy/real`, '--docker-config', config])
    expect(pushed.code, pushed.stderr).to.equal(0)
    const digest = (/: (sha256:[0-9a-f]{64});/.exec(pushed.stdout) as RegExpExecArray)[1]

    const directory = join(work, 'copied')
    const out = await runCli(['copy', `${source.host}/copy/real:v1`, `oci:${directory}`, '--docker-config', config])
    expect(out.code, out.stderr).to.equal(0)
    expect(out.stdout).to.include(`-> oci:${directory}:v1: ${digest}`)
    const validated = await runProcess('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=v1', directory], {timeoutMs: 60_000})
    expect(validated.code, validated.stdout + validated.stderr).to.equal(0)
    expect(validated.stdout).to.include('Validation succeeded')
    const bundle = join(work, 'bundle')
    const unpacked = await runProcess('umoci', ['unpack', '--rootless', '--image', `${directory}:v1`, bundle], {timeoutMs: 60_000})
    expect(unpacked.code, unpacked.stderr).to.equal(0)
    expect(readFileSync(join(bundle, 'rootfs', 'etc', 'hello.txt'), 'utf8')).to.equal('hello from a copied layer\n')
    const inspected = await skopeo(['inspect', '--raw', `oci:${directory}:v1`])
    expect(inspected.code, inspected.stderr).to.equal(0)
    expect(sha256(Buffer.from(inspected.stdout))).to.equal(digest)
    const back = await runCli(['copy', `oci:${directory}:v1`, `${destination.host}/roundtrip/real`, '--docker-config', config])
    expect(back.code, back.stderr).to.equal(0)
    expect(sha256((await manifestAt(destination, carol, 'roundtrip/real', 'v1')).body)).to.equal(digest)
  })

  it('registry → layout → registry with --referrers: the referrer goes into index.json and back; big layer byte for byte', async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-copy-layout-')), 'app')
    const out = await runCli(['copy', `${source.host}/copy/app:oci`, `oci:${directory}`, '--referrers', '--docker-config', config])
    expect(out.code, out.stderr).to.equal(0)
    const inspected = await skopeo(['inspect', '--raw', `oci:${directory}:oci`])
    expect(sha256(Buffer.from(inspected.stdout))).to.equal(seeded.oci.digest)
    // The referrer went into index.json, untagged, where layouts list referrers.
    const index = JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8'))
    expect(index.manifests.map((entry: {digest: string}) => entry.digest)).to.include(seeded.referrer.digest)
    const back = await runCli(['copy', `oci:${directory}:oci`, `${destination.host}/roundtrip/app`, '--referrers', '--docker-config', config])
    expect(back.code, back.stderr).to.equal(0)
    expect((await manifestAt(destination, carol, 'roundtrip/app', 'oci')).body.equals(seeded.oci.bytes)).to.equal(true)
    expect((await manifestAt(destination, carol, 'roundtrip/app', seeded.referrer.digest)).body.equals(seeded.referrer.bytes)).to.equal(true)
    const layer = await plain('GET', `${destination.url}/v2/roundtrip/app/blobs/${seeded.bigLayer.digest}`, {authorization: basicAuth(carol)})
    expect(sha256(layer.body)).to.equal(seeded.bigLayer.digest)
  })

  it('an index of 300 children goes layout → registry → layout within --concurrency, under ulimit -n 256', async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-wide-')), 'wide')
    const root = wideLayout(directory, 300)
    const up = await runWithFileLimit(256, ['copy', `oci:${directory}:v1`, `${destination.host}/wide/app`, '--docker-config', config])
    expect(up.code, up.stderr).to.equal(0)
    expect(up.stdout).to.match(new RegExp(`-> ${destination.host}/wide/app:v1: ${root}; manifests 301 copied, 0 skipped; blobs 1 copied`))
    const back = join(mkdtempSync(join(tmpdir(), 'regshape-wide-')), 'back')
    const down = await runWithFileLimit(256, ['copy', `${destination.host}/wide/app:v1`, `oci:${back}`, '--docker-config', config])
    expect(down.code, down.stderr).to.equal(0)
    expect(down.stdout).to.match(new RegExp(`-> oci:${back}:v1: ${root}; manifests 301 copied, 0 skipped; blobs 1 copied`))
  })

  it('layout push is copy oci:DIR:TAG underneath: a layout skopeo wrote goes up, and a second push only HEADs', async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-push-layout-')), 'img')
    const written = await skopeo(['copy', '--src-tls-verify=false', '--src-creds', `${alice.username}:${alice.password}`, `docker://${source.host}/copy/app:docker`, `oci:${directory}:v1`])
    expect(written.code, written.stderr).to.equal(0)
    const pushed = await runCli(['layout', 'push', '-p', directory, '-d', `${destination.host}/pushed/app`, '--docker-config', config])
    expect(pushed.code, pushed.stderr).to.equal(0)
    expect(pushed.stdout).to.match(/^Copied oci:.*:v1 -> .*\/pushed\/app:v1: sha256:[0-9a-f]{64}; manifests 1 copied, 0 skipped; blobs 2 copied/)
    const inspected = await skopeo(['inspect', '--raw', `oci:${directory}:v1`])
    const pulled = await manifestAt(destination, carol, 'pushed/app', 'v1')
    expect(pulled.body.toString('utf8')).to.equal(inspected.stdout)
    const mark = destination.markLogs()
    const again = await runCli(['layout', 'push', '-p', directory, '-d', `${destination.host}/pushed/app`, '--docker-config', config])
    expect(again.code, again.stderr).to.equal(0)
    expect(uploads(destination.requestLog(mark))).to.deep.equal([])
    // --dry-run makes no request (the destination's log stays as it was) and names what would go.
    const dryMark = destination.markLogs()
    const dry = await runCli(['layout', 'push', '-p', directory, '-d', `${destination.host}/dry/app`, '--dry-run', '--docker-config', config])
    expect(dry.code, dry.stderr).to.equal(0)
    expect(dry.stdout).to.match(/^\[dry-run\] Layout .* -> .*\/dry\/app\n\n(\[dry-run\] Would upload blob sha256:[0-9a-f]{64} \(\d+ bytes\)\n){2}\[dry-run\] Would push manifest sha256:[0-9a-f]{64}\n\[dry-run\] Would tag sha256:[0-9a-f]{64} as 'v1'\n$/)
    expect(destination.requestLog(dryMark)).to.deep.equal([])
  })

  it('layout push of two manifests prints each summary as its push ends: a second that fails leaves the first\'s line', async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-push-two-')), 'img')
    for (const [tag, into] of [
      ['docker', 'v1'],
      ['oci', 'v2'],
    ]) {
      const copied = await runCli(['copy', `${source.host}/copy/app:${tag}`, `oci:${directory}:${into}`, '--docker-config', config])
      expect(copied.code, copied.stderr).to.equal(0)
    }

    const summary = (tag: string, digest: string) => `Copied oci:${directory}:${tag} -> ${destination.host}/two/app:${tag}: ${digest}; [^\n]*`
    const pushed = await runCli(['layout', 'push', '-p', directory, '-d', `${destination.host}/two/app`, '--docker-config', config])
    expect(pushed.code, pushed.stderr).to.equal(0)
    expect(pushed.stdout).to.match(new RegExp(`^${summary('v1', seeded.docker.digest)}\n${summary('v2', seeded.oci.digest)}\n$`))
    const json = await runCli(['layout', 'push', '-p', directory, '-d', `${destination.host}/two/app`, '--docker-config', config, '--json'])
    expect(json.code, json.stderr).to.equal(0)
    expect(json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line).destination)).to.deep.equal([`${destination.host}/two/app:v1`, `${destination.host}/two/app:v2`])
    // v2's manifest gone from the layout: its push fails after v1's, whose summary is already out.
    rmSync(join(directory, 'blobs', 'sha256', seeded.oci.digest.slice('sha256:'.length)))
    const failed = await runCli(['layout', 'push', '-p', directory, '-d', `${destination.host}/three/app`, '--docker-config', config])
    expect(failed.code, failed.stderr).to.equal(1)
    expect(failed.stdout).to.match(new RegExp(`^Copied oci:${directory}:v1 -> ${destination.host}/three/app:v1: ${seeded.docker.digest}; [^\n]*\n$`))
    expect(failed.stderr).to.match(/^Error: .*\n$/)
  })

  it('a layout ref.name that is not a valid tag (../, ?, #) is refused before any request, exit 1; another repository\'s tag is untouched', async () => {
    // team/other:v1 at DST: what a ref.name of ../../other/manifests/v1 would overwrite on a Basic-auth registry.
    expect((await runCli(['copy', `${source.host}/copy/app:docker`, `${destination.host}/team/other:v1`, '--docker-config', config])).code).to.equal(0)
    const before = await manifestAt(destination, carol, 'team/other', 'v1')
    expect(before.status).to.equal(200)
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-refname-')), 'app')
    expect((await runCli(['copy', `${source.host}/copy/app:oci`, `oci:${directory}`, '--docker-config', config])).code).to.equal(0)
    const indexPath = join(directory, 'index.json')
    for (const name of ['../../other/manifests/v1', 'v9?x=1', 'v9#frag']) {
      const index = JSON.parse(readFileSync(indexPath, 'utf8'))
      index.manifests[0].annotations['org.opencontainers.image.ref.name'] = name
      writeFileSync(indexPath, JSON.stringify(index))
      const quoted = JSON.stringify(name).replaceAll(/[.?*+^$()[\]{}|\\]/g, '\\$&')
      const refused = new RegExp(`^Error: the manifest ${seeded.oci.digest} in the layout at ${directory} has ${quoted} as its org.opencontainers.image.ref.name, which is not a valid tag .*; name the destination's tag instead$`)
      const mark = destination.markLogs()
      for (const args of [
        ['copy', `oci:${directory}`, `${destination.host}/team/app`],
        ['layout', 'push', '-p', directory, '-d', `${destination.host}/team/app`],
        ['layout', 'push', '-p', directory, '-d', `${destination.host}/team/app`, '--dry-run'],
      ]) {
        expectOneErrorLine(await runCli([...args, '--docker-config', config]), refused)
      }

      expect(destination.requestLog(mark), name).to.deep.equal([])
    }

    expect((await manifestAt(destination, carol, 'team/other', 'v1')).body.equals(before.body)).to.equal(true)
    expect((await manifestAt(destination, carol, 'team/app', 'v9')).status).to.equal(404)
    // A destination that names its own tag does not take the ref.name: that copy goes.
    const named = await runCli(['copy', `oci:${directory}`, `${destination.host}/team/app:named`, '--docker-config', config])
    expect(named.code, named.stderr).to.equal(0)
    expect((await manifestAt(destination, carol, 'team/app', 'named')).body.equals(seeded.oci.bytes)).to.equal(true)
  })

  it('on a terminal, a bar per blob in flight and a total (cli-progress MultiBar)', async () => {
    const {runOnPty} = await import('../helpers/pty.js')
    const directory = mkdtempSync(join(tmpdir(), 'regshape-copy-pty-'))
    writeFileSync(join(directory, 'config.json'), readFileSync(config))
    const result = await runOnPty(['copy', `${source.host}/copy/app:oci`, `${destination.host}/bars/app`], [], {DOCKER_CONFIG: directory, HOME: mkdtempSync(join(tmpdir(), 'regshape-home-'))})
    expect(result.code, result.transcript).to.equal(0)
    expect(result.transcript).to.include('total').and.to.include(seeded.bigLayer.digest.slice(0, 19))
    expect(result.transcript).to.include(`${seeded.bigLayer.size}/${seeded.bigLayer.size} bytes`)
  })

  it('refuses -u/-p across two registries (exit 2) before any request', async () => {
    const mark = destination.markLogs()
    const result = await runCli(['copy', `${source.host}/copy/app:oci`, `${destination.host}/mirror/x`, '-u', 'carol', '--password', carol.password])
    expect(result.code, result.stderr).to.equal(2)
    expect(result.stderr).to.match(/^WARNING! Using --password via the CLI is insecure\. Use --password-stdin\.\nError: -u\/--username and -p\/--password cannot be used when .* are different registries: one password would reach both/)
    expect(destination.requestLog(mark)).to.deep.equal([])
    expectNoSecrets(result, [carol.password])
  })

  it('an invalid reference or layout reference is a usage error (exit 2), as for every command, before any request', async () => {
    const layout = mkdtempSync(join(tmpdir(), 'regshape-badref-'))
    const cases: Array<[string[], RegExp]> = [
      [['copy', `${source.host}/copy/App:oci`, `${destination.host}/mirror/app`], /^Error: invalid reference .*"App" must be lowercase/],
      [['copy', `${source.host}/copy/app:oci`, `${destination.host}/mirror//app`], /^Error: invalid reference .*empty component/],
      [['copy', `${source.host}/copy/app:oci`, 'foo_bar.com:8080/mirror/app'], /^Error: invalid reference .*registry "foo_bar\.com:8080"/],
      [['copy', 'oci::v1', `${destination.host}/mirror/app`], /^Error: invalid layout reference "oci::v1": the path is empty/],
      [['layout', 'push', '--path', layout, '--dest', `${destination.host}/Mirror/app`], /^Error: invalid reference .*"Mirror" must be lowercase/],
      [['layout', 'push', '--path', layout, '--dest', '[1::2::3]/mirror/app'], /^Error: invalid reference .*is not an IPv6 address/],
    ]
    for (const [args, pattern] of cases) {
      const marks = [source.markLogs(), destination.markLogs()]
      expectOneErrorLine(await runCli([...args, '--docker-config', config]), pattern, 2)
      expect([source.requestLog(marks[0]), destination.requestLog(marks[1])], args.join(' ')).to.deep.equal([[], []])
    }
  })

  it('fails on a missing source, a non-layout and a layout with a bad blob, naming it; the tag is untouched', async () => {
    const missing = await runCli(['copy', `${source.host}/copy/app:nope`, `${destination.host}/mirror/app:multi`, '--docker-config', config])
    expectOneErrorLine(missing, /^Error: manifest get .*copy\/app:nope: MANIFEST_UNKNOWN/)
    // Into a layout: no empty layout is left behind by a copy that found nothing to copy.
    const nowhere = join(mkdtempSync(join(tmpdir(), 'regshape-nowhere-')), 'layout')
    expectOneErrorLine(await runCli(['copy', `${source.host}/copy/app:nope`, `oci:${nowhere}`, '--docker-config', config]), /MANIFEST_UNKNOWN/)
    expect(existsSync(nowhere)).to.equal(false)
    const notLayout = mkdtempSync(join(tmpdir(), 'regshape-notlayout-'))
    const nope = await runCli(['copy', `oci:${notLayout}`, `${destination.host}/mirror/app:multi`, '--docker-config', config])
    expectOneErrorLine(nope, /^Error: .*not an OCI image layout|^Error: .*oci-layout/)
    // A layout whose layer was changed on disk: the copy stops at that blob.
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-badblob-')), 'app')
    expect((await runCli(['copy', `${source.host}/copy/app:oci`, `oci:${directory}`, '--docker-config', config])).code).to.equal(0)
    const blob = join(directory, 'blobs', 'sha256', seeded.bigLayer.digest.slice(7))
    const bytes = readFileSync(blob)
    bytes[100] ^= 0xff
    writeFileSync(blob, bytes)
    const before = await manifestAt(destination, carol, 'mirror/app', 'multi')
    const bad = await runCli(['copy', `oci:${directory}:oci`, `${destination.host}/mirror/app:multi`, '--docker-config', config])
    expectOneErrorLine(bad, new RegExp(`^Error: blob ${seeded.bigLayer.digest}.*(digest|hash)`))
    const after = await manifestAt(destination, carol, 'mirror/app', 'multi')
    expect(after.body.equals(before.body)).to.equal(true)
    expect(existsSync(blob)).to.equal(true)
  })
})

/**
 * An OCI layout holding an index of `count` image manifests (one shared config, no layers), each
 * its own digest through an annotation, tagged v1; written by hand, as fast as a test needs.
 */
function wideLayout(directory: string, count: number): string {
  const blobs = join(directory, 'blobs', 'sha256')
  mkdirSync(blobs, {recursive: true})
  const put = (bytes: Buffer) => {
    const digest = sha256(bytes)
    writeFileSync(join(blobs, digest.slice(7)), bytes)
    return {digest, size: bytes.length}
  }

  const config = put(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'))
  const children = Array.from({length: count}, (_, at) => {
    const manifest = {schemaVersion: 2, mediaType: MEDIA.ociManifest, config: {mediaType: 'application/vnd.oci.image.config.v1+json', ...config}, layers: [], annotations: {n: String(at)}}
    return {mediaType: MEDIA.ociManifest, ...put(Buffer.from(JSON.stringify(manifest))), platform: {architecture: `arch${at}`, os: 'linux'}}
  })
  const index = put(Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: children})))
  writeFileSync(join(directory, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  const entry = {mediaType: MEDIA.ociIndex, ...index, annotations: {'org.opencontainers.image.ref.name': 'v1'}}
  writeFileSync(join(directory, 'index.json'), JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [entry]}))
  return index.digest
}

/** runCli under a shell's `ulimit -n`: how many files (sockets included) the CLI may hold open. */
async function runWithFileLimit(files: number, args: string[]): Promise<CliResult> {
  const {RUN_JS, tempHome} = await import('../helpers/cli.js')
  return runProcess('sh', ['-c', `ulimit -n ${files} && exec "$0" "$@"`, process.execPath, RUN_JS, ...args], {
    env: {HOME: tempHome(), LANG: 'C.UTF-8', PATH: process.env.PATH},
    timeoutMs: 120_000,
  })
}

/**
 * A node:http proxy in front of a real registry, for the faults distribution does not make: it
 * forwards everything as it came (Host included, so Locations point back at it) unless `fault`
 * answers first or `corrupt` changes a response body.
 */
interface FaultProxy {
  close(): Promise<void>
  host: string
  inFlight: {max: number; now: number}
}

async function faultProxy(
  target: RegistryHandle,
  options: {corrupt?: (request: IncomingMessage) => boolean; delayMs?: (request: IncomingMessage) => number; fault?: (request: IncomingMessage) => number | undefined},
): Promise<FaultProxy> {
  const {createServer} = await import('node:http')
  const inFlight = {max: 0, now: 0}
  const server = createServer((request, response) => {
    const status = options.fault?.(request)
    if (status !== undefined) {
      request.resume()
      response.writeHead(status, {'content-type': 'application/json'})
      response.end(JSON.stringify({errors: [{code: status === 413 ? 'SIZE_INVALID' : 'UNKNOWN', message: `fault proxy answered ${status}`}]}))
      return
    }

    const counted = request.method === 'PUT' && request.url?.includes('/blobs/uploads/')
    if (counted) {
      inFlight.now++
      inFlight.max = Math.max(inFlight.max, inFlight.now)
    }

    const forward = httpRequest(`${target.url}${request.url}`, {headers: request.headers, method: request.method}, (answer) => {
      const corrupt = options.corrupt?.(request) ?? false
      const send = () => {
        if (counted) inFlight.now--
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        if (!corrupt) {
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
      }

      const delay = options.delayMs?.(request) ?? 0
      if (delay > 0) setTimeout(send, delay)
      else send()
    })
    forward.on('error', () => response.destroy())
    request.pipe(forward)
  })
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  const {port} = server.address() as import('node:net').AddressInfo
  return {
    close: () => new Promise((resolvePromise) => server.close(() => resolvePromise())),
    host: `127.0.0.1:${port}`,
    inFlight,
  }
}

describe('regshape copy, when a side fails', function () {
  this.timeout(180_000)
  let source: RegistryHandle
  let destination: RegistryHandle
  let seeded: SeededImages
  const proxies: FaultProxy[] = []

  before(async () => {
    source = await basicRegistry()
    destination = await startRegistry({auth: {kind: 'htpasswd', users: {[carol.username]: carol.password}}})
    seeded = await seedImages(source, 'faults/app', {bigLayerBytes: 2 * 1024 * 1024})
  })

  after(async () => {
    for (const proxy of proxies) await proxy.close()
    await destination?.close()
  })

  const configWith = (logins: Array<[string, {password: string; username: string}]>) => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-copy-cfg-'))
    const auths = Object.fromEntries(logins.map(([host, user]) => [host, {auth: Buffer.from(`${user.username}:${user.password}`).toString('base64')}]))
    writeFileSync(join(directory, 'config.json'), JSON.stringify({auths}))
    return join(directory, 'config.json')
  }

  for (const status of [500, 413]) {
    it(`a destination answering ${status} to one blob: exit 1 naming it, no manifest or tag pushed; run again, it finishes what is missing`, async () => {
      const proxy = await faultProxy(destination, {fault: (request) => (request.method === 'PUT' && request.url?.includes(seeded.bigLayer.digest.slice(7)) ? status : undefined)})
      proxies.push(proxy)
      const config = configWith([
        [source.host, alice],
        [proxy.host, carol],
      ])
      const repository = `fail${status}/app`
      const failed = await runCli(['copy', `${source.host}/faults/app:oci`, `${proxy.host}/${repository}`, '--docker-config', config, '--concurrency', '1'])
      expectOneErrorLine(failed, new RegExp(`^Error: blob ${seeded.bigLayer.digest}.*${status}`))
      expect((await manifestAt(destination, carol, repository, 'oci')).status).to.equal(404)
      expect((await manifestAt(destination, carol, repository, seeded.oci.digest)).status).to.equal(404)
      const mark = destination.markLogs()
      const again = await runCli(['copy', `${source.host}/faults/app:oci`, `${destination.host}/${repository}`, '--docker-config', configWith([[source.host, alice], [destination.host, carol]])])
      expect(again.code, again.stderr).to.equal(0)
      // One at a time, config first: the config went before the failure, the small layer after it
      // was never started; now the big and the small layer go, the config is skipped.
      expect(again.stdout).to.match(/blobs 2 copied, 1 skipped, 0 mounted/)
      expect(destination.requestLog(mark).filter((entry) => entry.method === 'PUT' && entry.path.includes('/blobs/'))).to.have.length(2)
      expect((await manifestAt(destination, carol, repository, 'oci')).body.equals(seeded.oci.bytes)).to.equal(true)
    })
  }

  it('a destination that denies the push (bob may push only under bob/ on the token registry): exit 1, one Error line', async () => {
    const token = await tokenRegistry()
    const config = configWith([
      [source.host, alice],
      [token.host, USERS.bob],
    ])
    const denied = await runCli(['copy', `${source.host}/faults/app:docker`, `${token.host}/team/app`, '--docker-config', config])
    expectOneErrorLine(denied, /^Error: blob sha256:[0-9a-f]{64}.*(DENIED|UNAUTHORIZED|not granted|denied)/i)
    expectNoSecrets(denied, [alice.password, USERS.bob.password])
  })

  it('a source lying about a blob (its bytes do not hash to the digest): exit 1 naming the blob, nothing tagged', async () => {
    const proxy = await faultProxy(source, {corrupt: (request) => request.method === 'GET' && (request.url?.includes(seeded.bigLayer.digest.slice(7)) ?? false)})
    proxies.push(proxy)
    const config = configWith([
      [proxy.host, alice],
      [destination.host, carol],
    ])
    const lied = await runCli(['copy', `${proxy.host}/faults/app:oci`, `${destination.host}/lied/app`, '--docker-config', config])
    expectOneErrorLine(lied, new RegExp(`^Error: blob ${seeded.bigLayer.digest} \\(${proxy.host}/faults/app\\): .*(digest|hash)`))
    expect((await manifestAt(destination, carol, 'lied/app', 'oci')).status).to.equal(404)
    // The registry has no blob under that digest either.
    const blob = await plain('HEAD', `${destination.url}/v2/lied/app/blobs/${seeded.bigLayer.digest}`, {authorization: basicAuth(carol)})
    expect(blob.status).to.equal(404)
  })

  it('--concurrency N: a slow destination never sees more than N uploads at once (and sees N)', async () => {
    const proxy = await faultProxy(destination, {delayMs: (request) => (request.method === 'PUT' && request.url?.includes('/blobs/uploads/') ? 400 : 0)})
    proxies.push(proxy)
    const config = configWith([
      [source.host, alice],
      [proxy.host, carol],
    ])
    // The two-platform index: 4 blobs (two configs, two layers).
    const copied = await runCli(['copy', `${source.host}/faults/app:multi`, `${proxy.host}/slow/app`, '--docker-config', config, '--concurrency', '2'])
    expect(copied.code, copied.stderr).to.equal(0)
    expect(copied.stdout).to.match(/blobs 4 copied/)
    expect(proxy.inFlight.max).to.equal(2)
    const one = await runCli(['copy', `${source.host}/faults/app:docker`, `${proxy.host}/slow/one`, '--docker-config', config, '--concurrency', '1'])
    expect(one.code, one.stderr).to.equal(0)
    expect(proxy.inFlight.max).to.equal(2)
  })

  it('Ctrl-C mid-copy: exit 130, one Error line, the tag untouched', async () => {
    const proxy = await faultProxy(destination, {delayMs: (request) => (request.method === 'PUT' && request.url?.includes('/blobs/uploads/') ? 5000 : 0)})
    proxies.push(proxy)
    const config = configWith([
      [source.host, alice],
      [proxy.host, carol],
    ])
    const {spawn} = await import('node:child_process')
    const {RUN_JS, tempHome} = await import('../helpers/cli.js')
    const child = spawn(process.execPath, [RUN_JS, 'copy', `${source.host}/faults/app:oci`, `${proxy.host}/interrupted/app`, '--docker-config', config], {
      env: {HOME: tempHome(), PATH: process.env.PATH},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    // Once an upload is in flight at the (slow) destination.
    for (let waited = 0; proxy.inFlight.now === 0 && waited < 20_000; waited += 50) await new Promise((resolvePromise) => setTimeout(resolvePromise, 50))
    expect(proxy.inFlight.now).to.be.greaterThan(0)
    child.kill('SIGINT')
    const code = await new Promise<null | number>((resolvePromise) => child.on('close', resolvePromise))
    expectOneErrorLine({code, signal: null, stderr, stdout}, /^Error: copy .* -> .*interrupted\/app: interrupted; the destination's tag was not changed$/, 130)
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 5500))
    expect((await manifestAt(destination, carol, 'interrupted/app', 'oci')).status).to.equal(404)
  })
})

describe('regshape copy into a layout, many blobs at once', function () {
  this.timeout(120_000)

  /** An OCI layout written here, tagged v1: one image of `count` small layers. */
  function layoutOfLayers(directory: string, count: number): void {
    mkdirSync(join(directory, 'blobs', 'sha256'), {recursive: true})
    const put = (bytes: Buffer, mediaType: string) => {
      const digest = sha256(bytes)
      writeFileSync(join(directory, 'blobs', 'sha256', digest.slice(7)), bytes)
      return {digest, mediaType, size: bytes.length}
    }

    const layers = Array.from({length: count}, (_, index) => put(Buffer.from(`layer ${index}\n`.repeat(1000)), 'application/vnd.oci.image.layer.v1.tar'))
    const config = put(Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: layers.map((layer) => layer.digest), type: 'layers'}})), MEDIA.ociConfig)
    const manifest = put(Buffer.from(JSON.stringify({config, layers, mediaType: MEDIA.ociManifest, schemaVersion: 2})), MEDIA.ociManifest)
    writeFileSync(join(directory, 'oci-layout'), JSON.stringify({imageLayoutVersion: '1.0.0'}))
    writeFileSync(join(directory, 'index.json'), JSON.stringify({manifests: [{...manifest, annotations: {'org.opencontainers.image.ref.name': 'v1'}}], schemaVersion: 2}))
  }

  it('--concurrency 16 into a layout: no MaxListenersExceededWarning (one signal handler for every blob in flight)', async () => {
    const work = mkdtempSync(join(tmpdir(), 'regshape-copy-many-'))
    layoutOfLayers(join(work, 'source'), 20)
    const copied = await runCli(['copy', `oci:${join(work, 'source')}:v1`, `oci:${join(work, 'copy')}:v1`, '--concurrency', '16'])
    expect(copied.code, copied.stderr).to.equal(0)
    expect(copied.stdout).to.match(/blobs 21 copied/)
    expect(copied.stderr).to.equal('')
    expect(readdirSync(join(work, 'copy', 'blobs', 'sha256'))).to.have.length(22)
  })
})
