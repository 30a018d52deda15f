import {expect} from 'chai'
import fc from 'fast-check'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseJson} from '../../src/credentials/config-json.js'
import {DockerConfigFile, encodeAuth} from '../../src/credentials/docker-config.js'
import {check} from './settings.js'

/** Lower-cased: docker matches these names case-insensitively, so their case variants are owned too. */
const OWNED = new Set(['auths', 'credhelpers', 'credsstore'])
/** Keys regshape does not own, with any JSON under them (integer-like keys reorder in JS objects). */
const unknownKeys = fc.dictionary(
  fc.string({maxLength: 12, minLength: 1}).filter((key) => !OWNED.has(key.toLowerCase()) && !/^\d+$/.test(key) && key !== '__proto__'),
  fc.jsonValue({maxDepth: 3}),
  {maxKeys: 6},
)
const entryExtras = fc.dictionary(
  fc.string({maxLength: 8, minLength: 1}).filter((key) => !['auth', 'email', 'identitytoken', 'password', 'registrytoken', 'serveraddress', 'username', '__proto__'].includes(key.toLowerCase()) && !/^\d+$/.test(key)),
  fc.jsonValue({maxDepth: 2}),
  {maxKeys: 3},
)

describe('property: config.json round trips', () => {
  it('a login and a logout keep every key regshape does not own, in order', () =>
    check(
      fc.asyncProperty(unknownKeys, entryExtras, fc.string({maxLength: 20}), async (extra, extras, password) => {
        const directory = mkdtempSync(join(tmpdir(), 'regshape-prop-'))
        try {
          const path = join(directory, 'config.json')
          const original = {...extra, auths: {'other.example.com': {auth: encodeAuth('o', 'p'), ...extras}}}
          writeFileSync(path, JSON.stringify(original))
          // What the file holds is the original as JSON can carry it (-0 is written as 0).
          const expected = JSON.parse(JSON.stringify(original))
          const file = new DockerConfigFile(path)
          await file.update((data) => {
            data.auths!['registry.example.com'] = {auth: encodeAuth('alice', password)}
          })
          const afterLogin = JSON.parse(readFileSync(path, 'utf8'))
          expect(Object.keys(afterLogin)).to.deep.equal(Object.keys(expected))
          for (const key of Object.keys(extra)) expect(afterLogin[key], key).to.deep.equal(expected[key])
          expect(afterLogin.auths['other.example.com']).to.deep.equal(expected.auths['other.example.com'])
          await file.update((data) => {
            delete data.auths!['registry.example.com']
          })
          expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal(expected)
        } finally {
          rmSync(directory, {force: true, recursive: true})
        }
      }),
    ))
})

/** What a parser makes of `text`: its value as JSON text (key order included), or that it refused. */
function outcome(parse: (text: string) => unknown, text: string): string {
  try {
    return `ok ${JSON.stringify(parse(text))}`
  } catch {
    return 'error'
  }
}

const jsonText = fc.oneof(
  fc.jsonValue({maxDepth: 4}).chain((value) => fc.constantFrom(...[undefined, '\t', ' ', '\n'].map((indent) => JSON.stringify(value, null, indent)))),
  fc.jsonValue({maxDepth: 3, stringUnit: 'binary'}).map((value) => JSON.stringify(value)),
)

describe('property: the config.json reader agrees with JSON.parse', () => {
  it('on valid JSON (any indentation, any UTF-16 in strings): the same value, keys in the same order', () =>
    check(
      fc.property(jsonText, (text) => {
        expect(outcome((t) => parseJson(t).value, text)).to.equal(outcome(JSON.parse, text))
      }),
    ))

  it('on damaged JSON (a character inserted, deleted or replaced): accepts exactly what JSON.parse accepts', () =>
    check(
      fc.property(
        jsonText,
        fc.nat(),
        fc.constantFrom('delete', 'insert', 'replace'),
        fc.constantFrom(...'{}[]:,"\\ 0-.eEtfnu\u0000\n'.split('')),
        (text, at, how, char) => {
          const i = text.length === 0 ? 0 : at % text.length
          const damaged = how === 'delete' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + char + text.slice(how === 'insert' ? i : i + 1)
          expect(outcome((t) => parseJson(t).value, damaged)).to.equal(outcome(JSON.parse, damaged))
        },
      ),
    ))

  it('sees a repeated root key that JSON.parse folds away, in document order', () =>
    check(
      fc.property(fc.jsonValue({maxDepth: 2}), fc.jsonValue({maxDepth: 2}), (first, second) => {
        const text = `{"auths": ${JSON.stringify(first)}, "other": 1, "auths": ${JSON.stringify(second)}}`
        const parsed = parseJson(text)
        expect(parsed.rootEntries?.map(([key]) => key)).to.deep.equal(['auths', 'other', 'auths'])
        expect(JSON.stringify(parsed.value)).to.equal(JSON.stringify(JSON.parse(text)))
      }),
    ))
})

/** Registry-like keys (never integer-like, which JS objects reorder), Object.prototype's names among them. */
const registryKey = fc.oneof(
  fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', 'a.example.com', 'b.example.com:5000'),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,8}(\.[a-z]{2,4})?(:\d{2,4})?$/),
)
const authsSection = fc.array(fc.tuple(registryKey, fc.string({maxLength: 6})), {maxLength: 6})

/** JSON object text from ordered pairs (an object literal would eat `__proto__`). */
function objectText(pairs: Array<[string, unknown]>): string {
  return `{${pairs.map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`).join(', ')}}`
}

describe('property: repeated "auths" sections survive a rewrite as docker reads them', () => {
  it('a login writes the union (later entries winning, first places kept) plus its own entry', () =>
    check(
      fc.asyncProperty(authsSection, authsSection, async (first, second) => {
        const directory = mkdtempSync(join(tmpdir(), 'regshape-prop-'))
        try {
          const path = join(directory, 'config.json')
          const entries = (pairs: Array<[string, string]>) => pairs.map(([key, password]): [string, unknown] => [key, {auth: encodeAuth('u', password)}])
          writeFileSync(path, `{"auths": ${objectText(entries(first))}, "x": 1, "auths": ${objectText(entries(second))}}`)
          // Go: the second object decodes into the map the first one filled.
          const expected = new Map<string, unknown>()
          for (const [key, value] of [...entries(first), ...entries(second)]) expected.set(key, value)
          expected.set('new.example.com', {auth: encodeAuth('alice', 'pw')})
          await new DockerConfigFile(path).update((data) => {
            data.auths!['new.example.com'] = {auth: encodeAuth('alice', 'pw')}
          })
          const written = JSON.parse(readFileSync(path, 'utf8'))
          expect(Object.keys(written)).to.deep.equal(['auths', 'x'])
          const pairs = Object.keys(written.auths).map((key) => [key, Object.getOwnPropertyDescriptor(written.auths, key)?.value])
          expect(pairs).to.deep.equal([...expected.entries()])
        } finally {
          rmSync(directory, {force: true, recursive: true})
        }
      }),
    ))
})

