import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {PassThrough} from 'node:stream'
import {fileURLToPath} from 'node:url'

import {BREAK_FLAGS, GLOBAL_FLAGS, hoistGlobalFlags} from '../../src/command/argv.js'
import {RegshapeCommand} from '../../src/command/base-command.js'
import {breakFlags} from '../../src/command/break-command.js'
import {formatJson} from '../../src/util/text.js'
import {InputError} from '../../src/errors.js'
import {rememberCredentials, scrubSecrets, scrubValues} from '../../src/util/secrets.js'
import {readSecretFromStdin, stripOneLineEnding} from '../../src/command/prompt.js'
import {MASK, redactBody, redactHeaderValue, redactUrl} from '../../src/transport/redact.js'

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

    it('masks the signature and credential parameters of pre-signed URLs, whatever their case', () => {
      const url = (query: string) => `https://bucket.s3.example/o?${query}`
      const cases: Array<[string, string]> = [
        // S3
        ['X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=abc&X-Amz-Security-Token=tok&X-Amz-Expires=300', 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***&X-Amz-Expires=300'],
        // Azure SAS
        ['sv=2022-11-02&se=2024-01-01&sp=r&sig=Zm9v%2Bbar%3D', 'sv=2022-11-02&se=2024-01-01&sp=r&sig=***'],
        // GCS, lower case
        ['x-goog-algorithm=GOOG4-RSA-SHA256&x-goog-credential=sa%40p%2F2024&x-goog-signature=0a1b', 'x-goog-algorithm=GOOG4-RSA-SHA256&x-goog-credential=***&x-goog-signature=***'],
        // CloudFront
        ['Expires=1700000000&Policy=eyJ&Signature=abc~def&Key-Pair-Id=K2', 'Expires=1700000000&Policy=***&Signature=***&Key-Pair-Id=***'],
        // generic
        ['token=t&Access_Token=a&password=p&client_secret=c&api_key=k&n=100', 'token=***&Access_Token=***&password=***&client_secret=***&api_key=***&n=100'],
      ]
      for (const [query, masked] of cases) {
        expect(redactUrl(url(query))).to.equal(url(masked))
        // A Location may be relative; it is masked as text, never dropped whole.
        expect(redactHeaderValue('Location', `/o?${query}`)).to.equal(`/o?${masked}`)
        // In any text that quotes the URL (an error message, a body), raw or escaped.
        expect(scrubSecrets(`failed: ${url(query)} (403)`)).to.equal(`failed: ${url(masked)} (403)`)
      }

      expect(scrubSecrets('next=https%3A%2F%2Fs3%2Fo%3FX-Amz-Signature%3Ddeadbeef%26b%3D2')).to.equal('next=https%3A%2F%2Fs3%2Fo%3FX-Amz-Signature%3D***%26b%3D2')
      expect(scrubSecrets('{"u":"https://s3/o?a=1\\u0026sig=abc\\u0026b=2"}')).to.equal('{"u":"https://s3/o?a=1\\u0026sig=***\\u0026b=2"}')
      expect(scrubSecrets('<a href="https://s3/o?a=1&amp;Signature=abc&amp;b=2">')).to.equal('<a href="https://s3/o?a=1&amp;Signature=***&amp;b=2">')
      expect(scrubSecrets('proxy http://bob:pw@proxy:3128/ and ftp://anon@host/')).to.equal(`proxy http://${MASK}:${MASK}@proxy:3128/ and ftp://${MASK}@host/`)
      // Names that merely look alike, and OCI error codes in a body, stay.
      expect(scrubSecrets('https://r/v2/?service=s&scope=x&token_type=Bearer&code=DENIED&X-Amz-Date=20240101')).to.equal('https://r/v2/?service=s&scope=x&token_type=Bearer&code=DENIED&X-Amz-Date=20240101')
    })

    it('masks a credential that was read in every form a server echoes it: the whole Basic value, URL- and JSON-encoded', () => {
      const password = 'sm4ll-parts "pw"/+&'
      const pair = `unit-user:${password}`
      rememberCredentials({password, username: 'unit-user'})
      const basic = `Basic ${Buffer.from(pair).toString('base64')}`
      expect(scrubSecrets(`denied for ${basic}`)).to.equal(`denied for Basic ${MASK}`)
      expect(scrubSecrets(`x ${pair} y`)).to.equal(`x ${MASK} y`)
      expect(scrubSecrets(`x ${encodeURIComponent(password)} ${JSON.stringify(password)} y`)).to.equal(`x ${MASK} "${MASK}" y`)
      expect(redactHeaderValue('X-Echo', basic)).to.equal(`Basic ${MASK}`)
      expect(redactBody(JSON.stringify({message: `got ${pair}`}), 'application/json')).to.equal(`{"message":"got ${MASK}"}`)
      // Values only: a secret spelling a key leaves the JSON's shape alone.
      expect(scrubValues({[password]: [password, 1, null], n: 'v'})).to.deep.equal({[password]: [MASK, 1, null], n: 'v'})
    })

    it('scrubs a 100 000-tag result and megabytes of hostile text in linear time', function () {
      this.timeout(60_000)
      // In a process of its own, holding one secret as a run does (test/fixtures/scrub-linear.ts).
      const fixture = fileURLToPath(new URL('../fixtures/scrub-linear.ts', import.meta.url))
      const elapsedMs = Number(execFileSync(process.execPath, ['--import', 'tsx', fixture], {encoding: 'utf8'}).trim())
      // Quadratic work on these would take minutes; linear work takes tens of milliseconds.
      expect(elapsedMs).to.be.below(5000)
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
