import {expect} from 'chai'

import {ProtocolError} from '../../../src/errors.js'
import {parseChallenges} from '../../../src/transport/challenge.js'

describe('WWW-Authenticate parsing', () => {
  it('parses distribution\'s Bearer challenge', () => {
    expect(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"')).to.deep.equal([
      {params: {realm: 'https://auth.example.com/token', scope: 'repository:a/b:pull,push', service: 'registry.example.com'}, scheme: 'bearer'},
    ])
  })

  it('parses Basic, lower-casing scheme and parameter names', () => {
    expect(parseChallenges('BASIC Realm="Registry Realm"')).to.deep.equal([{params: {realm: 'Registry Realm'}, scheme: 'basic'}])
  })

  it('unquotes escapes and keeps commas and equals signs inside quoted strings', () => {
    const [challenge] = parseChallenges(String.raw`Bearer realm="https://a.example/t?x=1,y=2", error="say \"hi\"", service=svc`)
    expect(challenge.params).to.deep.equal({error: 'say "hi"', realm: 'https://a.example/t?x=1,y=2', service: 'svc'})
  })

  it('accepts spaces around "=" and after commas', () => {
    const [challenge] = parseChallenges('Bearer realm = "r" ,  service =  s')
    expect(challenge.params).to.deep.equal({realm: 'r', service: 's'})
  })

  it('splits several challenges in one header', () => {
    const challenges = parseChallenges('Basic realm="a", Bearer realm="b",service="c", Negotiate')
    expect(challenges.map((c) => c.scheme)).to.deep.equal(['basic', 'bearer', 'negotiate'])
    expect(challenges[1].params).to.deep.equal({realm: 'b', service: 'c'})
  })

  it('reads several headers', () => {
    const challenges = parseChallenges(['Basic realm="a"', 'Bearer realm="b"'])
    expect(challenges.map((c) => c.scheme)).to.deep.equal(['basic', 'bearer'])
  })

  it('recognises a token68', () => {
    expect(parseChallenges('Negotiate YIIBhwYGKwYBBQUC==, Basic realm="x"')).to.deep.equal([
      {params: {}, scheme: 'negotiate', token68: 'YIIBhwYGKwYBBQUC=='},
      {params: {realm: 'x'}, scheme: 'basic'},
    ])
  })

  it('returns nothing for an absent or empty header', () => {
    expect(parseChallenges(undefined)).to.deep.equal([])
    expect(parseChallenges('')).to.deep.equal([])
    expect(parseChallenges([])).to.deep.equal([])
  })

  for (const malformed of ['Bearer realm="unterminated', 'Bearer realm="a" service="b"', '"quoted" realm=x', 'Bearer realm=a;b']) {
    it(`rejects ${JSON.stringify(malformed)} with a ProtocolError`, () => {
      expect(() => parseChallenges(malformed)).to.throw(ProtocolError, /malformed WWW-Authenticate header/)
    })
  }
})
