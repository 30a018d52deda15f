import {expect} from 'chai'
import {PassThrough} from 'node:stream'

import {BREAK_FLAGS, GLOBAL_FLAGS, hoistGlobalFlags} from '../../src/argv.js'
import {RegshapeCommand} from '../../src/base-command.js'
import {breakFlags} from '../../src/command/break-command.js'
import {formatJson} from '../../src/output.js'
import {InputError} from '../../src/services/errors.js'
import {readSecretFromStdin, stripOneLineEnding} from '../../src/services/prompt.js'
import {MASK, redactBody, redactHeaderValue, redactUrl} from '../../src/services/transport/redact.js'

describe('small parts', () => {
  describe('--password-stdin trimming', () => {
    const cases: Array<[string, string]> = [
      ['secret\n', 'secret'],
      ['secret\r\n', 'secret'],
      ['secret\r', 'secret'],
      ['secret\n\n', 'secret\n'],
      ['secret\r\n\r\n', 'secret\r\n'],
      ['\n', ''],
      [' secret \n', ' secret '],
      ['secret \t', 'secret \t'],
      ['sec\nret', 'sec\nret'],
      ['secret', 'secret'],
    ]
    for (const [input, expected] of cases) {
      it(`turns ${JSON.stringify(input)} into ${JSON.stringify(expected)}`, () => {
        expect(stripOneLineEnding(input)).to.equal(expected)
      })
    }

    it('reads UTF-8 split across chunks', async () => {
      const stream = new PassThrough()
      const bytes = Buffer.from('ünï\n')
      stream.write(bytes.subarray(0, 1))
      stream.end(bytes.subarray(1))
      expect(await readSecretFromStdin(stream)).to.equal('ünï')
    })

    it('refuses an endless stream', async () => {
      const stream = new PassThrough()
      stream.end(Buffer.alloc(70 * 1024, 'a'))
      try {
        await readSecretFromStdin(stream)
        expect.fail('should have thrown')
      } catch (error) {
        expect(error).to.be.instanceOf(InputError)
      }
    })
  })

  describe('JSON output', () => {
    it('prints the spec\'s layout', () => {
      expect(formatJson({status: 'success', registry: 'registry.example.com'})).to.equal('{"status": "success", "registry": "registry.example.com"}')
      expect(formatJson({a: [1, 'x', {b: null}], c: true, d: undefined})).to.equal('{"a": [1, "x", {"b": null}], "c": true}')
      expect(JSON.parse(formatJson({s: 'quote " and \\ and ü'}))).to.deep.equal({s: 'quote " and \\ and ü'})
    })
  })

  describe('shared flags before the command', () => {
    it('moves them after the command words', () => {
      expect(hoistGlobalFlags(['--json', 'auth', 'login', '-r', 'R', '-u', 'U', '-p', 'P'])).to.deep.equal(['auth', 'login', '--json', '-r', 'R', '-u', 'U', '-p', 'P'])
      expect(hoistGlobalFlags(['-u', 'alice', '--docker-config', '/x', '--insecure', 'auth', 'logout', '-r', 'R'])).to.deep.equal([
        'auth',
        'logout',
        '-u',
        'alice',
        '--docker-config',
        '/x',
        '--insecure',
        '-r',
        'R',
      ])
      expect(hoistGlobalFlags(['--docker-config=/x', '-ualice', 'auth', 'logout'])).to.deep.equal(['auth', 'logout', '--docker-config=/x', '-ualice'])
    })

    it('moves break mode\'s flags too, as upstream writes them (regshape --break --break-rules FILE tag list R)', () => {
      expect(hoistGlobalFlags(['--break', '--break-rules', 'rules.yaml', 'tag', 'list', '-i', 'R'])).to.deep.equal(['tag', 'list', '--break', '--break-rules', 'rules.yaml', '-i', 'R'])
      expect(hoistGlobalFlags(['--break', '--break-rules=r.yaml', '--log-file', 'report.log', '--json', 'ping', 'R'])).to.deep.equal([
        'ping',
        'R',
        '--break',
        '--break-rules=r.yaml',
        '--log-file',
        'report.log',
        '--json',
      ])
    })

    it('leaves everything else alone', () => {
      for (const argv of [['auth', 'login', '--json'], ['--version'], ['--help'], ['--json'], ['--json', '--help'], ['--unknown', 'auth'], []]) {
        expect(hoistGlobalFlags(argv)).to.deep.equal(argv)
      }
    })

    it('knows exactly the flags RegshapeCommand declares', () => {
      const declared = Object.entries(RegshapeCommand.baseFlags).map(([name, flag]) => ({
        char: (flag as {char?: string}).char,
        name,
        takesValue: (flag as {type: string}).type === 'option',
      }))
      const sortByName = <T extends {name: string}>(list: T[]) => [...list].sort((a, b) => a.name.localeCompare(b.name))
      expect(sortByName(GLOBAL_FLAGS.map((f) => ({char: f.char, name: f.name, takesValue: f.takesValue})))).to.deep.equal(sortByName(declared))
    })

    it('knows exactly break mode\'s flags', () => {
      const declared = Object.entries(breakFlags).map(([name, flag]) => ({char: (flag as {char?: string}).char, name, takesValue: (flag as {type: string}).type === 'option'}))
      expect(BREAK_FLAGS.map((f) => ({char: f.char, name: f.name, takesValue: f.takesValue}))).to.deep.equal(declared)
    })
  })

  describe('redaction', () => {
    it('keeps the scheme word of Authorization and masks the value', () => {
      expect(redactHeaderValue('Authorization', 'Basic YWxpY2U6czNjcjN0')).to.equal(`Basic ${MASK}`)
      expect(redactHeaderValue('authorization', 'Bearer eyJhbGciOi.x.y')).to.equal(`Bearer ${MASK}`)
      expect(redactHeaderValue('Proxy-Authorization', 'opaque')).to.equal(MASK)
      expect(redactHeaderValue('Set-Cookie', 'session=abc; Path=/')).to.equal(MASK)
      expect(redactHeaderValue('Cookie', 'a=b')).to.equal(MASK)
      expect(redactHeaderValue('WWW-Authenticate', 'Bearer realm="x"')).to.equal('Bearer realm="x"')
    })

    it('masks URL userinfo and token-like query parameters', () => {
      expect(redactUrl('https://alice:s3cr3t@r.example/v2/?service=s&access_token=abc&scope=x')).to.equal(
        `https://${MASK}:${MASK}@r.example/v2/?service=s&access_token=${MASK}&scope=x`,
      )
      expect(redactUrl('not a url s3cr3t')).to.equal(MASK)
    })

    it('masks secret fields in JSON and form bodies', () => {
      expect(JSON.parse(redactBody('{"token":"t1","access_token":"t2","refresh_token":"t3","expires_in":60,"nested":{"password":"p"}}', 'application/json'))).to.deep.equal({
        access_token: MASK,
        expires_in: 60,
        nested: {password: MASK},
        refresh_token: MASK,
        token: MASK,
      })
      expect(redactBody('grant_type=refresh_token&refresh_token=abc&service=s&password=p', 'application/x-www-form-urlencoded')).to.equal(
        `grant_type=refresh_token&refresh_token=${MASK}&service=s&password=${MASK}`,
      )
    })
  })
})
