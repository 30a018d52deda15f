import {expect} from 'chai'
import {createHash, randomBytes} from 'node:crypto'
import {spawn} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'

import {seedImages} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import {openRegistry} from '../fixtures/servers.js'
import {type CliResult, RUN_JS, expectNoStackTrace, runCli, tempHome} from '../helpers/cli.js'
import {runOnPty} from '../helpers/pty.js'

/**
 * The layout group against witnesses no one here wrote: what regshape builds is read by
 * `skopeo inspect oci:DIR:TAG`, copied by `skopeo copy`, passes `oci-image-tool validate` and is
 * unpacked by `umoci unpack` (Debian's, see scripts/test-prereqs.mjs); diff_ids are checked
 * against `gzip -dc | sha256sum` and `zstd -dc`. And the reverse: a layout skopeo wrote from the
 * real registry is read by layout show, status and validate.
 */

const sha = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
const blobFile = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length))
const indexOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {manifests: Array<{annotations?: Record<string, string>; digest: string; mediaType: string; size: number}>}
const stageOf = (dir: string) => JSON.parse(readFileSync(join(dir, '.regshape-stage.json'), 'utf8'))

async function ok(args: string[]): Promise<CliResult> {
  const result = await runCli(args)
  expect(result.code, `regshape ${args.join(' ')}: ${result.stderr}`).to.equal(0)
  expectNoStackTrace(result)
  return result
}

async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse((await ok([...args, '--json'])).stdout) as T
}

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = await runProcess(command, args, {env, timeoutMs: 60_000})
  return result
}

/** A tar of `files` (name → content), made by tar(1). */
async function makeTar(work: string, name: string, files: Record<string, string>, flags = '-cf'): Promise<string> {
  const root = mkdtempSync(join(work, 'root-'))
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(join(root, file, '..'), {recursive: true})
    writeFileSync(join(root, file), content)
  }

  const out = join(work, name)
  const result = await run('tar', ['-C', root, '--owner=0', '--group=0', flags, out, ...Object.keys(files)])
  expect(result.code, result.stderr).to.equal(0)
  return out
}

/** Exit 1 (or `code`), exactly one line on stderr, starting `Error: `, no stack trace. */
function expectOneError(result: CliResult, pattern: RegExp, code = 1): void {
  expect(result.code, result.stderr + result.stdout).to.equal(code)
  expectNoStackTrace(result)
  expect(result.stderr.trimEnd().split('\n'), result.stderr).to.have.length(1)
  expect(result.stderr).to.match(/^Error: /)
  expect(result.stderr).to.match(pattern)
}

describe('layout: regshape builds a layout that skopeo, oci-image-tool and umoci read', function () {
  this.timeout(180_000)
  let work: string
  let dir: string
  let layers: Array<{diff_id: string; digest: string; media_type: string; size: number}>
  let manifest: {digest: string; size: number}
  let tars: {base: string; gz: string; more: string}

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'regshape-layout-'))
    dir = join(work, 'img')
    tars = {
      base: await makeTar(work, 'base.tar', {'etc/hello.txt': 'hello from the base layer\n', 'bin/tool': '#!/bin/sh\necho tool\n'}),
      gz: await makeTar(work, 'top.tar.gz', {'srv/app.txt': 'the app\n'}, '-czf'),
      more: await makeTar(work, 'extra.tar', {'srv/extra.txt': 'a third layer\n'}),
    }
    const init = await json(['layout', 'init', '-p', dir])
    expect(init).to.deep.equal({layout_path: dir})
    layers = [
      await json(['layout', 'add', 'layer', '-p', dir, '-f', tars.base, '--annotation', 'com.example.role=base']),
      await json(['layout', 'add', 'layer', '--path', dir, '--file', tars.gz]),
      await json(['layout', 'add', 'layer', '-p', dir, '-f', tars.more]),
    ]
    await ok(['layout', 'generate', 'config', '-p', dir, '--architecture', 'arm64', '--os', 'linux', '--annotation', 'org.opencontainers.image.version=1.0.0'])
    manifest = await json(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'v1', '--annotation', 'org.opencontainers.image.title=demo'])
  })

  after(() => rmSync(work, {force: true, recursive: true}))

  it('add layer compresses a tar with gzip, keeps a .tar.gz as it is, and says which media type each has', () => {
    expect(layers.map((layer) => layer.media_type)).to.deep.equal(Array.from({length: 3}, () => 'application/vnd.oci.image.layer.v1.tar+gzip'))
    // The .tar.gz is stored byte for byte.
    expect(layers[1].digest).to.equal(sha(readFileSync(tars.gz)))
    for (const layer of layers) expect(readFileSync(blobFile(dir, layer.digest)).length).to.equal(layer.size)
  })

  it('diff_ids are the digests of the uncompressed layers: gzip -dc | sha256sum agrees', async () => {
    const config = JSON.parse(readFileSync(blobFile(dir, JSON.parse(readFileSync(blobFile(dir, manifest.digest), 'utf8')).config.digest), 'utf8'))
    const uncompressed: string[] = []
    for (const layer of layers) {
      const tool = layer.media_type.endsWith('+zstd') ? 'zstd -dc' : 'gzip -dc'
      const result = await run('sh', ['-c', `${tool} "$1" | sha256sum`, 'sh', blobFile(dir, layer.digest)])
      expect(result.code, result.stderr).to.equal(0)
      uncompressed.push(`sha256:${result.stdout.split(' ')[0]}`)
    }

    expect(uncompressed[0]).to.equal(sha(readFileSync(tars.base)))
    expect(config.rootfs).to.deep.equal({type: 'layers', diff_ids: uncompressed})
    expect(layers.map((layer) => layer.diff_id)).to.deep.equal(uncompressed)
    // Not the compressed digests (upstream's bug).
    expect(config.rootfs.diff_ids).not.to.include(layers[1].digest)
  })

  it('skopeo inspect oci:DIR:v1 reads the manifest, its layers, architecture and labels', async () => {
    const result = await run('skopeo', ['inspect', `oci:${dir}:v1`])
    expect(result.code, result.stderr).to.equal(0)
    const seen = JSON.parse(result.stdout)
    expect(seen.Digest).to.equal(manifest.digest)
    expect(seen.Layers).to.deep.equal(layers.map((layer) => layer.digest))
    expect(seen.Architecture).to.equal('arm64')
    expect(seen.Labels).to.deep.equal({'org.opencontainers.image.version': '1.0.0'})
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${dir}:v1`])
    expect(raw.stdout).to.equal(readFileSync(blobFile(dir, manifest.digest), 'utf8'))
    expect(JSON.parse(raw.stdout).annotations).to.deep.equal({'org.opencontainers.image.title': 'demo'})
    expect(JSON.parse(raw.stdout).layers[0].annotations).to.deep.equal({'com.example.role': 'base'})
  })

  it('skopeo copy oci:DIR:v1 oci:OTHER:v1 copies it byte for byte, and layout validate passes on the copy', async () => {
    const other = join(work, 'other')
    const result = await run('skopeo', ['copy', `oci:${dir}:v1`, `oci:${other}:v1`])
    expect(result.code, result.stderr).to.equal(0)
    const entry = indexOf(other).manifests.find((candidate) => candidate.annotations?.['org.opencontainers.image.ref.name'] === 'v1')
    expect(entry?.digest).to.equal(manifest.digest)
    for (const layer of layers) expect(readFileSync(blobFile(other, layer.digest))).to.deep.equal(readFileSync(blobFile(dir, layer.digest)))
    const validate = await ok(['layout', 'validate', '-p', other])
    expect(validate.stdout).to.equal(`Layout at ${other} is valid.\n`)
  })

  it('oci-image-tool validate passes it (all refs, and --ref name=v1)', async () => {
    for (const args of [['validate', '--type', 'image', dir], ['validate', '--type', 'image', '--ref', 'name=v1', dir]]) {
      const result = await run('oci-image-tool', args)
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.include('Validation succeeded')
    }
  })

  it('umoci unpack --image DIR:v1 gives the files of all three layers', async () => {
    const bundle = join(work, 'bundle')
    const result = await run('umoci', ['unpack', '--rootless', '--image', `${dir}:v1`, bundle])
    expect(result.code, result.stderr).to.equal(0)
    expect(readFileSync(join(bundle, 'rootfs', 'etc', 'hello.txt'), 'utf8')).to.equal('hello from the base layer\n')
    expect(readFileSync(join(bundle, 'rootfs', 'srv', 'app.txt'), 'utf8')).to.equal('the app\n')
    expect(readFileSync(join(bundle, 'rootfs', 'srv', 'extra.txt'), 'utf8')).to.equal('a third layer\n')
  })

  // Debian's umoci 0.4.7 and oci-image-tool 1.0.0-rc1 predate zstd layers: skopeo is the witness here.
  it('--compress-format zstd: a tar+zstd layer whose diff_id is zstd -dc | sha256sum, read and copied by skopeo', async () => {
    const zdir = join(work, 'zstd')
    await ok(['layout', 'init', '-p', zdir])
    const layer = await json<{diff_id: string; digest: string; media_type: string}>(['layout', 'add', 'layer', '-p', zdir, '-f', tars.more, '--compress-format', 'zstd'])
    expect(layer.media_type).to.equal('application/vnd.oci.image.layer.v1.tar+zstd')
    const unzstd = await run('sh', ['-c', 'zstd -dc "$1" | sha256sum', 'sh', blobFile(zdir, layer.digest)])
    expect(`sha256:${unzstd.stdout.split(' ')[0]}`).to.equal(sha(readFileSync(tars.more)))
    expect(layer.diff_id).to.equal(sha(readFileSync(tars.more)))
    // A .tar.zst given as it is: stored byte for byte, decompressed only to hash.
    const zst = join(work, 'given.tar.zst')
    expect((await run('zstd', ['-q', '-f', tars.base, '-o', zst])).code).to.equal(0)
    const given = await json<{diff_id: string; digest: string; media_type: string}>(['layout', 'add', 'layer', '-p', zdir, '-f', zst])
    expect([given.digest, given.diff_id, given.media_type]).to.deep.equal([sha(readFileSync(zst)), sha(readFileSync(tars.base)), 'application/vnd.oci.image.layer.v1.tar+zstd'])
    const config = await json<{digest: string}>(['layout', 'generate', 'config', '-p', zdir])
    expect(JSON.parse(readFileSync(blobFile(zdir, config.digest), 'utf8')).rootfs.diff_ids).to.deep.equal([layer.diff_id, given.diff_id])
    await ok(['layout', 'generate', 'manifest', '-p', zdir, '--ref-name', 'z'])
    const inspect = await run('skopeo', ['inspect', `oci:${zdir}:z`])
    expect(inspect.code, inspect.stderr).to.equal(0)
    expect(JSON.parse(inspect.stdout).Layers).to.deep.equal([layer.digest, given.digest])
    const copy = await run('skopeo', ['copy', `oci:${zdir}:z`, `oci:${join(work, 'zstd-copy')}:z`])
    expect(copy.code, copy.stderr).to.equal(0)
    await ok(['layout', 'validate', '-p', join(work, 'zstd-copy')])
  })

  it('status, show and validate describe it', async () => {
    const status = await ok(['layout', 'status', '-p', dir])
    expect(status.stdout).to.include(`Staging state for ${dir}:`)
    expect(status.stdout).to.include('  Layers (3):')
    expect(status.stdout).to.include(`    [0] ${layers[0].digest}`)
    expect(status.stdout).to.include(`    ${manifest.digest} (${manifest.size} bytes, application/vnd.oci.image.manifest.v1+json)`)
    expect(await json(['layout', 'status', '-p', dir])).to.deep.equal(stageOf(dir))
    const show = await ok(['layout', 'show', '-p', dir])
    expect(JSON.parse(show.stdout)).to.deep.equal(indexOf(dir))
    expect(show.stdout).to.include('\n  "manifests": [\n')
    const report = await json(['layout', 'validate', '-p', dir])
    expect(report).to.deep.include({valid: true, manifests: 1, blobs: 4})
  })
})

describe('layout: the fixes to upstream (registry.md §4)', function () {
  this.timeout(180_000)
  let work: string
  let tar: string

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'regshape-layout-fix-'))
    tar = await makeTar(work, 'layer.tar', {'a.txt': 'a\n'})
  })

  after(() => rmSync(work, {force: true, recursive: true}))

  async function built(name: string): Promise<{config: string; dir: string; manifest: string}> {
    const dir = join(work, name)
    await ok(['layout', 'init', '-p', dir])
    await ok(['layout', 'add', 'layer', '-p', dir, '-f', tar])
    const config = (await json<{digest: string}>(['layout', 'generate', 'config', '-p', dir, '--architecture', 'amd64', '--os', 'linux'])).digest
    const manifest = (await json<{digest: string}>(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'latest'])).digest
    return {config, dir, manifest}
  }

  it('generate manifest for an existing ref.name replaces that entry (one entry per name), and removes the replaced manifest', async () => {
    const {dir, manifest: first} = await built('replace')
    const second = (await json<{digest: string}>(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'latest', '--annotation', 'k=v'])).digest
    expect(second).not.to.equal(first)
    const entries = indexOf(dir).manifests
    expect(entries.map((entry) => [entry.digest, entry.annotations?.['org.opencontainers.image.ref.name']])).to.deep.equal([[second, 'latest']])
    expect(existsSync(blobFile(dir, first))).to.equal(false)
    // Another name is another entry.
    await ok(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'stable', '--annotation', 'k=v'])
    expect(indexOf(dir).manifests.map((entry) => entry.annotations?.['org.opencontainers.image.ref.name'])).to.deep.equal(['latest', 'stable'])
    const skopeo = await run('skopeo', ['inspect', `oci:${dir}:latest`])
    expect(JSON.parse(skopeo.stdout).Digest).to.equal(second)
  })

  it('update config keeps the config blob a manifest still references; validate passes; the next generate manifest removes it', async () => {
    const {config: old, dir, manifest} = await built('update')
    const result = await runCli(['layout', 'update', 'config', '-p', dir, '--architecture', 'arm64'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.include("Warning: a manifest has already been generated. Re-run 'layout generate manifest' to reference the updated config.")
    expect(existsSync(blobFile(dir, old)), 'the config the manifest references').to.equal(true)
    await ok(['layout', 'validate', '-p', dir])
    const skopeo = await run('skopeo', ['inspect', `oci:${dir}:latest`])
    expect(JSON.parse(skopeo.stdout)).to.deep.include({Architecture: 'amd64', Digest: manifest})

    const updated = await json<{digest: string; warning: string}>(['layout', 'update', 'config', '-p', dir, '--os', 'freebsd'])
    expect(updated.warning).to.equal("manifest already generated; re-run 'layout generate manifest'")
    await ok(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'latest'])
    expect(existsSync(blobFile(dir, old)), 'the old config, now unreferenced').to.equal(false)
    await ok(['layout', 'validate', '-p', dir])
    const after = JSON.parse((await run('skopeo', ['inspect', `oci:${dir}:latest`])).stdout)
    expect([after.Architecture, after.Os]).to.deep.equal(['arm64', 'freebsd'])
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).to.have.length(3)
  })

  it('update config before a manifest exists replaces the staged config and removes the old blob', async () => {
    const dir = join(work, 'early')
    await ok(['layout', 'init', '-p', dir])
    await ok(['layout', 'add', 'layer', '-p', dir, '-f', tar])
    const old = (await json<{digest: string}>(['layout', 'generate', 'config', '-p', dir, '--annotation', 'a=1'])).digest
    const updated = await json<{digest: string; warning?: string}>(['layout', 'update', 'config', '-p', dir, '--annotation', 'b=2'])
    expect(updated.warning).to.equal(undefined)
    expect(existsSync(blobFile(dir, old))).to.equal(false)
    expect(JSON.parse(readFileSync(blobFile(dir, updated.digest), 'utf8')).config).to.deep.equal({Labels: {a: '1', b: '2'}})
    const replaced = await json<{digest: string}>(['layout', 'update', 'config', '-p', dir, '--annotation', 'c=3', '--replace-annotations'])
    expect(JSON.parse(readFileSync(blobFile(dir, replaced.digest), 'utf8')).config).to.deep.equal({Labels: {c: '3'}})
  })

  it('annotate manifest makes a new manifest under the same ref.name; annotate layer reaches the next manifest', async () => {
    const {dir, manifest: first} = await built('annotate')
    const annotated = await json<{annotations: Record<string, string>; digest: string; ref_name: string}>(['layout', 'annotate', 'manifest', '-p', dir, '--annotation', 'org.opencontainers.image.version=2'])
    expect(annotated.digest).not.to.equal(first)
    expect(annotated).to.deep.include({ref_name: 'latest'})
    expect(annotated.annotations).to.deep.equal({'org.opencontainers.image.version': '2', 'org.opencontainers.image.ref.name': 'latest'})
    expect(indexOf(dir).manifests.map((entry) => entry.digest)).to.deep.equal([annotated.digest])
    expect(existsSync(blobFile(dir, first))).to.equal(false)
    const layer = await json(['layout', 'annotate', 'layer', '-p', dir, '-i', '0', '--annotation', 'role=only'])
    expect(layer).to.deep.include({index: 0, annotations: {role: 'only'}})
    await ok(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'latest'])
    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', `oci:${dir}:latest`])).stdout)
    expect(raw.layers[0].annotations).to.deep.equal({role: 'only'})
    await ok(['layout', 'validate', '-p', dir])
  })
})

describe('layout: regshape reads layouts skopeo wrote from the real registry', function () {
  this.timeout(180_000)
  let work: string
  let images: Awaited<ReturnType<typeof seedImages>>

  before(async () => {
    const registry = await openRegistry()
    images = await seedImages(registry, 'layout/source', {bigLayerBytes: 300_000})
    work = mkdtempSync(join(tmpdir(), 'regshape-layout-skopeo-'))
    for (const tag of ['oci', 'multi']) {
      // --preserve-digests: the fixture's layers are random bytes, which skopeo would otherwise compress.
      const result = await run('skopeo', ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${registry.host}/layout/source:${tag}`, `oci:${join(work, 'from-skopeo')}:${tag}`])
      expect(result.code, result.stderr).to.equal(0)
    }
  })

  after(() => rmSync(work, {force: true, recursive: true}))

  it('layout show prints its index.json; validate follows the index and both platforms', async () => {
    const dir = join(work, 'from-skopeo')
    const show = await ok(['layout', 'show', '-p', dir])
    expect(JSON.parse(show.stdout)).to.deep.equal(indexOf(dir))
    const byName = Object.fromEntries(indexOf(dir).manifests.map((entry) => [entry.annotations?.['org.opencontainers.image.ref.name'], entry.digest]))
    expect(byName).to.deep.equal({multi: images.index.digest, oci: images.oci.digest})
    const report = await json<{manifests: number; valid: boolean}>(['layout', 'validate', '-p', dir])
    // oci, the index, and its two platform manifests.
    expect(report).to.deep.include({valid: true})
    expect(report.manifests).to.equal(2 + images.index.platforms.length)
  })

  it('layout status says there is no staging file and lists index.json, exit 0', async () => {
    const dir = join(work, 'from-skopeo')
    const status = await ok(['layout', 'status', '-p', dir])
    expect(status.stdout).to.include("No staging file (.regshape-stage.json): this layout was not built with 'layout init'.")
    expect(status.stdout).to.include(`${images.index.digest} (${images.index.size} bytes, application/vnd.oci.image.index.v1+json) multi`)
    expect(await json(['layout', 'status', '-p', dir])).to.deep.equal({staged: false, layers: [], config: null, manifest: null})
  })

  it('a missing blob and a blob whose bytes do not match fail validate with exit 1, naming the blob and what references it', async () => {
    const dir = join(work, 'broken')
    cpSync(join(work, 'from-skopeo'), dir, {recursive: true})
    const layer = images.bigLayer.digest
    const bytes = readFileSync(blobFile(dir, layer))
    bytes[1000] ^= 0xff
    writeFileSync(blobFile(dir, layer), bytes)
    expectOneError(await runCli(['layout', 'validate', '-p', dir]), new RegExp(`^Error: digest mismatch for ${layer}: expected ${layer}, got sha256:[0-9a-f]{64}\\n$`))
    const asJson = await runCli(['layout', 'validate', '-p', dir, '--json'])
    expect(asJson.code).to.equal(1)
    expect(JSON.parse(asJson.stdout)).to.deep.include({status: 'error'})
    expect(JSON.parse(asJson.stdout).error).to.include(`digest mismatch for ${layer}`)

    unlinkSync(blobFile(dir, layer))
    expectOneError(await runCli(['layout', 'validate', '-p', dir]), new RegExp(`^Error: blob ${layer} referenced by ${images.oci.digest} does not exist\\n$`))
  })
})

describe('layout: bad input', function () {
  this.timeout(120_000)
  let work: string
  let tar: string

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'regshape-layout-bad-'))
    tar = await makeTar(work, 'layer.tar', {'a.txt': 'a\n'})
  })

  after(() => rmSync(work, {force: true, recursive: true}))

  it('a directory without oci-layout: every command exits 1 with one Error line', async () => {
    const dir = join(work, 'plain')
    mkdirSync(dir)
    const commands = [
      ['layout', 'add', 'layer', '-p', dir, '-f', tar],
      ['layout', 'annotate', 'layer', '-p', dir, '-i', '0', '--annotation', 'a=b'],
      ['layout', 'annotate', 'manifest', '-p', dir, '--annotation', 'a=b'],
      ['layout', 'generate', 'config', '-p', dir],
      ['layout', 'generate', 'manifest', '-p', dir],
      ['layout', 'update', 'config', '-p', dir],
      ['layout', 'status', '-p', dir],
      ['layout', 'show', '-p', dir],
      ['layout', 'validate', '-p', dir],
    ]
    for (const args of commands) expectOneError(await runCli(args), new RegExp(`^Error: ${dir} is not an OCI Image Layout \\(missing oci-layout file\\)\\n$`))
    const asJson = await runCli(['layout', 'show', '-p', dir, '--json'])
    expect(asJson.code).to.equal(1)
    expect(JSON.parse(asJson.stdout)).to.deep.equal({status: 'error', error: `${dir} is not an OCI Image Layout (missing oci-layout file)`})
  })

  it('usage errors exit 2: no --path, an annotation without =, a bad --ref-name, an unknown --compress-format', async () => {
    const dir = join(work, 'usage')
    await ok(['layout', 'init', '-p', dir])
    expectOneError(await runCli(['layout', 'show']), /Missing required flag path/, 2)
    expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', tar, '--annotation', 'novalue']), /invalid --annotation "novalue": expected key=value/, 2)
    expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', tar, '--compress-format', 'xz']), /to be one of: gzip, zstd/, 2)
    expectOneError(await runCli(['layout', 'annotate', 'layer', '-p', dir, '--annotation', 'a=b']), /Missing required flag index/, 2)
    await ok(['layout', 'add', 'layer', '-p', dir, '-f', tar])
    await ok(['layout', 'generate', 'config', '-p', dir])
    expectOneError(await runCli(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', 'has space']), /invalid --ref-name/, 2)
  })

  it('failures of the workflow exit 1 with upstream\'s messages', async () => {
    const dir = join(work, 'steps')
    await ok(['layout', 'init', '-p', dir])
    expectOneError(await runCli(['layout', 'init', '-p', dir]), new RegExp(`^Error: ${dir} is already an OCI Image Layout\\n$`))
    expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', join(work, 'nope.tar')]), new RegExp(`^Error: File not found: ${work}/nope.tar\\n$`))
    writeFileSync(join(work, 'notes.txt'), 'not a tar\n')
    expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', join(work, 'notes.txt')]), /cannot infer media type for .*notes\.txt.*; use --media-type/)
    expectOneError(await runCli(['layout', 'generate', 'config', '-p', dir]), /^Error: no layers have been staged; run 'layout add layer' first\n$/)
    expectOneError(await runCli(['layout', 'update', 'config', '-p', dir, '--os', 'linux']), /^Error: config not generated; run 'layout generate config' first\n$/)
    await ok(['layout', 'add', 'layer', '-p', dir, '-f', tar])
    expectOneError(await runCli(['layout', 'generate', 'manifest', '-p', dir]), /^Error: config not generated; run 'layout generate config' first\n$/)
    expectOneError(await runCli(['layout', 'annotate', 'manifest', '-p', dir, '--annotation', 'a=b']), /^Error: manifest not generated; run 'layout generate manifest' first\n$/)
    expectOneError(await runCli(['layout', 'annotate', 'layer', '-p', dir, '-i', '3', '--annotation', 'a=b']), /^Error: layer index 3 out of range \(staged layers: 1\)\n$/)
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": {}}')
    expectOneError(await runCli(['layout', 'show', '-p', dir]), new RegExp(`^Error: index.json at ${dir} is not a valid OCI Image Index`))
  })

  it('Ctrl-C while a layer is written: exit 130, the temporary blob removed, nothing staged', async () => {
    const dir = join(work, 'interrupted')
    await ok(['layout', 'init', '-p', dir])
    // 2 GiB of a sparse file: cheap to read, seconds to gzip, so the write is caught midway.
    const big = join(work, 'big.tar')
    writeFileSync(big, '')
    truncateSync(big, 2 * 1024 ** 3)
    const child = spawn(process.execPath, [RUN_JS, 'layout', 'add', 'layer', '-p', dir, '-f', big, '--media-type', 'application/vnd.oci.image.layer.v1.tar+gzip'], {
      env: {HOME: tempHome(), PATH: process.env.PATH},
      stdio: 'ignore',
    })
    const exited = new Promise<{code: null | number; signal: NodeJS.Signals | null}>((resolvePromise) => child.on('exit', (code, signal) => resolvePromise({code, signal})))
    const blobs = join(dir, 'blobs', 'sha256')
    for (let waited = 0; !readdirSync(blobs).some((name) => name.endsWith('.tmp')); waited += 20) {
      if (waited > 20_000) expect.fail('no temporary blob appeared')
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 20))
    }

    child.kill('SIGINT')
    const {code, signal} = await exited
    rmSync(big)
    // Re-raised SIGINT: the shell reports 130.
    expect(signal ?? code).to.be.oneOf(['SIGINT', 130])
    expect(readdirSync(blobs)).to.deep.equal([])
    expect(stageOf(dir).layers).to.deep.equal([])
    expect(existsSync(join(dir, 'index.json.lock'))).to.equal(false)
  })

  it('a layer that is not a regular file (a FIFO) is refused before anything is read', async () => {
    const dir = join(work, 'fifo')
    await ok(['layout', 'init', '-p', dir])
    const fifo = join(work, 'layer.fifo')
    expect((await run('mkfifo', [fifo])).code).to.equal(0)
    expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', fifo]), /layer\.fifo is not a regular file/)
  })

  it('index.json, oci-layout or the staging file as a FIFO or a link to /dev/zero: one Error line at once, never a hang or a read without end', async () => {
    const escape = (text: string) => text.replaceAll(/[.?*+^$()[\]{}|\\]/g, '\\$&')
    const files = {
      'oci-layout': (dir: string, kind: string) => `${dir} is not an OCI Image Layout (oci-layout is ${kind}, not a regular file)`,
      'index.json': (dir: string, kind: string) => `index.json at ${dir} is not a valid OCI Image Index: it is ${kind}, not a regular file`,
      '.regshape-stage.json': (dir: string, kind: string) => `the staging file ${dir}/.regshape-stage.json is not usable: it is ${kind}, not a regular file`,
    }
    for (const [file, message] of Object.entries(files)) {
      for (const kind of ['a FIFO', 'a character device'] as const) {
        const dir = join(work, `special-${file}-${kind.replaceAll(' ', '-')}`)
        await ok(['layout', 'init', '-p', dir])
        rmSync(join(dir, file))
        if (kind === 'a FIFO') expect((await run('mkfifo', [join(dir, file)])).code).to.equal(0)
        else symlinkSync('/dev/zero', join(dir, file))
        const commands =
          file === '.regshape-stage.json'
            ? [
                ['layout', 'status', '-p', dir],
                ['layout', 'generate', 'config', '-p', dir],
              ]
            : [
                ['layout', 'show', '-p', dir],
                ['layout', 'push', '-p', dir, '-d', '127.0.0.1:9/x/y', '--dry-run'],
                ['copy', `oci:${dir}`, `oci:${join(work, 'never')}`],
              ]
        // Without a writer, reading a FIFO waits forever: the CLI must answer well within the timeout.
        for (const args of commands) expectOneError(await runCli(args, {timeoutMs: 15_000}), new RegExp(`^Error: ${escape(message(dir, kind))}\\n$`))
      }
    }
  })

  it('a truncated gzip layer, whose fault shows only at its end, leaves no blob behind either', async () => {
    // The stored bytes are written out before gunzip reaches the missing end: the blob must not be
    // committed until the decompressed side has hashed without error.
    const broken = join(work, 'truncated.tar.gz')
    const whole = gzipSync(randomBytes(256 * 1024))
    writeFileSync(broken, whole.subarray(0, whole.length - 16))
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = join(work, `truncated-${attempt}`)
      await ok(['layout', 'init', '-p', dir])
      expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', broken]), /truncated\.tar\.gz/)
      expect(readdirSync(join(dir, 'blobs', 'sha256'))).to.deep.equal([])
      expect(stageOf(dir).layers).to.deep.equal([])
    }
  })

  it('a gzip file that is not valid gzip is refused, and leaves no blob behind', async () => {
    const dir = join(work, 'badgzip')
    await ok(['layout', 'init', '-p', dir])
    const broken = join(work, 'broken.tar.gz')
    writeFileSync(broken, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(64, 0x41)]))
    expectOneError(await runCli(['layout', 'add', 'layer', '-p', dir, '-f', broken]), /broken\.tar\.gz/)
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).to.deep.equal([])
    expect(stageOf(dir).layers).to.deep.equal([])
  })
})

describe('layout: two processes writing one layout', function () {
  this.timeout(120_000)

  it('parallel generate manifest runs under different ref.names all land in index.json, and parallel add layer runs all land in the stage', async () => {
    const work = mkdtempSync(join(tmpdir(), 'regshape-layout-race-'))
    try {
      const dir = join(work, 'img')
      await ok(['layout', 'init', '-p', dir])
      const tars: string[] = []
      for (let i = 0; i < 6; i++) tars.push(await makeTar(work, `l${i}.tar`, {[`f${i}.txt`]: `layer ${i}\n`}))
      await Promise.all(tars.map((file) => ok(['layout', 'add', 'layer', '-p', dir, '-f', file])))
      expect(stageOf(dir).layers).to.have.length(6)
      await ok(['layout', 'generate', 'config', '-p', dir])
      const names = ['a', 'b', 'c', 'd', 'e', 'f']
      await Promise.all(names.map((name) => ok(['layout', 'generate', 'manifest', '-p', dir, '--ref-name', name, '--annotation', `name=${name}`])))
      expect(indexOf(dir).manifests.map((entry) => entry.annotations?.['org.opencontainers.image.ref.name']).sort()).to.deep.equal(names)
      await ok(['layout', 'validate', '-p', dir])
      expect(existsSync(join(dir, 'index.json.lock'))).to.equal(false)
    } finally {
      rmSync(work, {force: true, recursive: true})
    }
  })
  it('copies by several processes at once into one new oci: directory all succeed: one creates the layout, the others wait for its lock and open it', async () => {
    const work = mkdtempSync(join(tmpdir(), 'regshape-layout-create-race-'))
    try {
      const source = join(work, 'src')
      await ok(['layout', 'init', '-p', source])
      await ok(['layout', 'add', 'layer', '-p', source, '-f', await makeTar(work, 'l.tar', {'f.txt': 'one layer\n'})])
      await ok(['layout', 'generate', 'config', '-p', source])
      await ok(['layout', 'generate', 'manifest', '-p', source, '--ref-name', 'v1'])
      const tags = ['a', 'b', 'c', 'd']
      // Several rounds, each into a directory that does not exist yet, one into an empty one.
      for (let round = 0; round < 4; round++) {
        const target = join(work, `new-${round}`)
        if (round === 3) mkdirSync(target)
        const results = await Promise.all(tags.map((tag) => runCli(['copy', `oci:${source}:v1`, `oci:${target}:${tag}`])))
        for (const result of results) {
          expect(result.code, `round ${round}: ${result.stderr}`).to.equal(0)
          expectNoStackTrace(result)
        }

        expect(indexOf(target).manifests.map((entry) => entry.annotations?.['org.opencontainers.image.ref.name']).sort(), `round ${round}`).to.deep.equal(tags)
        expect(JSON.parse(readFileSync(join(target, 'oci-layout'), 'utf8'))).to.deep.equal({imageLayoutVersion: '1.0.0'})
        expect(existsSync(join(target, 'index.json.lock'))).to.equal(false)
      }

      // A directory that holds something else is still refused, and left as it was.
      const other = join(work, 'other')
      mkdirSync(other)
      writeFileSync(join(other, 'notes.txt'), 'mine\n')
      expectOneError(await runCli(['copy', `oci:${source}:v1`, `oci:${other}`]), new RegExp(`^Error: ${other} is not an OCI Image Layout \\(missing oci-layout file\\)\\n$`))
      expect(readdirSync(other)).to.deep.equal(['notes.txt'])
    } finally {
      rmSync(work, {force: true, recursive: true})
    }
  })
})

describe('layout: prompts on a terminal, defaults elsewhere', function () {
  this.timeout(120_000)

  it('on a terminal, add layer offers the inferred media type and generate config/manifest ask for what is not given', async () => {
    const work = mkdtempSync(join(tmpdir(), 'regshape-layout-pty-'))
    try {
      const dir = join(work, 'img')
      const tar = await makeTar(work, 'layer.tar', {'a.txt': 'a\n'})
      await ok(['layout', 'init', '-p', dir])
      const env = {HOME: tempHome()}
      const add = await runOnPty(['layout', 'add', 'layer', '-p', dir, '-f', tar], [
        {expect: 'Accept? [Y/n]:', send: 'n\r'},
        {expect: 'Enter media type:', send: 'application/vnd.example.layer+gzip\r'},
      ], env)
      expect(add.failure, add.transcript).to.equal(null)
      expect(add.code, add.transcript).to.equal(0)
      expect(add.transcript).to.include('application/vnd.oci.image.layer.v1.tar+gzip')
      expect(stageOf(dir).layers[0].media_type).to.equal('application/vnd.example.layer+gzip')

      const config = await runOnPty(['layout', 'generate', 'config', '-p', dir], [
        {expect: 'Architecture [amd64]:', send: 'riscv64\r'},
        {expect: 'OS [linux]:', send: '\r'},
        {expect: 'Config media type [application/vnd.oci.image.config.v1+json]:', send: '\r'},
      ], env)
      expect(config.code, config.transcript).to.equal(0)
      const staged = stageOf(dir).config
      expect(JSON.parse(readFileSync(blobFile(dir, staged.digest), 'utf8'))).to.deep.include({architecture: 'riscv64', os: 'linux'})
      expect(staged.media_type).to.equal('application/vnd.oci.image.config.v1+json')

      const manifest = await runOnPty(['layout', 'generate', 'manifest', '-p', dir], [
        {expect: 'Reference name (e.g. latest) [skip]:', send: 'edge\r'},
        {expect: 'Manifest media type [application/vnd.oci.image.manifest.v1+json]:', send: '\r'},
        {expect: 'Add manifest annotations? [y/N]:', send: 'y\r'},
        {expect: 'key=value (empty line to finish):', send: 'team=core\r'},
        {expect: 'key=value (empty line to finish):', send: '\r'},
      ], env)
      expect(manifest.code, manifest.transcript).to.equal(0)
      const entry = indexOf(dir).manifests[0]
      expect(entry.annotations).to.deep.equal({'org.opencontainers.image.ref.name': 'edge'})
      expect(JSON.parse(readFileSync(blobFile(dir, entry.digest), 'utf8')).annotations).to.deep.equal({team: 'core'})
    } finally {
      rmSync(work, {force: true, recursive: true})
    }
  })

  it('without a terminal nothing is asked: the inferred media type, amd64/linux and an untagged manifest', async () => {
    const work = mkdtempSync(join(tmpdir(), 'regshape-layout-notty-'))
    try {
      const dir = join(work, 'img')
      await ok(['layout', 'init', '-p', dir])
      await ok(['layout', 'add', 'layer', '-p', dir, '-f', await makeTar(work, 'layer.tar', {'a.txt': 'a\n'})])
      const config = await json<{digest: string}>(['layout', 'generate', 'config', '-p', dir])
      expect(JSON.parse(readFileSync(blobFile(dir, config.digest), 'utf8'))).to.deep.include({architecture: 'amd64', os: 'linux'})
      const first = await json<{digest: string; ref_name: null}>(['layout', 'generate', 'manifest', '-p', dir])
      expect(first.ref_name).to.equal(null)
      // Run again untagged (with other annotations): it replaces its own untagged entry.
      const second = await json<{digest: string}>(['layout', 'generate', 'manifest', '-p', dir, '--annotation', 'x=1'])
      expect(indexOf(dir).manifests.map((entry) => [entry.digest, entry.annotations])).to.deep.equal([[second.digest, undefined]])
      await ok(['layout', 'validate', '-p', dir])
    } finally {
      rmSync(work, {force: true, recursive: true})
    }
  })
})

describe('layout: a lock that stays busy', function () {
  this.timeout(120_000)
  const LOCK_HOLDER = fileURLToPath(new URL('../fixtures/lock-holder.ts', import.meta.url))

  it("a holder stopped (SIGSTOP) with the layout's lock: after 30 s without progress the wait ends, naming the holder and that limit, in config.json's words", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'regshape-busy-')), 'layout')
    mkdirSync(dir)
    const lockPath = join(dir, 'index.json.lock')
    // A real process holding the lock with regshape's own code, then stopped: no heartbeat.
    const holder = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, lockPath, '0'], {stdio: ['ignore', 'pipe', 'inherit']})
    const exited = new Promise<void>((resolvePromise) => holder.on('exit', () => resolvePromise()))
    try {
      await new Promise<void>((resolvePromise) => holder.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolvePromise()))
      holder.kill('SIGSTOP')
      const result = await runCli(['layout', 'init', '-p', dir], {timeoutMs: 90_000})
      const words = `the layout at ${dir} stayed locked: process ${holder.pid} has shown no sign of progress for 3\\d s \\(stopped\\?\\) \\(${lockPath}\\); try again, or end that process if it is stuck`
      expectOneError(result, new RegExp(`^Error: ${words}\\n$`))
      expect(readdirSync(dir)).to.deep.equal(['index.json.lock'])
    } finally {
      holder.kill('SIGCONT')
      holder.kill('SIGKILL')
      await exited
    }
  })
})
