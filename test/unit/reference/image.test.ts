import {readFileSync} from 'node:fs'

import {expect} from 'chai'

import {formatImageRef, parseDigest, parseImageRef} from '../../../src/reference/image.js'
import {InputError} from '../../../src/errors.js'

interface Vectors {
  invalid: Array<{error: string; input: string}>
  valid: Array<{digest?: string; input: string; registry: string; repository: string; tag?: string}>
}

const vectors = JSON.parse(readFileSync(new URL('vectors.json', import.meta.url), 'utf8')) as Vectors

describe('image references (src/reference/image.ts)', () => {
  describe('the distribution reference vectors that parse', () => {
    for (const vector of vectors.valid) {
      it(vector.input.length > 60 ? `${vector.input.slice(0, 60)}…` : vector.input, () => {
        const ref = parseImageRef(vector.input)
        expect(ref.registry.isDockerHub ? 'docker.io' : ref.registry.host).to.equal(vector.registry)
        expect(ref.repository).to.equal(vector.repository)
        expect(ref.tag).to.equal(vector.tag)
        expect(ref.digest).to.equal(vector.digest)
        expect(ref.input).to.equal(vector.input)
        // The full form parses back to the same reference.
        const again = parseImageRef(formatImageRef(ref))
        expect([again.registry.key, again.repository, again.tag, again.digest]).to.deep.equal([ref.registry.key, ref.repository, ref.tag, ref.digest])
      })
    }
  })

  describe('the vectors that do not, each naming the bad part', () => {
    for (const vector of vectors.invalid) {
      it(JSON.stringify(vector.input.length > 60 ? `${vector.input.slice(0, 60)}…` : vector.input), () => {
        let caught: unknown
        try {
          parseImageRef(vector.input)
        } catch (error) {
          caught = error
        }

        expect(caught).to.be.instanceOf(InputError)
        expect((caught as Error).message).to.include(vector.error)
        expect((caught as Error).message).not.to.include('\n')
      })
    }
  })

  it('Docker Hub references carry the Hub registry: endpoint and storage key', () => {
    const ref = parseImageRef('alpine:3.20')
    expect(ref.registry.endpoint).to.equal('registry-1.docker.io')
    expect(ref.registry.key).to.equal('https://index.docker.io/v1/')
    expect(formatImageRef(ref)).to.equal('docker.io/library/alpine:3.20')
  })

  it('never repeats what stands before an "@" that is not a digest (user:password@host)', () => {
    for (const input of ['alice:s3cr3t@example.com/repo', 'alice:s3@cr3t@example.com/repo', 'alice:s3cr3t@example.com/repo@sha256:x']) {
      expect(() => parseImageRef(input)).to.throw(InputError).that.satisfies((error: Error) => !error.message.includes('s3cr3t') && !error.message.includes('s3@cr'))
    }
  })

  it('replaces control characters when it quotes the input', () => {
    expect(() => parseImageRef('repo/\u001B[31mred')).to.throw(InputError).that.satisfies((error: Error) => !error.message.includes('\u001B'))
  })

  it('enforces digest rules when a command asks for them', () => {
    const pinned = `example.com/repo@sha256:${'a'.repeat(64)}`
    expect(parseImageRef(pinned, {requireDigest: true}).digest).to.equal(`sha256:${'a'.repeat(64)}`)
    expect(() => parseImageRef('example.com/repo:v1', {requireDigest: true})).to.throw(/digest is required/)
    expect(() => parseImageRef(pinned, {forbidDigest: true})).to.throw(/digest is not allowed/)
  })

  it('parses bare digests', () => {
    expect(parseDigest(`sha512:${'0'.repeat(128)}`)).to.deep.equal({algorithm: 'sha512', hex: '0'.repeat(128)})
    expect(() => parseDigest('md5:abc')).to.throw(/not supported/)
  })
})
