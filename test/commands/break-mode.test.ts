import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {EXPIRED_TOKEN} from '../../src/break/rules.js'
import {type SeededImages, seedImages} from '../fixtures/images.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * --break on the command line, against the REAL distribution registry (Basic and token auth): the
 * flags, the rules file's errors, the report on stderr, in --log-file and under --json, what
 * distribution actually answers to mutated requests, and that no rule gets a secret into output.
 */

const REPO = 'break/app'
const {alice} = USERS
const BASE64_PAIR = Buffer.from(`${alice.username}:${alice.password}`).toString('base64')

function loginConfig(...registries: RegistryHandle[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-break-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(registries.map((r) => [r.host, {auth: BASE64_PAIR}]))}))
  return directory
}

function rulesFile(text: string, name = 'rules.yaml'): string {
  const file = join(mkdtempSync(join(tmpdir(), 'regshape-rules-')), name)
  writeFileSync(file, text)
  return file
}

function reportLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((line) => line.startsWith('break: '))
}

function expectUsage(result: CliResult, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(2)
  expect(result.stdout).to.equal('')
  expect(result.stderr.trim().split('\n')).to.have.length(1)
  expect(result.stderr).to.match(/^Error: /)
  expect(result.stderr).to.match(pattern)
  expectNoStackTrace(result)
}

describe('break mode: --break against the real registry', function () {
  let basic: RegistryHandle
  let token: RegistryHandle
  let seeded: SeededImages
  let config: string
  const regshape = (args: string[]) => runCli(args, {env: {DOCKER_CONFIG: config}})

  before(async function () {
    this.timeout(120_000)
    basic = await basicRegistry()
    token = await tokenRegistry()
    seeded = await seedImages(basic, REPO, {bigLayerBytes: 1000})
    await seedImages(token, REPO, {bigLayerBytes: 1000})
    config = loginConfig(basic, token)
  })

  describe('the flags', () => {
    it('--break-rules without --break applies nothing: exit 2 before any request', async () => {
      const mark = basic.markLogs()
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break-rules', rulesFile('rules:\n  - use: skip_auth\n')])
      expectUsage(result, /--break-rules needs --break/)
      expect(basic.requestLog(mark)).to.deep.equal([])
    })

    it('--break without rules, and --log-file without --break, are usage errors', async () => {
      expectUsage(await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break']), /--break needs --break-rules FILE/)
      expectUsage(await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--log-file', join(tmpdir(), 'x.log')]), /--log-file .*needs --break/)
    })

    it('an invalid rules file exits 2 naming the rule and the field; so do bad YAML and a missing file', async () => {
      const run = (text: string, name?: string) => regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile(text, name)])
      expectUsage(await run('rules:\n  - name: first\n    target: auth\n    action: remove\n  - name: second\n    target: method\n    action: corrupt\n'), /rule 2 \("second"\): field "action": must be one of replace$/m)
      expectUsage(await run('rules:\n  - name: hdr\n    target: header\n    action: replace\n'), /rule 1 \("hdr"\): field "key": missing/)
      expectUsage(await run('{"rules": [{"use": "skip_auth", "colour": "red"}]}', 'rules.json'), /rule 1 \("skip_auth"\): field "colour": not a field/)
      expectUsage(await run('rules:\n  - use: no_such_rule\n'), /field "use": must be one of corrupt_body, custom_header/)
      expectUsage(await run('rules: [\n'), /not valid YAML or JSON \(line \d+, column \d+\)/)
      expectUsage(await run('rules: []\n'), /field "rules": /)
      expectUsage(await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', join(tmpdir(), 'no-such-rules.yaml')]), /cannot read it \(ENOENT\)/)
    })

    it('a FIFO or a device as the rules file, or a rule writing a header HTTP cannot carry, exits 2 at load, before any request', async () => {
      const mark = basic.markLogs()
      const withRules = (file: string) => regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', file])
      // A FIFO nobody writes to held the read forever; /dev/zero was read until memory ran out.
      const fifo = join(mkdtempSync(join(tmpdir(), 'regshape-rules-')), 'rules.fifo')
      execFileSync('mkfifo', [fifo])
      expectUsage(await withRules(fifo), /--break-rules .*rules\.fifo: a FIFO, not a regular file$/m)
      expectUsage(await withRules('/dev/zero'), /--break-rules \/dev\/zero: a character device, not a regular file$/m)
      expectUsage(await withRules(tmpdir()), /: a directory, not a regular file$/m)
      // These passed the schema and failed when sent, exit 1 (Node refuses such a header).
      const run = (text: string, name?: string) => withRules(rulesFile(text, name))
      expectUsage(await run('rules:\n  - use: custom_header\n    key: X-Test\n    value: "a\\r\\nInjected: 1"\n'), /rule 1 \("custom_header"\): field "value": a header value may not hold CR, LF/)
      expectUsage(await run('rules:\n  - name: lf\n    target: auth\n    action: append\n    value: "x\\ny"\n'), /rule 1 \("lf"\): field "value": a header value may not hold CR, LF/)
      expectUsage(await run('rules:\n  - use: expired_token\n    value: "t\\rx"\n'), /rule 1 \("expired_token"\): field "value": a header value may not hold CR, LF/)
      expectUsage(await run('{"rules": [{"name": "colon", "target": "header", "key": "X-Bad: name", "action": "replace", "value": "v"}]}', 'rules.json'), /rule 1 \("colon"\): field "key": not a header name/)
      expectUsage(await run('rules:\n  - use: custom_header\n    key: "X Space"\n    value: v\n'), /rule 1 \("custom_header"\): field "key": not a header name/)
      expect(basic.requestLog(mark)).to.deep.equal([])
    })
  })

  describe('before the command, as upstream writes it, and on every command that talks to a registry', () => {
    const header = 'rules:\n  - use: custom_header\n    key: X-Regshape-Probe\n    value: "1"\n'
    const tokenRequestBroken = 'rules:\n  - {name: bad-token-request, match: {operation: token}, target: auth, action: corrupt}\n'

    it('regshape --break --break-rules FILE tag list R: the rules apply (this was "no command given")', async () => {
      const result = await regshape(['--break', '--break-rules', rulesFile(header), 'tag', 'list', `${basic.host}/${REPO}`])
      expect(result.code, result.stderr).to.equal(0)
      expect(reportLines(result)).to.have.length(2)
      expect(reportLines(result)[1]).to.equal(`break: custom_header: X-Regshape-Probe: added → "1" | GET /v2/${REPO}/tags/list (tag.list) → 200`)
    })

    it('ping takes them, before or after its name: the credentials it sends are changed', async () => {
      for (const args of [
        ['--json', '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), 'ping', basic.host],
        ['ping', basic.host, '--json', '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n')],
      ]) {
        const result = await regshape(args)
        expect(result.code, result.stderr).to.equal(0)
        const document = JSON.parse(result.stdout)
        expect(Object.keys(document)).to.deep.equal(['result', 'mutations'])
        expect(document.result.credentials.outcome).to.equal('rejected')
        expect(document.mutations.length).to.be.greaterThan(0)
        for (const mutation of document.mutations) expect(mutation).to.deep.include({change: 'authorization: removed', rule: 'skip_auth', status: 401})
        expectNoSecrets(result, [alice.password, BASE64_PAIR])
      }
    })

    it('ping with skip_auth: on Basic one changed request (refused credentials are never resent); on a token server two, a fresh token each time', async () => {
      const rules = rulesFile('rules:\n  - use: skip_auth\n')
      const basicPing = await regshape(['ping', basic.host, '--break', '--break-rules', rules, '--debug-calls'])
      expect(basicPing.code, basicPing.stderr).to.equal(0)
      // Two requests on the wire: the probe without credentials (nothing to remove, not
      // reported), then one that carried them; the same Basic credentials are not sent again.
      expect(basicPing.stderr.split('\n').filter((line) => line.startsWith('* GET '))).to.deep.equal(Array.from({length: 2}, () => `* GET http://${basic.host}/v2/`))
      expect(reportLines(basicPing)).to.deep.equal(['break: skip_auth: authorization: removed | GET /v2/ → 401 UNAUTHORIZED'])
      // Against a token server, the refused token is dropped and a new one fetched, so the request
      // goes twice, each preceded by its token request (alice's Basic removed from it too, so the
      // token is anonymous).
      const tokenPing = await regshape(['ping', token.host, '--break', '--break-rules', rules])
      expect(tokenPing.code, tokenPing.stderr).to.equal(0)
      const tokenLine = reportLines(tokenPing)[0]
      expect(tokenLine).to.match(/^break: skip_auth: authorization: removed \| GET \/token\?\S+ \(token\) → 200$/)
      expect(reportLines(tokenPing)).to.deep.equal([tokenLine, 'break: skip_auth: authorization: removed | GET /v2/ → 401 UNAUTHORIZED', tokenLine, 'break: skip_auth: authorization: removed | GET /v2/ → 401 UNAUTHORIZED'])
    })

    it('auth login takes them, and they reach its token exchange: a corrupted token request fails the login, nothing stored', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-break-login-'))
      const result = await runCli(['--break', '--break-rules', rulesFile(tokenRequestBroken), 'auth', 'login', token.host, '-u', alice.username, '--password-stdin'], {
        env: {DOCKER_CONFIG: directory},
        stdin: `${alice.password}\n`,
      })
      expect(result.code, result.stderr).to.equal(1)
      expect(reportLines(result)).to.have.length.greaterThan(0)
      for (const line of reportLines(result)) expect(line).to.match(/^break: bad-token-request: [Aa]uthorization: corrupted \| GET \/token\S* \(token\) → 401/)
      expect(result.stderr.trimEnd().split('\n').at(-1)).to.match(new RegExp(`^Error: Login failed for ${token.host}: `))
      expect(existsSync(join(directory, 'config.json'))).to.equal(false)
      expectNoSecrets(result, [alice.password, BASE64_PAIR])
    })

    it('auth token takes them: under --json the token and the changed token requests are one document', async () => {
      const rules = 'rules:\n  - {name: mark, match: {operation: token}, target: header, key: X-Regshape-Probe, action: replace, value: "1"}\n'
      const result = await regshape(['auth', 'token', token.host, '--scope', `repository:${REPO}:pull`, '--json', '--break', '--break-rules', rulesFile(rules)])
      expect(result.code, result.stderr).to.equal(0)
      const document = JSON.parse(result.stdout)
      expect(Object.keys(document)).to.deep.equal(['result', 'mutations'])
      expect(document.result.token).to.be.a('string').with.length.greaterThan(10)
      expect(document.mutations.length).to.be.greaterThan(0)
      for (const mutation of document.mutations) expect(mutation).to.deep.include({operation: 'token', rule: 'mark', status: 200})
      expect(JSON.stringify(document.mutations)).not.to.include(document.result.token)
    })

    it('auth status --verify takes them; a command that sends no request (auth logout) refuses them, exit 2', async () => {
      const status = await regshape(['--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), 'auth', 'status', '-r', basic.host, '--verify'])
      expect(status.code, status.stderr).to.equal(1)
      expect(reportLines(status)).to.deep.equal(['break: skip_auth: authorization: removed | GET /v2/ → 401 UNAUTHORIZED'])
      expectUsage(await regshape(['--break', '--break-rules', rulesFile(header), 'auth', 'logout', basic.host]), /^Error: Nonexistent flags?: --break/)
    })
  })

  describe('what distribution answers, reported per changed request', () => {
    it('skip_auth: 401 UNAUTHORIZED, reported on stderr, then the error; no credential in any output', async () => {
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), '--debug-calls'])
      expect(result.code, result.stderr).to.equal(1)
      expect(reportLines(result)).to.deep.equal([
        `break: skip_auth: authorization: removed | GET /v2/${REPO}/tags/list (tag.list) → 401 UNAUTHORIZED`,
      ])
      expect(result.stderr.trimEnd().split('\n').at(-1)).to.match(/^Error: tag list .*: UNAUTHORIZED: authentication required$/)
      expectNoSecrets(result, [alice.password, BASE64_PAIR])
      expectNoStackTrace(result)
    })

    it('wrong_digest on blob get: the blob the registry does not have, 404 BLOB_UNKNOWN', async () => {
      const layer = seeded.bigLayer.digest
      const result = await regshape(['blob', 'get', `${basic.host}/${REPO}@${layer}`, '--break', '--break-rules', rulesFile('rules:\n  - use: wrong_digest\n    match: {operation: blob.get}\n')])
      expect(result.code, result.stderr).to.equal(1)
      const lines = reportLines(result)
      expect(lines.at(-1)).to.match(new RegExp(`^break: wrong_digest: digest: "${layer}" → "sha256:[0-9a-f]{64}" in the path \\| GET /v2/${REPO}/blobs/sha256:[0-9a-f]{64} \\(blob\\.get\\) → 404 BLOB_UNKNOWN$`))
      expect(lines.at(-1)).not.to.include(`/blobs/${layer}`)
      expect(result.stderr).to.match(/Error: blob get .*BLOB_UNKNOWN/)
    })

    it('expired_token against the token registry: 401; with --debug-calls, neither the token nor the password shows', async () => {
      const result = await regshape(['tag', 'list', `${token.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: expired_token\n    match: {operation: tag.list}\n'), '--debug-calls'])
      expect(result.code, result.stderr).to.equal(1)
      const lines = reportLines(result)
      expect(lines).to.have.length(2)
      for (const line of lines) expect(line).to.match(/^break: expired_token: [Aa]uthorization: .*"Bearer \*\*\*" \| GET .*\(tag\.list\) → 401 UNAUTHORIZED$/)
      expect(result.stderr).not.to.include(EXPIRED_TOKEN)
      expectNoSecrets(result, [alice.password, BASE64_PAIR])
    })

    it('every auth-changing rule, token exchange included, with --debug-calls and --json: no password, pair or token in any output', async () => {
      const rules = [
        'rules:',
        '  - {name: corrupt-token-request, match: {operation: token}, target: auth, action: corrupt}',
        '  - {name: append, match: {operation: tag.list}, target: auth, action: append, value: "-x"}',
        '  - {name: replace, match: {operation: tag.list}, limit: 1, target: auth, action: replace, value: "Basic c2VjcmV0OnNlY3JldA=="}',
        '  - {name: cookie, target: header, key: Cookie, action: replace, value: "session=hunter22"}',
      ].join('\n')
      for (const registry of [basic, token]) {
        for (const json of [[], ['--json']]) {
          const result = await regshape(['tag', 'list', `${registry.host}/${REPO}`, '--break', '--break-rules', rulesFile(rules), '--debug-calls', ...json])
          expect(result.code, result.stderr).to.equal(1)
          expect(reportLines(result).length).to.be.greaterThan(0)
          expectNoSecrets(result, [alice.password, BASE64_PAIR, 'c2VjcmV0OnNlY3JldA==', 'hunter22'])
        }
      }
    })
  })

  describe('--json and --log-file', () => {
    it('--json: stdout is one document holding the result and every changed request', async () => {
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: custom_header\n    key: X-Regshape-Probe\n    value: "1"\n'), '--json'])
      expect(result.code, result.stderr).to.equal(0)
      const document = JSON.parse(result.stdout)
      expect(Object.keys(document)).to.deep.equal(['result', 'mutations'])
      expect([...document.result.tags].sort()).to.deep.equal(seeded.tags)
      // The first GET is challenged (401), the second carries the credentials (200): both were changed.
      expect(document.mutations.map((m: {status: number}) => m.status)).to.deep.equal([401, 200])
      expect(document.mutations[0]).to.deep.include({change: 'X-Regshape-Probe: added → "1"', code: 'UNAUTHORIZED', method: 'GET', operation: 'tag.list', rule: 'custom_header', target: 'header', url: `/v2/${REPO}/tags/list`})
      expect(reportLines(result)).to.have.length(2)
    })

    it('--json on failure: the error object carries the mutations too', async () => {
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), '--json'])
      expect(result.code).to.equal(1)
      const error = JSON.parse(result.stdout)
      expect(error).to.deep.include({code: 'UNAUTHORIZED', status: 'error'})
      expect(error.mutations).to.have.length(1)
      expect(error.mutations[0]).to.deep.include({rule: 'skip_auth', status: 401, code: 'UNAUTHORIZED'})
    })

    it('a signature or credential in a changed URL is masked in the report, in --log-file and under --json', async () => {
      const signature = 'f00dfeed'.repeat(8)
      const credential = 'AKIABREAKEXAMPLE/20240101/us-east-1/s3/aws4_request'
      const sas = 'sasSIGNATURE+42/x='
      const rules = [
        'rules:',
        `  - {name: presign, match: {operation: tag.list}, target: query, key: X-Amz-Credential, action: append, value: "${credential}"}`,
        `  - {name: presign-sig, match: {operation: tag.list}, target: query, key: x-amz-signature, action: append, value: "${signature}"}`,
        `  - {name: sas, match: {operation: tag.list}, target: query, key: sig, action: append, value: "${sas}"}`,
      ].join('\n')
      const log = join(mkdtempSync(join(tmpdir(), 'regshape-log-')), 'break.log')
      const logged = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile(rules), '--log-file', log])
      const json = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile(rules), '--json'])
      const text = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile(rules)])
      for (const result of [logged, json, text]) expect(result.code, result.stderr).to.equal(0)
      const url = `/v2/${REPO}/tags/list?X-Amz-Credential=***&x-amz-signature=***&sig=***`
      const lines = readFileSync(log, 'utf8').trimEnd().split('\n')
      expect(lines).to.have.length(6)
      for (const line of [...lines, ...reportLines(text)]) expect(line).to.include(`| GET ${url} (tag.list)`)
      expect(JSON.parse(json.stdout).mutations.map((m: {url: string}) => m.url)).to.deep.equal(Array.from({length: 6}, () => url))
      for (const output of [readFileSync(log, 'utf8'), json.stdout, json.stderr, text.stderr]) {
        for (const secret of [signature, credential, encodeURIComponent(credential), sas, encodeURIComponent(sas)]) expect(output).not.to.include(secret)
      }
    })

    it('rules that grow the query: each line shows a bounded part of the URL, so the report grows with the rules, not their square', async () => {
      // 1000 parameters, each holding alice's password, which the lines of the answered request
      // must mask however they are cut. (The lines of the first, challenged request are written
      // before regshape has read the password from config.json: it is not a secret of the run yet.)
      const count = 1000
      const rules = Array.from({length: count}, (_, index) => ({action: 'append', key: `p${index}`, match: {operation: 'tag.list'}, name: `grow${index}`, target: 'query', value: alice.password}))
      const file = rulesFile(JSON.stringify({rules}), 'rules.json')
      const text = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', file])
      const json = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', file, '--json'])
      for (const result of [text, json]) expect(result.code, result.stderr).to.equal(0)
      const lines = reportLines(text)
      // Challenged, then answered: two requests, each changed by every rule.
      expect(lines).to.have.length(2 * count)
      const urls: string[] = JSON.parse(json.stdout).mutations.map((m: {url: string}) => m.url)
      expect(urls).to.have.length(2 * count)
      // Before, the last line held all 1000 parameters (about 10 kB) and the report about 10 MB.
      for (const shown of [...lines, ...urls]) expect(shown.length, shown.slice(0, 80)).to.be.below(1200)
      expect(lines.at(-1)).to.match(new RegExp(`^break: grow${count - 1}: query p${count - 1}: "\\*\\*\\*" appended \\| GET /v2/${REPO}/tags/list\\?p0=\\*\\*\\*&p1=\\*\\*\\*&\\S*… \\(tag\\.list\\) → 200$`))
      expect(urls.at(-1)).to.match(/^\/v2\/break\/app\/tags\/list\?p0=\*\*\*&\S*…$/)
      for (const shown of [...lines.slice(count), ...urls.slice(count)]) expect(shown).not.to.match(/s3c|3cr|cr3|r3t/)
    })

    it('--log-file: the report is appended to the file (mode 0600), not written to stderr', async () => {
      const log = join(mkdtempSync(join(tmpdir(), 'regshape-log-')), 'break.log')
      writeFileSync(log, 'earlier line\n', {mode: 0o600})
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), '--log-file', log])
      expect(result.code).to.equal(1)
      expect(reportLines(result)).to.deep.equal([])
      expect(readFileSync(log, 'utf8')).to.equal(`earlier line\nbreak: skip_auth: authorization: removed | GET /v2/${REPO}/tags/list (tag.list) → 401 UNAUTHORIZED\n`)
      expect(statSync(log).mode & 0o777).to.equal(0o600)
      const fresh = join(mkdtempSync(join(tmpdir(), 'regshape-log-')), 'new.log')
      await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), '--log-file', fresh])
      expect(statSync(fresh).mode & 0o777).to.equal(0o600)
      expectUsage(await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--break', '--break-rules', rulesFile('rules:\n  - use: skip_auth\n'), '--log-file', '/nonexistent-dir/x.log']), /--log-file \/nonexistent-dir\/x\.log: cannot write it \(ENOENT\)/)
    })
  })
})
