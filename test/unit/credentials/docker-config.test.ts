import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {
  DockerConfigFile,
  authEntryWith,
  decodeAuth,
  encodeAuth,
  resolveDockerConfigPath,
} from '../../../src/credentials/docker-config.js'
import {DockerConfigError} from '../../../src/errors.js'

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'regshape-cfg-'))
}

describe('Docker config file', () => {
  describe('location', () => {
    it('prefers --docker-config, then $DOCKER_CONFIG/config.json, then ~/.docker/config.json', () => {
      expect(resolveDockerConfigPath({env: {DOCKER_CONFIG: '/d'}, flag: '/f/c.json', home: '/h'})).to.equal('/f/c.json')
      expect(resolveDockerConfigPath({env: {DOCKER_CONFIG: '/d'}, home: '/h'})).to.equal('/d/config.json')
      expect(resolveDockerConfigPath({env: {}, home: '/h'})).to.equal('/h/.docker/config.json')
    })
  })

  describe('auth encoding', () => {
    it('is base64 of user:password in UTF-8, split back at the first colon', () => {
      const password = 'p@ss:w0rd "q" \'x\' ünï cödé'
      const auth = encodeAuth('bob', password)
      expect(Buffer.from(auth, 'base64').toString('utf8')).to.equal(`bob:${password}`)
      expect(decodeAuth(auth)).to.deep.equal({password, username: 'bob'})
    })

    it('refuses an entry without a username', () => {
      expect(decodeAuth(Buffer.from(':secret').toString('base64'))).to.equal(undefined)
      expect(decodeAuth(Buffer.from('nocolon').toString('base64'))).to.equal(undefined)
    })

    it('replaces owned fields of an entry and keeps the others', () => {
      expect(authEntryWith({auth: 'old', custom: 1, identitytoken: 't'}, {auth: 'new'})).to.deep.equal({auth: 'new', custom: 1})
    })
  })

  describe('reading', () => {
    it('reads an absent file as an empty config', async () => {
      expect(await new DockerConfigFile(join(tempDir(), 'none.json')).load()).to.include({identity: 'absent'}).and.to.have.deep.property('data', {})
    })

    it('reads an empty or blank file as an empty config, as docker does', async () => {
      const path = join(tempDir(), 'config.json')
      writeFileSync(path, ' \n')
      expect((await new DockerConfigFile(path).load()).data).to.deep.equal({})
    })

    it('names the file when it is not JSON', async () => {
      const path = join(tempDir(), 'config.json')
      writeFileSync(path, '{"auths": {')
      try {
        await new DockerConfigFile(path).load()
        expect.fail('should have thrown')
      } catch (error) {
        expect(error).to.be.instanceOf(DockerConfigError)
        expect((error as Error).message).to.include(path).and.to.include('not valid JSON')
      }
    })

    for (const [text, what] of [['[]', 'a JSON object'], ['{"auths": []}', '"auths"'], ['{"auths": {"h": "x"}}', '"auths.h"'], ['{"credsStore": 1}', '"credsStore"']]) {
      it(`rejects ${text} (${what})`, async () => {
        const path = join(tempDir(), 'config.json')
        writeFileSync(path, text)
        try {
          await new DockerConfigFile(path).load()
          expect.fail('should have thrown')
        } catch (error) {
          expect(error).to.be.instanceOf(DockerConfigError)
          expect((error as Error).message).to.include(what)
        }
      })
    }

    it('reports a directory where the file should be', async () => {
      const path = join(tempDir(), 'config.json')
      mkdirSync(path)
      try {
        await new DockerConfigFile(path).load()
        expect.fail('should have thrown')
      } catch (error) {
        expect((error as Error).message).to.equal(`Docker config ${path} is a directory, not a file`)
      }
    })

  })

  describe('writing', () => {
    it('keeps unknown keys, their order and other entries; what it rewrites gets docker\'s tab-indented layout', async () => {
      const path = join(tempDir(), 'config.json')
      const original = {
        HttpHeaders: {'X-Meta': 'v'},
        auths: {'other.example.com': {auth: encodeAuth('u', 'p'), email: 'e@x'}},
        credHelpers: {'gcr.io': 'gcloud'},
        futureKey: {nested: [1, 2, {a: null}]},
        psFormat: 'table {{.ID}}',
      }
      writeFileSync(path, JSON.stringify(original))
      const file = new DockerConfigFile(path)
      const {changed} = await file.update((data) => {
        data.auths!['registry.example.com'] = {auth: encodeAuth('alice', 's')}
      })
      expect(changed).to.equal(true)
      const text = readFileSync(path, 'utf8')
      expect(JSON.parse(text)).to.deep.equal({...original, auths: {...original.auths, 'registry.example.com': {auth: encodeAuth('alice', 's')}}})
      // Members regshape did not change keep the bytes they had (here another tool's compact
      // JSON); the auths section it changed is laid out as docker lays it out.
      expect(text).to.equal(
        [
          '{',
          '\t"HttpHeaders": {"X-Meta":"v"},',
          '\t"auths": {',
          `\t\t"other.example.com": {"auth":"${encodeAuth('u', 'p')}","email":"e@x"},`,
          '\t\t"registry.example.com": {',
          `\t\t\t"auth": "${encodeAuth('alice', 's')}"`,
          '\t\t}',
          '\t},',
          '\t"credHelpers": {"gcr.io":"gcloud"},',
          '\t"futureKey": {"nested":[1,2,{"a":null}]},',
          '\t"psFormat": "table {{.ID}}"',
          '}',
        ].join('\n'),
      )
    })

    it('creates the file and its directory with modes 0600 and 0700', async () => {
      const directory = join(tempDir(), 'new-dir')
      const path = join(directory, 'config.json')
      await new DockerConfigFile(path).update((data) => {
        data.auths = {h: {auth: 'x'}}
      })
      expect(statSync(path).mode & 0o777).to.equal(0o600)
      expect(statSync(directory).mode & 0o777).to.equal(0o700)
    })

    it('tightens an existing world-readable file to 0600', async () => {
      const path = join(tempDir(), 'config.json')
      writeFileSync(path, '{}', {mode: 0o644})
      chmodSync(path, 0o644)
      await new DockerConfigFile(path).update((data) => {
        data.auths = {h: {auth: 'x'}}
      })
      expect(statSync(path).mode & 0o777).to.equal(0o600)
    })

    it('skips the write when nothing changes', async () => {
      const path = join(tempDir(), 'config.json')
      writeFileSync(path, '{"auths":{"h":{"auth":"eA=="}}}')
      const before = statSync(path)
      const {changed} = await new DockerConfigFile(path).update((data) => {
        data.auths!.h = {auth: 'eA=='}
      })
      expect(changed).to.equal(false)
      expect(readFileSync(path, 'utf8')).to.equal('{"auths":{"h":{"auth":"eA=="}}}')
      expect(statSync(path).ino).to.equal(before.ino)
    })

    it('follows a relative symlink and replaces its target, leaving the link', async () => {
      const directory = tempDir()
      mkdirSync(join(directory, 'real'))
      writeFileSync(join(directory, 'real', 'config.json'), '{"keep": true}')
      symlinkSync('real/config.json', join(directory, 'config.json'))
      await new DockerConfigFile(join(directory, 'config.json')).update((data) => {
        data.auths = {h: {auth: 'eA=='}}
      })
      expect(lstatSync(join(directory, 'config.json')).isSymbolicLink()).to.equal(true)
      expect(JSON.parse(readFileSync(join(directory, 'real', 'config.json'), 'utf8'))).to.deep.equal({auths: {h: {auth: 'eA=='}}, keep: true})
    })

    it('follows a dangling symlink and creates its target', async () => {
      const directory = tempDir()
      symlinkSync(join(directory, 'elsewhere.json'), join(directory, 'config.json'))
      await new DockerConfigFile(join(directory, 'config.json')).update((data) => {
        data.auths = {h: {auth: 'eA=='}}
      })
      expect(lstatSync(join(directory, 'config.json')).isSymbolicLink()).to.equal(true)
      expect(JSON.parse(readFileSync(join(directory, 'elsewhere.json'), 'utf8')).auths.h.auth).to.equal('eA==')
    })

    it('leaves no temporary files behind', async () => {
      const directory = tempDir()
      const file = new DockerConfigFile(join(directory, 'config.json'))
      for (let i = 0; i < 3; i++) {
        await file.update((data) => {
          data.auths = {[`h${i}`]: {auth: 'eA=='}}
        })
      }

      expect(readdirSync(directory)).to.deep.equal(['config.json'])
    })

    it('never renames over a FIFO, even when handed data read earlier', async () => {
      const path = join(tempDir(), 'config.json')
      execFileSync('mkfifo', [path])
      for (const attempt of [
        () => new DockerConfigFile(path).write({auths: {}}),
        () => new DockerConfigFile(path).update((data) => void (data.auths = {h: {auth: 'eA=='}}), {}),
      ]) {
        try {
          await attempt()
          expect.fail('should have thrown')
        } catch (error) {
          expect((error as Error).message).to.equal(`Docker config ${path} is a FIFO, not a regular file; regshape neither reads nor replaces it`)
        }

        expect(lstatSync(path).isFIFO()).to.equal(true)
      }

      expect(readdirSync(join(path, '..'))).to.deep.equal(['config.json'])
    })

    it('never rewrites a file it could not parse', async () => {
      const path = join(tempDir(), 'config.json')
      const broken = '{"auths": {"h": {"auth": "eA=="}},, }'
      writeFileSync(path, broken)
      let called = false
      try {
        await new DockerConfigFile(path).update(() => {
          called = true
        })
        expect.fail('should have thrown')
      } catch (error) {
        expect(error).to.be.instanceOf(DockerConfigError)
      }

      expect(called).to.equal(false)
      expect(readFileSync(path, 'utf8')).to.equal(broken)
    })
  })
})
