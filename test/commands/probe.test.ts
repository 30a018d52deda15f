import {expect} from 'chai'
import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'
import {type HostileServer, startHostile} from '../helpers/hostile.js'

/**
 * `regshape probe` against the REAL distribution 2.8 (Basic and token auth): the report, its JSON
 * and its JUnit agree; what distribution gets wrong (it appends an out-of-order PATCH) is reported
 * as a failure; everything pushed is removed. A node:http registry that accepts everything stands
 * for a registry with none of the checks, to show that the probe fails it where it must.
 */

const {alice} = USERS
const BASE64_PAIR = Buffer.from(`${alice.username}:${alice.password}`).toString('base64')
const ALL_CASES = [
  'blob-wrong-digest',
  'blob-corrupt-body',
  'blob-chunk-out-of-order',
  'manifest-blob-unknown',
  'manifest-content-type-mismatch',
  'manifest-oversized',
  'manifest-invalid-tag',
  'blob-head-unknown',
  'auth-missing',
  'auth-expired-token',
  'catalog-huge-n',
  'blob-mount-unreadable',
]

interface Report {
  cases: Array<{expected: string; got?: {code?: string; status: number}; mutations: Array<{rule: string}>; name: string; verdict: string}>
  cleanup: {left: unknown[]; removed: string[]}
  failed: number
  passed: number
  registry: string
  repository: string
  skipped: number
}

function loginConfig(...registries: Array<{host: string}>): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-probe-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(registries.map((r) => [r.host, {auth: BASE64_PAIR}]))}))
  return directory
}

function verdicts(report: Report): Record<string, string> {
  return Object.fromEntries(report.cases.map((c) => [c.name, c.verdict]))
}

/** The JUnit file's verdicts: a testcase with <failure> failed, with <skipped> skipped, else passed. */
function junitVerdicts(xml: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const match of xml.matchAll(/<testcase [^>]*name="([^"]+)"(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = match[3] ?? ''
    found[match[1]!] = body.includes('<failure') ? 'fail' : body.includes('<skipped') ? 'skip' : 'pass'
  }

  return found
}

/** The text table's verdicts: the last column of each row. */
function tableVerdicts(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const name = ALL_CASES.find((c) => line.startsWith(`${c} `))
    if (!name) continue
    const verdict = /\s(pass|FAIL|skip)(:.*)?$/.exec(line)?.[1]
    found[name] = verdict === 'FAIL' ? 'fail' : verdict!
  }

  return found
}

describe('probe', function () {
  let basic: RegistryHandle
  let token: RegistryHandle
  let config: string
  const regshape = (args: string[], dockerConfig = config) => runCli(args, {env: {DOCKER_CONFIG: dockerConfig}, timeoutMs: 60_000})

  before(async function () {
    this.timeout(120_000)
    basic = await basicRegistry()
    token = await tokenRegistry()
    config = loginConfig(basic, token)
  })

  for (const kind of ['Basic', 'token'] as const) {
    it(`against distribution 2.8 (${kind} auth): every case run, the out-of-order PATCH reported as a failure; text, JSON and JUnit agree`, async function () {
      this.timeout(120_000)
      const registry = kind === 'Basic' ? basic : token
      const repository = `probe/${kind.toLowerCase()}`
      const junit = join(mkdtempSync(join(tmpdir(), 'regshape-junit-')), 'probe.xml')
      const mark = registry.markLogs()
      const json = await regshape(['probe', `${registry.host}/${repository}`, '--json', '--junit', junit])
      expect(json.code, json.stderr).to.equal(1)
      const report = JSON.parse(json.stdout) as Report
      expect(report.cases.map((c) => c.name)).to.deep.equal(ALL_CASES)
      const expected = Object.fromEntries(ALL_CASES.map((name) => [name, name === 'blob-chunk-out-of-order' ? 'fail' : 'pass']))
      expect(verdicts(report)).to.deep.equal(expected)
      expect(report.cases.find((c) => c.name === 'blob-chunk-out-of-order')!.got).to.deep.equal({status: 202})
      expect(report.cases.find((c) => c.name === 'blob-wrong-digest')!.got).to.deep.equal({code: 'DIGEST_INVALID', status: 400})
      expect(report.cases.find((c) => c.name === 'manifest-blob-unknown')!.got?.code).to.equal('MANIFEST_BLOB_UNKNOWN')
      expect(report.cases.find((c) => c.name === 'manifest-content-type-mismatch')!.got).to.deep.equal({code: 'MANIFEST_INVALID', status: 400})
      expect(report.cases.find((c) => c.name === 'auth-missing')!.mutations.map((m) => m.rule)).to.include('skip_auth')
      expect([report.passed, report.failed, report.skipped]).to.deep.equal([11, 1, 0])
      expect(junitVerdicts(readFileSync(junit, 'utf8'))).to.deep.equal(expected)
      expect(readFileSync(junit, 'utf8')).to.match(/<testsuites name="regshape probe" tests="12" failures="1" skipped="0">/)

      // The text report says the same.
      const text = await regshape(['probe', `${registry.host}/${repository}`])
      expect(text.code).to.equal(1)
      expect(tableVerdicts(text.stdout)).to.deep.equal(expected)
      expect(text.stdout).to.match(/^11 passed, 1 failed, 0 skipped$/m)

      // Cleaned up: the two blobs it pushed were deleted (202), and nothing is tagged.
      expect(report.cleanup.left).to.deep.equal([])
      expect(report.cleanup.removed).to.have.length(2)
      const deletes = registry.requestLog(mark).filter((entry) => entry.method === 'DELETE' && /\/blobs\/sha256:/.test(entry.path))
      expect(deletes.map((entry) => entry.status)).to.include(202)
      for (const item of report.cleanup.removed) {
        const digest = item.replace(/^blob /, '')
        const head = await regshape(['blob', 'head', `${registry.host}/${repository}@${digest}`])
        expect(head.code, `${digest} is still there`).to.equal(1)
        expect(head.stderr).to.match(/BLOB_UNKNOWN/)
      }

      const tags = await regshape(['tag', 'list', `${registry.host}/${repository}`])
      expect(tags.stdout).to.equal('')
    })
  }

  it('--case runs only the cases named; an unknown case is exit 2 before any request', async () => {
    const some = await regshape(['probe', `${basic.host}/probe/some`, '--case', 'blob-head-unknown', '--case', 'auth-missing', '--json'])
    expect(some.code, some.stderr).to.equal(0)
    const report = JSON.parse(some.stdout) as Report
    expect(report.cases.map((c) => c.name)).to.deep.equal(['blob-head-unknown', 'auth-missing'])
    expect(report.cleanup.removed).to.deep.equal([])
    const mark = basic.markLogs()
    const unknown = await regshape(['probe', `${basic.host}/probe/some`, '--case', 'no-such-case'])
    expect(unknown.code).to.equal(2)
    expect(unknown.stderr).to.match(/^Error: no probe case "no-such-case"; the cases are blob-wrong-digest, /)
    expect(basic.requestLog(mark)).to.deep.equal([])
  })

  it('--junit where the report cannot be written (a missing directory, a directory) is exit 2 before any request', async () => {
    // Found out after the run, the whole probe was lost (exit 1 once every case had been sent).
    const mark = basic.markLogs()
    const missing = join(mkdtempSync(join(tmpdir(), 'regshape-junit-')), 'no-such-directory', 'probe.xml')
    const intoMissing = await regshape(['probe', `${basic.host}/probe/junit`, '--junit', missing])
    expect(intoMissing.code, intoMissing.stderr).to.equal(2)
    expect(intoMissing.stdout).to.equal('')
    expect(intoMissing.stderr).to.equal(`Error: cannot write --junit ${missing}: ENOENT\n`)
    const directory = mkdtempSync(join(tmpdir(), 'regshape-junit-'))
    const ontoDirectory = await regshape(['probe', `${basic.host}/probe/junit`, '--json', '--junit', directory])
    expect(ontoDirectory.code, ontoDirectory.stderr).to.equal(2)
    expect(JSON.parse(ontoDirectory.stdout).error).to.equal(`cannot write --junit ${directory}: EISDIR`)
    expect(readdirSync(directory)).to.deep.equal([])
    expect(basic.requestLog(mark)).to.deep.equal([])
  })

  it('takes no break-mode flags: it brings its own rules', async () => {
    const result = await regshape(['probe', `${basic.host}/probe/x`, '--break'])
    expect(result.code).to.equal(2)
    expect(result.stderr).to.match(/^Error: .*--break/)
    expectNoStackTrace(result)
  })

  it('with --debug-calls, no password, Basic pair or token appears anywhere', async function () {
    this.timeout(60_000)
    for (const registry of [basic, token]) {
      const result = await regshape(['probe', `${registry.host}/probe/secrets`, '--debug-calls', '--case', 'auth-missing', '--case', 'auth-expired-token', '--case', 'blob-wrong-digest'])
      expect(result.code, result.stderr).to.equal(0)
      expectNoSecrets(result, [alice.password, BASE64_PAIR])
      // Tokens are JWTs (the fixture token server issues them): none may show.
      expect(`${result.stdout}${result.stderr}`).not.to.match(/eyJ[\w-]{10,}\.[\w-]{10,}/)
    }
  })

  describe('against a registry that accepts everything', () => {
    let lax: HostileServer
    let elsewhere: HostileServer
    let redirectUploads = false
    /** Upload sessions whose URL echoes the credentials and carries a signature; their PUT answers too much. */
    let echoUploads = false
    const SIGNATURE = 'beefcafe'.repeat(8)

    before(async () => {
      elsewhere = await startHostile((_request, response) => {
        response.writeHead(202, {location: '/v2/x/blobs/uploads/y'})
        response.end()
      })
      // Stands for a registry without any of the checks: it wants some Authorization, any will do,
      // and then takes every upload, chunk, manifest, tag and mount.
      lax = await startHostile((request: IncomingMessage, response: ServerResponse) => {
        request.resume()
        request.on('end', () => {
          const url = request.url ?? ''
          if (!request.headers.authorization) {
            response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Basic realm="lax"'})
            response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
            return
          }

          if (request.method === 'POST' && url.includes('mount=')) {
            response.writeHead(201, {location: '/v2/mounted'})
            response.end()
          } else if (request.method === 'POST' && echoUploads) {
            // The decoded Authorization in the session's state, beside a storage signature: it
            // stands for a registry that puts what it was sent, or a signed URL, in a Location.
            const decoded = Buffer.from(request.headers.authorization.slice(6), 'base64').toString('utf8')
            response.writeHead(202, {location: `/v2/lax/blobs/uploads/session?_state=${encodeURIComponent(decoded)}&X-Amz-Signature=${SIGNATURE}`, range: '0-0'})
            response.end()
          } else if (request.method === 'PUT' && echoUploads) {
            // More than a response may hold: the error that follows quotes the session's URL.
            response.writeHead(201, {'content-type': 'application/json'})
            response.end(Buffer.alloc(5 * 1024 * 1024, 0x20))
          } else if (request.method === 'POST') {
            response.writeHead(202, {location: redirectUploads ? `${elsewhere.origin}/v2/x/blobs/uploads/y` : '/v2/lax/blobs/uploads/session?_state=1', range: '0-0'})
            response.end()
          } else if (request.method === 'PATCH') {
            response.writeHead(202, {location: '/v2/lax/blobs/uploads/session?_state=2', range: '0-999'})
            response.end()
          } else if (request.method === 'PUT' || request.method === 'DELETE') {
            response.writeHead(request.method === 'PUT' ? 201 : 202)
            response.end()
          } else if (url.startsWith('/v2/_catalog')) {
            response.writeHead(200, {'content-type': 'application/json'})
            response.end('{"repositories":["lax"]}')
          } else {
            response.writeHead(200, {'content-type': 'application/json'})
            response.end(request.method === 'HEAD' ? undefined : '{"name":"lax","tags":[]}')
          }
        })
      })
    })

    after(async () => {
      await lax.close()
      await elsewhere.close()
    })

    it('fails every case such a registry gets wrong, and exits 1', async () => {
      const result = await regshape(['probe', `${lax.host}/lax`, '--json'], loginConfig(lax))
      expect(result.code, result.stderr).to.equal(1)
      const report = JSON.parse(result.stdout) as Report
      expect(verdicts(report)).to.deep.equal({
        'auth-expired-token': 'fail',
        'auth-missing': 'pass',
        'blob-chunk-out-of-order': 'fail',
        'blob-corrupt-body': 'fail',
        'blob-head-unknown': 'fail',
        'blob-mount-unreadable': 'fail',
        'blob-wrong-digest': 'fail',
        'catalog-huge-n': 'pass',
        'manifest-blob-unknown': 'fail',
        'manifest-content-type-mismatch': 'fail',
        'manifest-invalid-tag': 'fail',
        'manifest-oversized': 'fail',
      })
      // What it wrongly took is removed too.
      expect(report.cleanup.left).to.deep.equal([])
      expect(report.cleanup.removed.length).to.be.greaterThan(2)
    })

    it('talks only to the registry named: an upload session elsewhere ends the case, and elsewhere hears nothing', async () => {
      redirectUploads = true
      try {
        const result = await regshape(['probe', `${lax.host}/lax`, '--json', '--case', 'blob-wrong-digest'], loginConfig(lax))
        const report = JSON.parse(result.stdout) as Report
        expect(report.cases[0]).to.deep.include({name: 'blob-wrong-digest', verdict: 'skip'})
        expect(JSON.stringify(report.cases[0])).to.match(/another origin/)
        expect(elsewhere.requests).to.deep.equal([])
      } finally {
        redirectUploads = false
      }
    })
    it('a failure that quotes an upload URL: the credentials and signature in it are masked in the JSON report and the JUnit file', async () => {
      echoUploads = true
      try {
        const junit = join(mkdtempSync(join(tmpdir(), 'regshape-junit-')), 'probe.xml')
        const result = await regshape(['probe', `${lax.host}/lax`, '--json', '--junit', junit, '--case', 'blob-wrong-digest'], loginConfig(lax))
        expect(result.code, result.stderr).to.equal(1)
        const report = JSON.parse(result.stdout) as Report & {cases: Array<{detail?: string}>}
        expect(report.cases[0].detail).to.match(/^response from http:\/\/.*\/v2\/lax\/blobs\/uploads\/session\?_state=\*\*\*&X-Amz-Signature=\*\*\*&digest=.* is larger than/)
        const xml = readFileSync(junit, 'utf8')
        expect(xml).to.include('_state=***&#38;X-Amz-Signature=***&#38;digest=')
        for (const output of [result.stdout, result.stderr, xml]) {
          for (const secret of [alice.password, `${alice.username}%3A${alice.password}`, SIGNATURE]) expect(output).not.to.include(secret)
        }
      } finally {
        echoUploads = false
      }
    })
  })

  it('a registry that cannot be reached: exit 1 with one Error: line', async () => {
    const result: CliResult = await regshape(['probe', '127.0.0.1:1/probe/x'])
    expect(result.code).to.equal(1)
    expect(result.stdout).to.equal('')
    expect(result.stderr.trim().split('\n')).to.have.length(1)
    expect(result.stderr).to.match(/^Error: /)
    expectNoStackTrace(result)
  })
})
