import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {LayoutError} from '../../../src/layout/errors.js'
import {OciLayout} from '../../../src/layout/store.js'
import {formatLayoutRef, parseLayoutRef} from '../../../src/reference/layout.js'
import {InputError} from '../../../src/errors.js'

/** The layout store (src/layout/store.ts) on a real directory, and the oci:PATH[:TAG] parser. */

const sha = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
const sink = () =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback()
    },
  })

/** A stream of `count` chunks of `size` bytes, never all in memory: what a blob copy hands putBlob. */
function chunks(count: number, size: number, fill = 0x61): Readable {
  let sent = 0
  return new Readable({
    read() {
      this.push(sent++ < count ? Buffer.alloc(size, fill) : null)
    },
  })
}

describe('layout references (src/reference/layout.ts)', () => {
  const digest = `sha256:${'a'.repeat(64)}`
  for (const [input, expected] of [
    ['oci:./dir', {path: './dir'}],
    ['oci:/abs/dir:v1.2', {path: '/abs/dir', tag: 'v1.2'}],
    [`oci:dir@${digest}`, {digest, path: 'dir'}],
    ['oci:dir:latest', {path: 'dir', tag: 'latest'}],
  ] as const) {
    it(`parses ${input}`, () => {
      const ref = parseLayoutRef(input)
      expect({digest: ref.digest, path: ref.path, tag: ref.tag}).to.deep.equal({digest: undefined, tag: undefined, ...expected})
      expect(formatLayoutRef(ref)).to.equal(input)
    })
  }

  for (const [input, why] of [
    ['dir:tag', /must start with oci:/],
    ['oci:', /the path is empty/],
    ['oci::tag', /the path is empty/],
    ['oci:dir:-bad', /the tag must be/],
    ['oci:dir:a/b', /the tag must be/],
    ['oci:dir@sha256:xyz', /after '@' comes a digest/],
  ] as const) {
    it(`refuses ${input}, saying why`, () => {
      expect(() => parseLayoutRef(input))
        .to.throw(InputError)
        .with.property('message')
        .that.matches(why)
    })
  }
})

describe('the OCI layout store (src/layout/store.ts)', () => {
  let work: string
  let layout: OciLayout

  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'regshape-store-'))
    layout = await OciLayout.init(join(work, 'layout'))
  })

  afterEach(() => rmSync(work, {force: true, recursive: true}))

  it('init writes the marker and an empty index; open refuses a directory without the marker', async () => {
    expect(JSON.parse(readFileSync(layout.file('oci-layout'), 'utf8'))).to.deep.equal({imageLayoutVersion: '1.0.0'})
    expect(await layout.readIndex()).to.deep.equal({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: []})
    let failure: unknown
    await OciLayout.open(work).catch((error: unknown) => {
      failure = error
    })
    expect(failure).to.be.instanceOf(LayoutError)
    expect((failure as Error).message).to.equal(`${work} is not an OCI Image Layout (missing oci-layout file)`)
    writeFileSync(join(work, 'oci-layout'), '{"imageLayoutVersion": "2.0.0"}')
    await OciLayout.open(work).then(
      () => expect.fail('a version 2 marker was accepted'),
      (error: Error) => expect(error.message).to.match(/not 1\.x/),
    )
  })

  it('putBlob streams 32 MiB in 64 KiB chunks to blobs/sha256/<hex>, hashing on the way', async () => {
    const {digest, size} = await layout.putBlob(chunks(512, 64 * 1024))
    const expected = createHash('sha256')
    for (let i = 0; i < 512; i++) expected.update(Buffer.alloc(64 * 1024, 0x61))
    expect(digest).to.equal(`sha256:${expected.digest('hex')}`)
    expect(size).to.equal(32 * 1024 * 1024)
    expect(readdirSync(join(layout.directory, 'blobs', 'sha256'))).to.deep.equal([digest.slice(7)])
  })

  it('putBlob with an expected digest refuses other bytes and leaves nothing in blobs/', async () => {
    const wanted = sha('the right bytes')
    let failure: unknown
    await layout.putBlob(Readable.from([Buffer.from('the wrong bytes')]), {digest: wanted}).catch((error: unknown) => {
      failure = error
    })
    expect(failure).to.be.instanceOf(LayoutError)
    expect((failure as Error).message).to.include(`blob ${wanted}: digest mismatch`)
    expect(readdirSync(join(layout.directory, 'blobs', 'sha256'))).to.deep.equal([])
    expect(await layout.hasBlob(wanted)).to.equal(false)
  })

  it('getBlob fails the stream, naming the digest, when the file does not hold the bytes its name promises', async () => {
    const {digest} = await layout.putBytes(Buffer.from('original content'))
    writeFileSync(layout.blobPath(digest), 'tampered content')
    const {body} = await layout.getBlob(digest)
    let failure: unknown
    await pipeline(body, sink()).catch((error: unknown) => {
      failure = error
    })
    expect((failure as Error)?.message).to.include(`expected ${digest}`)
    await layout.getBlob(sha('absent')).then(
      () => expect.fail('a missing blob was opened'),
      (error: Error) => expect(error.message).to.equal(`blob ${sha('absent')} does not exist in the layout at ${layout.path}`),
    )
  })

  it('putManifest with a tag names it in index.json, replacing the entry of that name; getManifest and tags read it back', async () => {
    const config = await layout.putBytes(Buffer.from('{}'))
    const manifest = (annotation: string) =>
      Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {mediaType: 'application/vnd.oci.empty.v1+json', ...config}, layers: [], annotations: {a: annotation}}))
    const mediaType = 'application/vnd.oci.image.manifest.v1+json'
    const first = await layout.putManifest(manifest('1'), {mediaType, tag: 'v1'})
    await layout.putManifest(manifest('2'), {mediaType, tag: 'v2'})
    const replaced = await layout.putManifest(manifest('3'), {mediaType, tag: 'v1'})
    // Without a tag: a blob only, as an index's children are.
    const child = await layout.putManifest(manifest('4'), {mediaType})
    // v1 replaced in place: index.json keeps its order.
    expect((await layout.tags()).tags).to.deep.equal(['v1', 'v2'])
    expect((await layout.readIndex()).manifests.map((entry) => entry.digest)).not.to.include(first.digest)
    expect((await layout.readIndex()).manifests.map((entry) => entry.digest)).not.to.include(child.digest)
    const fetched = await layout.getManifest('v1')
    expect(fetched).to.deep.include({digest: replaced.digest, contentType: mediaType})
    expect(fetched.bytes).to.deep.equal(manifest('3'))
    expect((await layout.getManifest(child.digest)).bytes).to.deep.equal(manifest('4'))
    expect(await layout.headManifest('v2')).to.deep.equal({digest: sha(manifest('2')), mediaType, size: manifest('2').length})
    await layout.getManifest('v9').then(
      () => expect.fail('an unknown tag resolved'),
      (error: Error) => expect(error.message).to.match(/no manifest named v9/),
    )
    // tag names a manifest already stored (copy's last step); a manifest not there cannot be tagged.
    await layout.setTag('child', child)
    expect((await layout.getManifest('child')).digest).to.equal(child.digest)
    await layout.setTag('ghost', {...child, digest: sha('ghost')}).then(
      () => expect.fail('a missing manifest was tagged'),
      (error: Error) => expect(error.message).to.match(/^blob sha256:\w+ does not exist in the layout/),
    )
    expect((await layout.tags()).tags).to.deep.equal(['v1', 'v2', 'child'])
    // The unreferenced replaced manifest can go; the tagged ones and their config stay.
    expect(await layout.removeUnreferenced([first.digest, replaced.digest, config.digest])).to.deep.equal([first.digest])
  })

  it('referrers are the index.json entries whose manifest names the digest as its subject', async () => {
    const empty = await layout.putBytes(Buffer.from('{}'))
    const mediaType = 'application/vnd.oci.image.manifest.v1+json'
    const subject = await layout.putManifest(Buffer.from(JSON.stringify({schemaVersion: 2, mediaType, config: {mediaType: 'application/vnd.oci.empty.v1+json', ...empty}, layers: []})), {mediaType, tag: 'app'})
    const signature = Buffer.from(
      JSON.stringify({schemaVersion: 2, mediaType, artifactType: 'application/example.sig', config: {mediaType: 'application/vnd.oci.empty.v1+json', ...empty}, layers: [], subject}),
    )
    const stored = await layout.putManifest(signature, {mediaType, tag: 'sig'})
    const {index} = await layout.referrers(subject.digest)
    expect(index.manifests).to.deep.equal([{mediaType, digest: stored.digest, size: stored.size, artifactType: 'application/example.sig'}])
    expect((await layout.referrers(subject.digest, {artifactType: 'application/other'})).index.manifests).to.deep.equal([])
  })
})
