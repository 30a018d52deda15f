import {expect} from 'chai'
import fc from 'fast-check'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseJson} from '../../src/services/credentials/config-json.js'
import {DockerConfigFile, encodeAuth} from '../../src/services/credentials/docker-config.js'
import {check} from './settings.js'

const OWNED = new Set(['auths', 'credHelpers', 'credsStore'])
/** Keys regshape does not own, with any JSON under them (integer-like keys reorder in JS objects). */
const unknownKeys = fc.dictionary(
  fc.string({maxLength: 12, minLength: 1}).filter((key) => !OWNED.has(key) && !/^\d+$/.test(key) && key !== '__proto__'),
  fc.jsonValue({maxDepth: 3}),
  {maxKeys: 6},
)
const entryExtras = fc.dictionary(
  fc.string({maxLength: 8, minLength: 1}).filter((key) => !['auth', 'email', 'identitytoken', 'password', 'registrytoken', 'serveraddress', 'username', '__proto__'].includes(key) && !/^\d+$/.test(key)),
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
