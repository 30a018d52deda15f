import {createHash} from 'node:crypto'
import {Readable, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {expect} from 'chai'
import fc from 'fast-check'

import {DigestMismatchError, DigestVerifier, Digester, digestOf} from '../../../src/content/digest.js'
import {nestsDeeperThan, reindentJson} from '../../../src/content/json-text.js'
import {ManifestError, parseDescriptor, parsePlatform} from '../../../src/content/descriptor.js'
import {parseManifest, selectPlatform} from '../../../src/content/manifest.js'
import {MediaType} from '../../../src/content/media-types.js'
import {check} from '../../property/settings.js'

/** n bytes in chunks, never all at once. */
function chunks(total: number, chunkSize = 64 * 1024): Readable {
  let sent = 0
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null)
        return
      }

      const size = Math.min(chunkSize, total - sent)
      this.push(Buffer.alloc(size, sent % 251))
      sent += size
    },
  })
}

function sha256Of(total: number, chunkSize = 64 * 1024): string {
  const hash = createHash('sha256')
  for (let sent = 0; sent < total; sent += chunkSize) hash.update(Buffer.alloc(Math.min(chunkSize, total - sent), sent % 251))
  return `sha256:${hash.digest('hex')}`
}

const sink = () =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback()
    },
  })

describe('content: digests, manifests, JSON text', () => {
  describe('DigestVerifier', () => {
    it('passes bytes through and ends cleanly when they hash to the digest and size', async () => {
      const expected = sha256Of(5 * 1024 * 1024 + 7)
      const verifier = new DigestVerifier(expected, 5 * 1024 * 1024 + 7)
      await pipeline(chunks(5 * 1024 * 1024 + 7), verifier, sink())
      expect(verifier.digest).to.equal(expected)
      expect(verifier.size).to.equal(5 * 1024 * 1024 + 7)
    })

    it('fails the stream on a digest mismatch, naming both digests', async () => {
      const wrong = `sha256:${'0'.repeat(64)}`
      const failure = await pipeline(chunks(1000), new DigestVerifier(wrong), sink()).catch((error: unknown) => error)
      expect(failure).to.be.instanceOf(DigestMismatchError)
      expect((failure as DigestMismatchError).message).to.include(wrong).and.to.include(sha256Of(1000))
    })

    it('stops as soon as more bytes come than the descriptor says, and notices fewer', async () => {
      const expected = sha256Of(1000)
      let written = 0
      const counting = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          written += chunk.length
          callback()
        },
      })
      const over = await pipeline(chunks(10 * 1024 * 1024, 1024), new DigestVerifier(expected, 1000), counting).catch((error: unknown) => error)
      expect(over).to.be.instanceOf(DigestMismatchError)
      expect(written).to.be.at.most(1000)
      const under = await pipeline(chunks(999), new DigestVerifier(expected, 1000), sink()).catch((error: unknown) => error)
      expect((under as Error).message).to.include('999 bytes instead of the expected 1000')
    })

    it('supports sha512 and refuses unknown algorithms', async () => {
      const bytes = Buffer.from('regshape')
      const expected = digestOf(bytes, 'sha512')
      expect(expected).to.match(/^sha512:[0-9a-f]{128}$/)
      await pipeline(Readable.from([bytes]), new DigestVerifier(expected), sink())
      expect(() => new DigestVerifier('md5:abc')).to.throw(/not supported/)
    })

    it('Digester learns the digest of what went through', async () => {
      const digester = new Digester()
      await pipeline(chunks(300_000), digester, sink())
      expect(digester.digest).to.equal(sha256Of(300_000))
      expect(digester.size).to.equal(300_000)
    })
  })

  describe('reindentJson', () => {
    it('keeps keys in the order received, integer-like keys and duplicates included, and numbers as spelt', () => {
      const text = '{"b":1,"1":2.50,"a":{"x":[],"y":{}},"b":1e3,"s":"q\\"u{o}te,:"}'
      expect(reindentJson(text)).to.equal(
        ['{', '  "b": 1,', '  "1": 2.50,', '  "a": {', '    "x": [],', '    "y": {}', '  },', '  "b": 1e3,', '  "s": "q\\"u{o}te,:"', '}'].join('\n'),
      )
    })

    it('gives JSON.stringify(…, 2) for JSON that JSON.parse reads without loss (property)', () => {
      const safeKey = fc.string().filter((key) => !/^\d+$/.test(key) && key !== '__proto__')
      const value = fc.letrec((tie) => ({
        node: fc.oneof({depthSize: 'small'}, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('node')), fc.dictionary(safeKey, tie('node'))),
      })).node
      return check(
        fc.property(value, (input) => {
          const compact = JSON.stringify(input)
          expect(reindentJson(compact)).to.equal(JSON.stringify(input, null, 2))
          expect(reindentJson(JSON.stringify(input, null, '\t'))).to.equal(JSON.stringify(input, null, 2))
        }),
      )
    })
  })

  describe('parseManifest', () => {
    const digest = (char: string) => `sha256:${char.repeat(64)}`
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: {mediaType: MediaType.OciConfig, digest: digest('a'), size: 10},
      layers: [{mediaType: MediaType.OciLayerGzip, digest: digest('b'), size: 20}],
      subject: {mediaType: MediaType.OciManifest, digest: digest('c'), size: 30},
      annotations: {'org.example': 'x'},
      'x-unknown': {kept: true},
    }

    it('reads an image manifest and keeps its bytes and unknown fields', () => {
      const bytes = Buffer.from(JSON.stringify(manifest))
      const parsed = parseManifest(bytes, 'application/json')
      expect(parsed.kind).to.equal('manifest')
      if (parsed.kind !== 'manifest') return
      expect(parsed.bytes).to.equal(bytes)
      expect(parsed.config.digest).to.equal(digest('a'))
      expect(parsed.layers.map((layer) => layer.size)).to.deep.equal([20])
      expect(parsed.subject?.digest).to.equal(digest('c'))
      expect(parsed.json['x-unknown']).to.deep.equal({kept: true})
    })

    it('types a manifest without mediaType by its Content-Type, then by its shape', () => {
      const {mediaType: _omitted, ...bare} = manifest
      const bytes = Buffer.from(JSON.stringify(bare))
      expect(parseManifest(bytes, `${MediaType.DockerManifest}; charset=utf-8`).mediaType).to.equal(MediaType.DockerManifest)
      expect(parseManifest(bytes).mediaType).to.equal(MediaType.OciManifest)
      expect(parseManifest(Buffer.from('{"schemaVersion":2,"manifests":[]}')).kind).to.equal('index')
    })

    it('refuses a body whose mediaType contradicts the Content-Type in kind (CVE-2021-41190)', () => {
      expect(() => parseManifest(Buffer.from(JSON.stringify(manifest)), MediaType.OciIndex)).to.throw(ManifestError, /contradicts/)
    })

    it('refuses what is not a manifest, naming the field', () => {
      expect(() => parseManifest(Buffer.from('nope'))).to.throw(ManifestError, /not valid JSON/)
      expect(() => parseManifest(Buffer.from('[]'))).to.throw(/not a JSON object/)
      expect(() => parseManifest(Buffer.from(JSON.stringify({...manifest, layers: [{mediaType: 'x', digest: 'sha256:zz', size: 1}]})))).to.throw(/layers\[0\] has an invalid digest/)
      expect(() => parseManifest(Buffer.from(JSON.stringify({...manifest, config: {mediaType: 'x', digest: digest('a'), size: -1}})))).to.throw(/config has an invalid size/)
      expect(() => parseManifest(Buffer.from('{"schemaVersion":2}'))).to.throw(/neither its Content-Type nor its fields/)
    })

    it('refuses a manifest nested deeper than 32 levels; brackets inside strings do not count', () => {
      const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`
      const withX = (x: string) => Buffer.from(JSON.stringify(manifest).replace(/}$/, `,"x":${x}}`))
      expect(parseManifest(withX(nested(31))).kind).to.equal('manifest')
      expect(() => parseManifest(withX(nested(32)))).to.throw(ManifestError, /^the manifest is nested more than 32 levels deep; refused$/)
      expect(parseManifest(withX(JSON.stringify('['.repeat(1000)))).kind).to.equal('manifest')
      expect(nestsDeeperThan('{"a":"\\"[[[[","b":[[]]}', 3)).to.equal(false)
      expect(nestsDeeperThan('{"a":[[[]]]}', 3)).to.equal(true)
    })

    it('refuses descriptors whose digest or media type could not go into a request as they are', () => {
      const layer = {mediaType: MediaType.OciLayerGzip, digest: digest('a'), size: 1}
      const withLayer = (entry: object) => Buffer.from(JSON.stringify({...manifest, layers: [entry]}))
      expect(() => parseManifest(withLayer({...layer, digest: 'sha256:../../../../elsewhere/manifests/v1'}))).to.throw(
        ManifestError,
        /^layers\[0\] has an invalid digest "sha256:\.\.\/\.\.\/\.\.\/\.\.\/elsewhere\/manifests\/v1": the sha256 digest must be lowercase hex$/,
      )
      expect(() => parseManifest(withLayer({...layer, mediaType: 'application/json\r\nx-injected: 1'}))).to.throw(ManifestError, /^layers\[0\] has an invalid mediaType "application\/json\\r\\nx-injected: 1"/)
      expect(() => parseManifest(withLayer({...layer, mediaType: 'not a media type'}))).to.throw(/invalid mediaType/)
      expect(parseDescriptor({...layer, mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'}, 'x').mediaType).to.equal('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')
    })

    it('selects an index entry by platform, and lists the platforms when none matches', () => {
      const index = parseManifest(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaType.OciIndex,
            manifests: [
              {mediaType: MediaType.OciManifest, digest: digest('1'), size: 1, platform: {os: 'linux', architecture: 'amd64'}},
              {mediaType: MediaType.OciManifest, digest: digest('2'), size: 1, platform: {os: 'linux', architecture: 'arm64', variant: 'v8'}},
            ],
          }),
        ),
      )
      if (index.kind !== 'index') throw new Error('expected an index')
      expect(selectPlatform(index, parsePlatform('linux/amd64')).digest).to.equal(digest('1'))
      expect(selectPlatform(index, parsePlatform('linux/arm64')).digest).to.equal(digest('2'))
      expect(selectPlatform(index, parsePlatform('linux/arm64/v8')).digest).to.equal(digest('2'))
      expect(() => selectPlatform(index, parsePlatform('linux/s390x'))).to.throw('no manifest for platform linux/s390x in the index; it has linux/amd64, linux/arm64/v8')
      expect(() => parsePlatform('linux')).to.throw(/expected os\/arch/)
    })
  })
})
