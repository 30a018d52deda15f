import {expect} from 'chai'
import fc from 'fast-check'

import {ProtocolError} from '../../src/errors.js'
import {type Challenge, parseChallenges} from '../../src/transport/challenge.js'
import {check} from './settings.js'

const tchar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split(''))
const token = fc.string({maxLength: 12, minLength: 1, unit: tchar})
/** Names start with a letter so that they are never mistaken for a token68. */
const name = fc.tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')), fc.string({maxLength: 10, unit: tchar})).map(([first, rest]) => first + rest)
/** Any value: printable text including quotes, backslashes, commas, equals signs and spaces. */
const value = fc.string({maxLength: 40, unit: fc.constantFrom(...'ab9 ,="\\:/?&;@x-._~'.split(''))})

const challengeArb = fc.record({
  params: fc.uniqueArray(fc.tuple(name, value, fc.boolean()), {maxLength: 4, selector: ([n]) => n.toLowerCase()}),
  scheme: name,
})

const isToken = (text: string) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text)

function serialise(challenge: {params: Array<[string, string, boolean]>; scheme: string}): string {
  const params = challenge.params.map(([key, raw, quoted]) => {
    const shown = quoted || !isToken(raw) ? `"${raw.replaceAll(/(["\\])/g, '\\$1')}"` : raw
    return `${key}=${shown}`
  })
  return params.length > 0 ? `${challenge.scheme} ${params.join(', ')}` : challenge.scheme
}

function expected(challenge: {params: Array<[string, string, boolean]>; scheme: string}): Challenge {
  return {params: Object.fromEntries(challenge.params.map(([key, raw]) => [key.toLowerCase(), raw])), scheme: challenge.scheme.toLowerCase()}
}

describe('property: WWW-Authenticate parsing', () => {
  it('parses back any list of challenges, however they are split across headers', () =>
    check(
      fc.property(fc.array(challengeArb, {maxLength: 4, minLength: 1}), fc.nat(), (challenges, split) => {
        const texts = challenges.map((challenge) => serialise(challenge))
        // Split the challenges between one or more headers at a random point.
        const cut = texts.length > 1 ? 1 + (split % (texts.length - 1)) : texts.length
        const headers = [texts.slice(0, cut).join(', '), ...(cut < texts.length ? [texts.slice(cut).join(', ')] : [])]
        expect(parseChallenges(headers)).to.deep.equal(challenges.map((challenge) => expected(challenge)))
      }),
    ))

  it('never fails with anything but a ProtocolError, whatever the header holds', () =>
    check(
      fc.property(fc.string({maxLength: 80}), (text) => {
        try {
          const challenges = parseChallenges(text)
          for (const challenge of challenges) expect(challenge.scheme).to.match(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/)
        } catch (error) {
          expect(error).to.be.instanceOf(ProtocolError)
          expect((error as Error).message).to.match(/^malformed WWW-Authenticate header: /)
        }
      }),
    ))

  it('tokens need no quotes', () =>
    check(
      fc.property(name, token, (key, raw) => {
        expect(parseChallenges(`Bearer ${key}=${raw}`)).to.deep.equal([{params: {[key.toLowerCase()]: raw}, scheme: 'bearer'}])
      }),
    ))
})
