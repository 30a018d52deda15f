import {expect} from 'chai'

import {apiError, parseOciErrors} from '../../../src/registry/api-error.js'
import {PageWalker, nextLink} from '../../../src/registry/pagination.js'
import {urls} from '../../../src/registry/urls.js'
import {ProtocolError} from '../../../src/errors.js'

describe('registry API parts (src/registry)', () => {
  it('builds every path in one place, encoding query values', () => {
    const digest = `sha256:${'a'.repeat(64)}`
    expect(urls.ping()).to.equal('/v2/')
    expect(urls.tags('team/app', {last: 'v1+b', n: 10})).to.equal('/v2/team/app/tags/list?n=10&last=v1%2Bb')
    expect(urls.catalog()).to.equal('/v2/_catalog')
    expect(urls.manifest('team/app', 'v1')).to.equal('/v2/team/app/manifests/v1')
    expect(urls.blob('team/app', digest)).to.equal(`/v2/team/app/blobs/${digest}`)
    expect(urls.uploads('team/app', {from: 'base/img', mount: digest})).to.equal(`/v2/team/app/blobs/uploads/?from=base%2Fimg&mount=${digest.replace(':', '%3A')}`)
    expect(urls.referrers('team/app', digest, 'application/vnd.example+json')).to.equal(`/v2/team/app/referrers/${digest}?artifactType=application%2Fvnd.example%2Bjson`)
  })

  it('refuses a tag, digest or repository that would change the path (../, ?, #, %, a lone ..), whoever supplied it', () => {
    const digest = `sha256:${'a'.repeat(64)}`
    for (const reference of ['../../other/manifests/v1', 'v9?x=1', 'v9#frag', '..', '.', 'a/b', 'v1%2F..', '', `sha256:${'A'.repeat(64)}`, 'sha256:../x']) {
      expect(() => urls.manifest('team/app', reference), reference).to.throw(ProtocolError, /^refusing to build a request path from the (tag|digest) ".*": /)
    }

    for (const bad of ['../x', `sha256:${'a'.repeat(63)}?`, 'sha256:..']) {
      expect(() => urls.blob('team/app', bad), bad).to.throw(ProtocolError, /the digest/)
      expect(() => urls.referrers('team/app', bad), bad).to.throw(ProtocolError, /the digest/)
    }

    for (const repository of ['../other', 'team/../other', 'team/app?x=1', 'team/app#x', 'Team/app', 'team//app']) {
      for (const build of [() => urls.manifest(repository, 'v1'), () => urls.blob(repository, digest), () => urls.tags(repository), () => urls.uploads(repository), () => urls.referrers(repository, digest)]) {
        expect(build, repository).to.throw(ProtocolError, /the repository/)
      }
    }

    // Control characters in a refused value are escaped, not sent to the terminal.
    expect(() => urls.manifest('team/app', 'v1\u001b[2J\u202e'))
      .to.throw(ProtocolError)
      .with.property('message')
      .that.matches(/"v1\\x1b\[2J\\u202e"/)
    // Digests, tags and the referrers tag schema still pass.
    expect(urls.manifest('team/app', digest)).to.equal(`/v2/team/app/manifests/${digest}`)
    expect(urls.manifest('team/app', digest.replace(':', '-'))).to.equal(`/v2/team/app/manifests/${digest.replace(':', '-')}`)
    expect(urls.manifest('team/app', `sha512:${'b'.repeat(128)}`)).to.equal(`/v2/team/app/manifests/sha512:${'b'.repeat(128)}`)
    expect(urls.invalidTagProbe('team/app')).to.equal('/v2/team/app/manifests/-probe')
  })

  it('refuses to build a path from a digest or tag that is not one (a registry may send them)', () => {
    const escapes = 'sha256:../../../../elsewhere/manifests/v1'
    expect(() => urls.manifest('team/app', escapes)).to.throw(/^refusing to build a request path from the digest "sha256:\.\.\/\.\.\/\.\.\/\.\.\/elsewhere\/manifests\/v1": the sha256 digest must be lowercase hex$/)
    expect(() => urls.blob('team/app', escapes)).to.throw(/refusing to build a request path from the digest/)
    expect(() => urls.referrers('team/app', `sha256:${'a'.repeat(63)}/`)).to.throw(/refusing to build a request path from the digest/)
    expect(() => urls.uploads('team/app', {from: 'base/img', mount: 'sha256:x?y'})).to.throw(/refusing to build a request path from the digest/)
    expect(() => urls.manifest('team/app', '../../other/manifests/v1')).to.throw(/^refusing to build a request path from the tag "\.\.\/\.\.\/other\/manifests\/v1": a tag is up to 128/)
    expect(() => urls.manifest('team/app', 'v1\u001b[2J')).to.throw(/the tag "v1\\x1b\[2J"/)
  })

  describe('OCI error bodies', () => {
    it('are quoted as CODE: message and typed by kind', () => {
      const body = Buffer.from(JSON.stringify({errors: [{code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: {Tag: 'v9'}}]}))
      const error = apiError('manifest get example.com/app:v9', {body, status: 404})
      expect(error.message).to.equal('manifest get example.com/app:v9: MANIFEST_UNKNOWN: manifest unknown')
      expect(error.kind).to.equal('not-found')
      expect(error.code).to.equal('MANIFEST_UNKNOWN')
      expect(error.exitCode).to.equal(1)
    })

    it('fall back to the HTTP status when the body is not one, and escape what the registry wrote', () => {
      expect(apiError('tag list x', {body: Buffer.from('<html>'), status: 503, statusText: 'Service Unavailable'}).message).to.equal(
        'tag list x: HTTP 503 Service Unavailable',
      )
      const hostile = apiError('tag list x', {body: Buffer.from(JSON.stringify({errors: [{code: 'DENIED', message: 'no\u001B[2J\r\nforged'}]})), status: 403})
      expect(hostile.message).to.equal('tag list x: DENIED: no\\x1b[2J\\r\\nforged')
      expect(hostile.kind).to.equal('denied')
      expect(apiError('x', {body: Buffer.from(JSON.stringify({errors: [{code: 'E', message: 'm'.repeat(1000)}]})), status: 400}).message.length).to.be.below(320)
    })

    it('ignore entries that are not error objects', () => {
      expect(parseOciErrors('{"errors":[null,1,{"message":"no code"},{"code":"NAME_UNKNOWN"}]}')).to.deep.equal([{code: 'NAME_UNKNOWN', detail: undefined, message: ''}])
      expect(parseOciErrors('{"errors":{}}')).to.deep.equal([])
    })
  })

  describe('Link pagination', () => {
    it('finds rel="next" among several links and parameter spellings', () => {
      expect(nextLink(['</v2/_catalog?last=a%2Cb&n=1>; rel="next"'])).to.equal('/v2/_catalog?last=a%2Cb&n=1')
      expect(nextLink(['<https://x/prev>; rel="prev", </v2/t/tags/list?last=b>; title="x"; rel=next'])).to.equal('/v2/t/tags/list?last=b')
      expect(nextLink(['</p>; rel="first next"'])).to.equal('/p')
      expect(nextLink(['</p>; rel="prev"'])).to.equal(undefined)
      expect(nextLink(undefined)).to.equal(undefined)
    })

    it('resolves relative links, and stops on a repeat, another origin or too many pages', () => {
      const walker = new PageWalker('https://r.example:5000', 3)
      expect(walker.next('/v2/t/tags/list', ['<?last=a>; rel="next"'])).to.equal('/v2/t/tags/list?last=a')
      expect(walker.next('/v2/t/tags/list?last=a', ['</v2/t/tags/list?last=b>; rel="next"'])).to.equal('/v2/t/tags/list?last=b')
      expect(() => walker.next('/v2/t/tags/list?last=b', ['</v2/t/tags/list?last=a>; rel="next"'])).to.throw(/repeats an earlier page/)
      expect(() => new PageWalker('https://r.example:5000').next('/p', ['<https://elsewhere.example/p2>; rel="next"'])).to.throw(/another host/)
      const short = new PageWalker('https://r.example', 2)
      short.next('/p1', ['</p2>; rel="next"'])
      expect(() => short.next('/p2', ['</p3>; rel="next"'])).to.throw(/more than 2 pages/)
    })
  })
})
