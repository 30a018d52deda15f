import {expect} from 'chai'
import fc from 'fast-check'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

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
