import {expect} from 'chai'

import {blobRefFrom, imageRefFrom, registryFrom} from '../../src/command/flags.js'
import {terminalSafeJson} from '../../src/util/text.js'
import {referrersTag} from '../../src/registry/repository.js'
import {ExitCode, UsageError} from '../../src/errors.js'

/** The pure parts under the read commands: reference builders, the tag schema's tag, JSON escaping. */

function usageError(run: () => unknown): UsageError {
  try {
    run()
  } catch (error) {
    expect(error).to.be.instanceOf(UsageError)
    expect((error as UsageError).exitCode).to.equal(ExitCode.Usage)
    return error as UsageError
  }

  throw new Error('expected a usage error')
}

describe('registry read commands: pure parts', () => {
  it('referrersTag is <alg>-<hex>, the hex cut to 64 characters (sha512 included)', () => {
    const sha256 = `sha256:${'a'.repeat(64)}`
    expect(referrersTag(sha256)).to.equal(`sha256-${'a'.repeat(64)}`)
    const tag = referrersTag(`sha512:${'b'.repeat(128)}`)
    expect(tag).to.equal(`sha512-${'b'.repeat(64)}`)
    expect(tag.length).to.be.at.most(128)
  })

  it('imageRefFrom takes one form, and a bad reference is a usage error naming the part', () => {
    expect(imageRefFrom('example.com/a/b:v1', undefined).tag).to.equal('v1')
    expect(imageRefFrom(undefined, 'example.com/a/b@sha256:' + '0'.repeat(64)).digest).to.match(/^sha256:/)
    expect(usageError(() => imageRefFrom('example.com/a', 'example.com/a')).message).to.include('not both')
    expect(usageError(() => imageRefFrom(undefined, undefined)).message).to.include('name the target')
    expect(usageError(() => imageRefFrom('example.com/A', undefined)).message).to.include('"A" must be lowercase')
    expect(usageError(() => imageRefFrom('example.com/a:v1', undefined, {requireDigest: true})).message).to.include('a digest is required')
  })

  it('blobRefFrom: positional host/repo@digest, or -r with -d, never mixed', () => {
    const digest = `sha256:${'c'.repeat(64)}`
    expect(blobRefFrom(`example.com/a@${digest}`, undefined, undefined, 'x')).to.include({digest, repository: 'a'})
    expect(blobRefFrom(undefined, 'example.com/a', digest, 'x')).to.include({digest, repository: 'a'})
    usageError(() => blobRefFrom(`example.com/a@${digest}`, 'example.com/a', undefined, 'x'))
    usageError(() => blobRefFrom(undefined, 'example.com/a', undefined, 'x'))
    usageError(() => blobRefFrom(undefined, `example.com/a@${digest}`, digest, 'x'))
    expect(usageError(() => blobRefFrom(undefined, 'example.com/a', 'sha256:12', 'x')).message).to.include('64 hex digits')
  })

  it('registryFrom refuses a bad host with exit 2', () => {
    expect(registryFrom('localhost:5000', undefined, 'x').host).to.equal('localhost:5000')
    usageError(() => registryFrom('bad host', undefined, 'x'))
  })

  it('terminalSafeJson escapes what a terminal obeys and still parses to the same value', () => {
    const text = JSON.stringify({a: 'x\u001b[2Jy\u009b\u202e'})
    const safe = terminalSafeJson(text)
    // eslint-disable-next-line no-control-regex -- the escape character is what must be gone
    expect(safe).not.to.match(/[\u001b\u009b\u202e]/)
    expect(JSON.parse(safe)).to.deep.equal(JSON.parse(text))
  })
})
