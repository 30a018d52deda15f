import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, type Server, createServer, request as httpRequest} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {ImagePusher, MEDIA} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import type {AccessLogEntry, RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'
import {runOnPty} from '../helpers/pty.js'

/**
 * blob upload, blob mount and blob delete against the real distribution registry (Basic and
 * token auth), with bytes read back by plain node:http and by skopeo, request shapes from the
 * registry's access log; node:http servers only for what distribution does not do.
 */

const {alice, reader} = USERS
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
const basicAuth = (user: {password: string; username: string}) => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`

function loginConfig(registries: RegistryHandle[], user: {password: string; username: string} = alice): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-blobput-'))
  const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64')
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(registries.map((r) => [r.host, {auth}]))}))
  return directory
}

function tempFile(bytes: Buffer, name = 'blob.bin'): string {
  const file = join(mkdtempSync(join(tmpdir(), 'regshape-src-')), name)
  writeFileSync(file, bytes)
  return file
}

interface Answer {
  body: Buffer
  headers: IncomingMessage['headers']
  status: number
}

/** One request with plain node:http: regshape's code plays no part in what it reads. */
function plain(method: string, url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const request = httpRequest(url, {headers, method}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolvePromise({body: Buffer.concat(chunks), headers: response.headers, status: response.statusCode ?? 0}))
    })
    request.on('error', reject)
    request.end(body)
  })
}

/** The blob as the registry serves it, fetched with Basic credentials or a token for `repo`. */
async function fetchBlob(registry: RegistryHandle, repo: string, digest: string): Promise<Answer> {
  const authorization =
    registry.authKind === 'token' ? `Bearer ${registry.tokenServer!.mintToken('alice', [{actions: ['pull'], name: repo, type: 'repository'}])}` : basicAuth(alice)
  return plain('GET', `${registry.url}/v2/${repo}/blobs/${digest}`, {authorization})
}

/** Method, path without its query, status, and the query's names: the shape of a request. */
function shapes(entries: AccessLogEntry[]): string[] {
  return entries.map((entry) => {
    const [path, query] = entry.path.split('?')
    const names = query === undefined ? '' : `?${[...new URLSearchParams(query).keys()].join('&')}`
    return `${entry.method} ${path.replace(/uploads\/[0-9a-f-]{36}/, 'uploads/<uuid>')}${names} ${entry.status}`
  })
}

function expectOneErrorLine(result: CliResult, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(1)
  expect(result.stdout).to.equal('')
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).to.have.length(1)
  expect(lines[0], result.stderr).to.match(pattern)
  expectNoStackTrace(result)
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
  return (server.address() as AddressInfo).port
}

/** Waits until the registry's access log has settled (it is written after the response). */
async function settledLog(registry: RegistryHandle, mark: number, count: number): Promise<AccessLogEntry[]> {
  const deadline = Date.now() + 2000
  while (registry.requestLog(mark).length < count && Date.now() < deadline) await new Promise((resolvePromise) => setTimeout(resolvePromise, 20))
  return registry.requestLog(mark)
}

describe('blob upload, mount and delete: the real registry', function () {
  this.timeout(120_000)
  let basic: RegistryHandle
  let config: string
  /** 3 MB and 5 bytes: not a multiple of any chunk size used here. */
  const bytes = randomBytes(3_000_005)
  const digest = sha256(bytes)
  let file: string

  before(async () => {
    basic = await basicRegistry()
    config = loginConfig([basic])
    file = tempFile(bytes)
  })

  const run = (args: string[], options: {env?: NodeJS.ProcessEnv; stdin?: Buffer} = {}) => runCli(args, {env: {DOCKER_CONFIG: config, ...options.env}, stdin: options.stdin})

  it('without --digest: POST, one streamed PATCH, PUT ?digest= of what the bytes hashed to; the registry serves exactly the bytes', async () => {
    const mark = basic.markLogs()
    const result = await run(['blob', 'upload', `${basic.host}/up/plain`, '-f', file])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.equal('')
    const json = JSON.parse(result.stdout)
    expect(json).to.deep.equal({digest, location: `${basic.url}/v2/up/plain/blobs/${digest}`, size: bytes.length})
    const log = await settledLog(basic, mark, 4)
    expect(shapes(log)).to.deep.equal([
      'POST /v2/up/plain/blobs/uploads/ 401',
      'POST /v2/up/plain/blobs/uploads/ 202',
      'PATCH /v2/up/plain/blobs/uploads/<uuid>?_state 202',
      'PUT /v2/up/plain/blobs/uploads/<uuid>?_state&digest 201',
    ])
    // The PATCH carried the bytes, the PUT none, and the PUT named the digest.
    expect(log[2].bytes === 0 || log[2].bytes <= 100, 'PATCH response is small').to.equal(true)
    expect(new URLSearchParams(log[3].path.split('?')[1]).get('digest')).to.equal(digest)
    const served = await fetchBlob(basic, 'up/plain', digest)
    expect(served.status).to.equal(200)
    expect(served.body.equals(bytes)).to.equal(true)
  })

  it('with --digest: POST then one PUT ?digest= carrying the bytes (monolithic), and --progress plain prints one line', async () => {
    const mark = basic.markLogs()
    const result = await run(['blob', 'upload', '-r', `${basic.host}/up/mono`, '-f', file, '-d', digest, '--progress', 'plain'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal({digest, location: `${basic.url}/v2/up/mono/blobs/${digest}`, size: bytes.length})
    expect(result.stderr).to.match(new RegExp(`^${digest.slice(0, 19)}: ${bytes.length} bytes in \\d+\\.\\d s\\n$`))
    expect(shapes(await settledLog(basic, mark, 3))).to.deep.equal([
      'POST /v2/up/mono/blobs/uploads/ 401',
      'POST /v2/up/mono/blobs/uploads/ 202',
      'PUT /v2/up/mono/blobs/uploads/<uuid>?_state&digest 201',
    ])
    expect((await fetchBlob(basic, 'up/mono', digest)).body.equals(bytes)).to.equal(true)
  })

  it('--chunked --chunk-size: PATCH after PATCH, then PUT; the blob is whole', async () => {
    const mark = basic.markLogs()
    const result = await run(['blob', 'upload', `${basic.host}/up/chunks`, '-f', file, '--chunked', '--chunk-size', '1000000'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.include({digest, size: bytes.length})
    const log = shapes(await settledLog(basic, mark, 7))
    // 3 000 005 bytes in chunks of 1 000 000: four PATCHes, the last of 5 bytes.
    expect(log.filter((line) => line.startsWith('PATCH'))).to.have.length(4)
    expect(log.at(-1)).to.equal('PUT /v2/up/chunks/blobs/uploads/<uuid>?_state&digest 201')
    expect((await fetchBlob(basic, 'up/chunks', digest)).body.equals(bytes)).to.equal(true)
  })

  it('-f - reads stdin, with and without --digest, and in chunks', async () => {
    const small = randomBytes(70_001)
    for (const extra of [[], ['-d', sha256(small)], ['--chunked', '--chunk-size', '30000']]) {
      const result = await run(['blob', 'upload', `${basic.host}/up/stdin`, '-f', '-', ...extra], {stdin: small})
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.include({digest: sha256(small), size: small.length})
    }

    expect((await fetchBlob(basic, 'up/stdin', sha256(small))).body.equals(small)).to.equal(true)
  })

  it('--progress auto draws a bar on a terminal, on stderr', async () => {
    const result = await runOnPty(['blob', 'upload', `${basic.host}/up/bar`, '-f', file], [], {DOCKER_CONFIG: config, HOME: mkdtempSync(join(tmpdir(), 'regshape-home-'))})
    expect(result.code, result.transcript).to.equal(0)
    expect(result.transcript).to.include('100%').and.to.include(`${bytes.length}/${bytes.length} bytes`)
    expect((await fetchBlob(basic, 'up/bar', digest)).body.equals(bytes)).to.equal(true)
  })

  it('an empty file is a blob of 0 bytes', async () => {
    const empty = Buffer.alloc(0)
    const result = await run(['blob', 'upload', `${basic.host}/up/empty`, '-f', tempFile(empty), '--chunked'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.include({digest: sha256(empty), size: 0})
  })

  it('a wrong --digest is the registry DIGEST_INVALID: exit 1, one line with the code, nothing stored under either digest', async () => {
    const wrong = `sha256:${'1'.repeat(64)}`
    for (const extra of [[], ['--chunked', '--chunk-size', '2000000']]) {
      const mark = basic.markLogs()
      const result = await run(['blob', 'upload', `${basic.host}/up/wrong`, '-f', file, '-d', wrong, ...extra])
      expectOneErrorLine(result, new RegExp(`^Error: blob upload ${basic.host}/up/wrong: DIGEST_INVALID: .* \\(the bytes sent hash to ${digest}\\)$`))
      const log = await settledLog(basic, mark, 3)
      expect(log.some((entry) => entry.method === 'PUT' && entry.status === 400), shapes(log).join('\n')).to.equal(true)
    }

    const json = await run(['--json', 'blob', 'upload', `${basic.host}/up/wrong`, '-f', file, '-d', wrong])
    expect(json.code).to.equal(1)
    expect(JSON.parse(json.stdout)).to.include({code: 'DIGEST_INVALID', status: 'error'})
    for (const name of [wrong, digest]) expect((await fetchBlob(basic, 'up/wrong', name)).status).to.equal(404)
  })

  it('--break with a rule on operation blob.upload, method PUT: the digest in the closing PUT is changed, and the registry says DIGEST_INVALID', async () => {
    const rules = join(mkdtempSync(join(tmpdir(), 'regshape-rules-')), 'rules.yaml')
    writeFileSync(rules, 'rules:\n  - use: wrong_digest\n    match: {operation: blob.upload, method: PUT}\n')
    const result = await run(['blob', 'upload', `${basic.host}/up/broken`, '-f', file, '--break', '--break-rules', rules])
    expect(result.code, result.stderr).to.equal(1)
    expect(result.stderr).to.match(/^break: wrong_digest: digest: .* \(blob\.upload\) → 400 DIGEST_INVALID$/m)
    expect(result.stderr).to.match(/^Error: blob upload .*: DIGEST_INVALID: /m)
    expect((await fetchBlob(basic, 'up/broken', digest)).status).to.equal(404)
  })

  it('a missing file, a directory or an unreadable file: exit 1, one line, and no request at all', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-src-'))
    const unreadable = join(directory, 'secret.bin')
    writeFileSync(unreadable, 'x')
    chmodSync(unreadable, 0o000)
    const cases: Array<[string, string]> = [
      [join(directory, 'missing.bin'), 'no such file'],
      [directory, 'is a directory'],
    ]
    // root reads any file whatever its mode: the unreadable case only means something for other users.
    if (process.getuid?.() !== 0) cases.push([unreadable, 'permission denied'])
    for (const [path, reason] of cases) {
      const mark = basic.markLogs()
      const result = await run(['blob', 'upload', `${basic.host}/up/nofile`, '-f', path])
      expectOneErrorLine(result, new RegExp(`^Error: blob upload ${basic.host}/up/nofile: cannot read ${path.replaceAll('/', '\\/')}: ${reason}$`))
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 100))
      expect(basic.requestLog(mark)).to.deep.equal([])
    }
  })

  it('usage errors exit 2 before any request: a tag, --resume with stdin, a bad digest', async () => {
    const mark = basic.markLogs()
    for (const args of [
      ['blob', 'upload', `${basic.host}/up/x:latest`, '-f', file],
      ['blob', 'upload', `${basic.host}/up/x`, '-f', '-', '--resume', `${basic.url}/v2/up/x/blobs/uploads/abc`],
      ['blob', 'upload', `${basic.host}/up/x`, '-f', file, '-d', 'sha256:abc'],
      ['blob', 'upload', '-f', file],
    ]) {
      const result = await run(args)
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).to.equal(2)
      expect(result.stderr.trimEnd().split('\n')).to.have.length(1)
      expect(result.stderr).to.match(/^Error: /)
    }

    expect(basic.requestLog(mark)).to.deep.equal([])
  })

  describe('--resume', () => {
    /** A session another client opened and left after its first chunk: plain node:http. */
    async function abandonedSession(repo: string, first: Buffer): Promise<string> {
      const started = await plain('POST', `${basic.url}/v2/${repo}/blobs/uploads/`, {authorization: basicAuth(alice)})
      expect(started.status).to.equal(202)
      const patched = await plain(
        'PATCH',
        new URL(started.headers.location!, basic.url).toString(),
        {authorization: basicAuth(alice), 'content-length': String(first.length), 'content-range': `0-${first.length - 1}`, 'content-type': 'application/octet-stream'},
        first,
      )
      expect(patched.status).to.equal(202)
      return new URL(patched.headers.location!, basic.url).toString()
    }

    it('continues a broken chunked upload from the offset the session reports (GET on its Location)', async () => {
      const location = await abandonedSession('up/resume', bytes.subarray(0, 1_200_000))
      const mark = basic.markLogs()
      const result = await run(['blob', 'upload', `${basic.host}/up/resume`, '-f', file, '--resume', location, '--chunk-size', '1000000'])
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.include({digest, size: bytes.length})
      const log = shapes(await settledLog(basic, mark, 5))
      expect(log[0]).to.match(/^GET \/v2\/up\/resume\/blobs\/uploads\/<uuid>\?_state (401|204)$/)
      // 1 800 005 bytes were left: two PATCHes of 1 000 000 and 800 005. Nothing was sent twice.
      expect(log.filter((line) => line.startsWith('PATCH'))).to.have.length(2)
      expect((await fetchBlob(basic, 'up/resume', digest)).body.equals(bytes)).to.equal(true)
    })

    it('a session that expired or was cancelled: exit 1 with BLOB_UPLOAD_UNKNOWN and what it means', async () => {
      const location = await abandonedSession('up/gone', bytes.subarray(0, 1000))
      expect((await plain('DELETE', location, {authorization: basicAuth(alice)})).status).to.equal(204)
      const result = await run(['blob', 'upload', `${basic.host}/up/gone`, '-f', file, '--resume', location])
      expectOneErrorLine(result, new RegExp(`^Error: blob upload ${basic.host}/up/gone: BLOB_UPLOAD_UNKNOWN: .*\\(the upload session expired or was cancelled; start the upload again\\)$`))
    })
  })

  describe('blob mount', () => {
    let source: string

    before(async () => {
      source = 'mount/source'
      await new ImagePusher(basic).blob(source, bytes)
    })

    it('201: POST ?mount=&from= mounts the blob, with nothing uploaded', async () => {
      const mark = basic.markLogs()
      const result = await run(['blob', 'mount', `${basic.host}/mount/target@${digest}`, '--from-repo', source])
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal({digest, location: `${basic.url}/v2/mount/target/blobs/${digest}`, status: 'mounted'})
      const log = await settledLog(basic, mark, 2)
      expect(shapes(log)).to.deep.equal(['POST /v2/mount/target/blobs/uploads/?from&mount 401', 'POST /v2/mount/target/blobs/uploads/?from&mount 201'])
      const query = new URLSearchParams(log[1].path.split('?')[1])
      expect([query.get('mount'), query.get('from')]).to.deep.equal([digest, source])
      expect((await fetchBlob(basic, 'mount/target', digest)).body.equals(bytes)).to.equal(true)
    })

    it('202 without -f (the source lacks the blob): the session is cancelled (DELETE), exit 1 "the registry refused the mount"', async () => {
      const mark = basic.markLogs()
      const result = await run(['blob', 'mount', '-r', `${basic.host}/mount/refused`, '-d', digest, '--from-repo', 'mount/empty'])
      expectOneErrorLine(result, new RegExp(`^Error: blob mount ${basic.host}/mount/refused@${digest} from mount/empty: the registry refused the mount \\(`))
      expect(shapes(await settledLog(basic, mark, 3))).to.deep.equal([
        'POST /v2/mount/refused/blobs/uploads/?from&mount 401',
        'POST /v2/mount/refused/blobs/uploads/?from&mount 202',
        'DELETE /v2/mount/refused/blobs/uploads/<uuid>?_state 204',
      ])
      expect((await fetchBlob(basic, 'mount/refused', digest)).status).to.equal(404)
    })

    it('202 with -f: the blob is uploaded into the session the registry opened', async () => {
      const mark = basic.markLogs()
      const result = await run(['blob', 'mount', `${basic.host}/mount/uploaded@${digest}`, '--from-repo', 'mount/empty', '-f', file])
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal({digest, location: `${basic.url}/v2/mount/uploaded/blobs/${digest}`, size: bytes.length, status: 'uploaded'})
      expect(shapes(await settledLog(basic, mark, 3)).at(-1)).to.equal('PUT /v2/mount/uploaded/blobs/uploads/<uuid>?_state&digest 201')
      expect((await fetchBlob(basic, 'mount/uploaded', digest)).body.equals(bytes)).to.equal(true)
    })

    it('202 with -f of other bytes: DIGEST_INVALID, exit 1', async () => {
      const result = await run(['blob', 'mount', `${basic.host}/mount/other@${digest}`, '--from-repo', 'mount/empty', '-f', tempFile(Buffer.from('not the blob'))])
      expectOneErrorLine(result, /DIGEST_INVALID/)
      expect((await fetchBlob(basic, 'mount/other', digest)).status).to.equal(404)
    })
  })

  describe('blob delete', () => {
    it('DELETE answers 202: the blob is gone', async () => {
      const pushed = await new ImagePusher(basic).blob('del/app', randomBytes(1000))
      expect((await fetchBlob(basic, 'del/app', pushed.digest)).status).to.equal(200)
      const mark = basic.markLogs()
      const result = await run(['blob', 'delete', `${basic.host}/del/app@${pushed.digest}`])
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal({digest: pushed.digest, status: 'deleted'})
      expect(shapes(await settledLog(basic, mark, 2)).at(-1)).to.equal(`DELETE /v2/del/app/blobs/${pushed.digest} 202`)
      expect((await fetchBlob(basic, 'del/app', pushed.digest)).status).to.equal(404)
      const again = await run(['--json', 'blob', 'delete', '-r', `${basic.host}/del/app`, '-d', pushed.digest])
      expect(again.code).to.equal(1)
      expect(JSON.parse(again.stdout)).to.include({code: 'BLOB_UNKNOWN'})
    })

    it('a tag instead of a digest exits 2 before any request', async () => {
      const mark = basic.markLogs()
      const result = await run(['blob', 'delete', `${basic.host}/del/app:latest`])
      expect(result.code).to.equal(2)
      expect(result.stderr).to.match(/^Error: invalid reference .*a digest is required here/)
      expect(basic.requestLog(mark)).to.deep.equal([])
    })
  })

  it('skopeo copies an image whose blobs regshape uploaded, and gets back exactly those bytes', async () => {
    const layer = randomBytes(200_000)
    const imageConfig = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: [sha256(layer)], type: 'layers'}}))
    for (const [blob, extra] of [[layer, ['--chunked', '--chunk-size', '65536']], [imageConfig, []]] as const) {
      const result = await run(['blob', 'upload', `${basic.host}/witness/pushed`, '-f', tempFile(blob), ...extra])
      expect(result.code, result.stderr).to.equal(0)
    }

    const manifest = Buffer.from(
      JSON.stringify({
        config: {digest: sha256(imageConfig), mediaType: MEDIA.ociConfig, size: imageConfig.length},
        layers: [{digest: sha256(layer), mediaType: MEDIA.ociLayer, size: layer.length}],
        mediaType: MEDIA.ociManifest,
        schemaVersion: 2,
      }),
    )
    await new ImagePusher(basic).manifest('witness/pushed', 'v1', manifest, MEDIA.ociManifest)
    const directory = join(mkdtempSync(join(tmpdir(), 'regshape-skopeo-')), 'image')
    const copied = await runProcess('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', `${alice.username}:${alice.password}`, `docker://${basic.host}/witness/pushed:v1`, `dir:${directory}`], {env: {HOME: tmpdir(), PATH: process.env.PATH}})
    expect(copied.code, copied.stderr).to.equal(0)
    expect(readFileSync(join(directory, sha256(layer).slice(7))).equals(layer)).to.equal(true)
    expect(readFileSync(join(directory, sha256(imageConfig).slice(7))).equals(imageConfig)).to.equal(true)
  })
})

describe('blob upload, mount and delete: token auth and scopes', function () {
  this.timeout(120_000)
  let token: RegistryHandle & {tokenServer: NonNullable<RegistryHandle['tokenServer']>}
  const bytes = randomBytes(100_003)
  const digest = sha256(bytes)
  let file: string

  before(async () => {
    token = await tokenRegistry()
    file = tempFile(bytes)
  })

  const scopes = () => token.tokenServer.requests.flatMap((request) => request.scopes)

  it('an upload asks for pull,push on the repository, and only that', async () => {
    token.tokenServer.reset()
    const result = await runCli(['blob', 'upload', `${token.host}/tok/app`, '-f', file, '--chunked', '--chunk-size', '40000'], {env: {DOCKER_CONFIG: loginConfig([token])}})
    expect(result.code, result.stderr).to.equal(0)
    expect([...new Set(scopes())]).to.deep.equal(['repository:tok/app:pull,push'])
    // One token for the whole upload: POST, three PATCHes and the PUT share it.
    expect(token.tokenServer.requests).to.have.length(1)
    expect((await fetchBlob(token, 'tok/app', digest)).body.equals(bytes)).to.equal(true)
  })

  it('--debug-calls of an upload shows the requests, never the password or the token', async () => {
    const result = await runCli(['blob', 'upload', `${token.host}/tok/debug`, '-f', file, '--chunked', '--chunk-size', '60000', '--debug-calls', '-u', alice.username, '-p', alice.password])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.include('* PATCH ').and.to.include('content-range: 0-59999').and.to.include('<streamed body of 60000 bytes>')
    const tokens = token.tokenServer.issuedTokens.slice(-2)
    expectNoSecrets(result, [alice.password, ...tokens])
  })

  it('a pull-only user: one clear denied error, exit 1, and nothing written', async () => {
    const mark = token.markLogs()
    const result = await runCli(['blob', 'upload', `${token.host}/tok/denied`, '-f', file], {env: {DOCKER_CONFIG: loginConfig([token], reader)}})
    expectOneErrorLine(result, new RegExp(`^Error: blob upload ${token.host}/tok/denied: UNAUTHORIZED: .*\\(push on tok/denied was not granted to these credentials\\)$`))
    expectNoSecrets(result, [reader.password])
    const log = await settledLog(token, mark, 2)
    expect(log.map((entry) => entry.method)).to.deep.equal(['POST', 'POST'])
    expect((await fetchBlob(token, 'tok/denied', digest)).status).to.equal(404)
  })

  it('a mount asks for pull,push on the target and pull on the source', async () => {
    await new ImagePusher(token).blob('tok/source', bytes)
    token.tokenServer.reset()
    const result = await runCli(['blob', 'mount', `${token.host}/tok/target@${digest}`, '--from-repo', 'tok/source'], {env: {DOCKER_CONFIG: loginConfig([token])}})
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.include({status: 'mounted'})
    expect(scopes()).to.have.members(['repository:tok/target:pull,push', 'repository:tok/source:pull'])
    // As docker sends them: one `scope` parameter each, not one parameter holding both.
    expect(token.tokenServer.requests.map((request) => request.query.scope)).to.deep.equal([['repository:tok/target:pull,push', 'repository:tok/source:pull']])
  })

  for (const [who, repository] of [['a user who cannot pull the source', 'tok/target2'], ['a pull-only user', 'tok/target3']] as const) {
    it(`a mount by ${who}: denied, naming both rights a mount needs, and nothing mounted`, async () => {
      // mounter may push to the target but not read the source; reader may read anything and push nothing.
      const mounter = {password: 'm0unt', username: 'mounter'}
      token.tokenServer.addUser(mounter.username, {access: [{actions: ['pull', 'push'], repo: 'tok/target2'}], password: mounter.password})
      const user = repository === 'tok/target2' ? mounter : reader
      const mark = token.markLogs()
      const result = await runCli(['blob', 'mount', `${token.host}/${repository}@${digest}`, '--from-repo', 'tok/source'], {env: {DOCKER_CONFIG: loginConfig([token], user)}})
      expectOneErrorLine(result, new RegExp(`UNAUTHORIZED: .*\\(a mount needs push on ${repository} and pull on tok/source; these credentials were not granted both\\)$`))
      expect((await settledLog(token, mark, 2)).map((entry) => entry.method)).to.deep.equal(['POST', 'POST'])
      expect((await fetchBlob(token, repository, digest)).status).to.equal(404)
    })
  }

  it('a delete asks for delete on the repository', async () => {
    const pushed = await new ImagePusher(token).blob('tok/del', randomBytes(500))
    token.tokenServer.reset()
    const result = await runCli(['blob', 'delete', `${token.host}/tok/del@${pushed.digest}`], {env: {DOCKER_CONFIG: loginConfig([token])}})
    expect(result.code, result.stderr).to.equal(0)
    expect(scopes()).to.deep.equal(['repository:tok/del:delete'])
    expect((await fetchBlob(token, 'tok/del', pushed.digest)).status).to.equal(404)
  })

  it('a pull-only user cannot delete: exit 1, the blob stays', async () => {
    const pushed = await new ImagePusher(token).blob('tok/keep', randomBytes(500))
    const result = await runCli(['blob', 'delete', `${token.host}/tok/keep@${pushed.digest}`], {env: {DOCKER_CONFIG: loginConfig([token], reader)}})
    expectOneErrorLine(result, /UNAUTHORIZED: .*\(delete on tok\/keep was not granted to these credentials\)$/)
    expect((await fetchBlob(token, 'tok/keep', pushed.digest)).status).to.equal(200)
  })
})

/** What a node:http registry saw of one request. */
interface Seen {
  authorization?: string
  bytes: number
  contentRange?: string
  method: string
  url: string
}

describe('blob upload: what distribution does not do (node:http registries)', function () {
  this.timeout(60_000)
  const bytes = randomBytes(1_000_003)
  const digest = sha256(bytes)
  let file: string
  const servers: Server[] = []

  before(() => {
    file = tempFile(bytes)
  })

  after(() => {
    for (const server of servers) {
      server.closeAllConnections()
      server.close()
    }
  })

  /** A small upload registry: sessions by id, bytes counted; `behave` may answer a request itself. */
  async function uploadRegistry(options: {
    behave?: (request: IncomingMessage, response: import('node:http').ServerResponse, seen: Seen, body: Buffer) => boolean
    /** Location of a session, from its id and the port. */
    location?: (id: string, port: number) => string
    minimumChunk?: number
    /** Answer the final PUT with this Docker-Content-Digest instead of the right one. */
    wrongDigest?: boolean
  } = {}): Promise<{open(): string; port: number; seen: Seen[]}> {
    const seen: Seen[] = []
    const sessions = new Map<string, Buffer[]>()
    let port = 0
    let next = 0
    // eslint-disable-next-line prefer-const
    let open: () => string
    const server = createServer((request, response) => {
      const record: Seen = {authorization: request.headers.authorization, bytes: 0, contentRange: request.headers['content-range'] as string | undefined, method: request.method!, url: request.url!}
      seen.push(record)
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => {
        record.bytes += chunk.length
        chunks.push(chunk)
      })
      request.on('end', () => {
        const body = Buffer.concat(chunks)
        if (options.behave?.(request, response, record, body)) return
        const url = new URL(request.url!, `http://127.0.0.1:${port}`)
        if (url.pathname === '/v2/') return void response.writeHead(200).end('{}')
        const locate = (id: string) => (options.location ?? ((session) => `/v2/x/app/blobs/uploads/${session}?_state=s%2F${session}`))(id, port)
        if (request.method === 'POST') {
          const id = open()
          const headers: Record<string, string> = {location: locate(id), 'content-length': '0'}
          if (options.minimumChunk) headers['oci-chunk-min-length'] = String(options.minimumChunk)
          return void response.writeHead(202, headers).end()
        }

        const id = /uploads\/(session-\d+)/.exec(url.pathname)?.[1]
        const held = id === undefined ? undefined : sessions.get(id)
        if (!held) return void response.writeHead(404, {'content-type': 'application/json'}).end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}')
        held.push(body)
        const size = held.reduce((sum, part) => sum + part.length, 0)
        if (request.method === 'PATCH') return void response.writeHead(202, {location: locate(id!), range: `0-${size - 1}`, 'content-length': '0'}).end()
        if (request.method === 'PUT') {
          const stored = sha256(Buffer.concat(held))
          const wanted = url.searchParams.get('digest')
          if (wanted !== stored) return void response.writeHead(400, {'content-type': 'application/json'}).end('{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}')
          const confirmed = options.wrongDigest ? `sha256:${'e'.repeat(64)}` : stored
          return void response.writeHead(201, {'docker-content-digest': confirmed, location: `/v2/x/app/blobs/${stored}`, 'content-length': '0'}).end()
        }

        if (request.method === 'DELETE') {
          sessions.delete(id!)
          return void response.writeHead(204).end()
        }

        response.writeHead(405).end()
      })
    })
    servers.push(server)
    port = await listen(server)
    open = () => {
      const id = `session-${next++}`
      sessions.set(id, [])
      return id
    }

    return {open, port, seen}
  }

  it('OCI-Chunk-Min-Length raises a smaller --chunk-size: every chunk but the last has at least that many bytes', async () => {
    const {port, seen} = await uploadRegistry({minimumChunk: 300_000})
    const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', file, '--chunked', '--chunk-size', '1000'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal({digest, location: `/v2/x/app/blobs/${digest}`, size: bytes.length})
    const ranges = seen.filter((request) => request.method === 'PATCH').map((request) => request.contentRange)
    expect(ranges).to.deep.equal(['0-299999', '300000-599999', '600000-899999', '900000-1000002'])
  })

  it('a session on another host: its absolute Location, query and all, is followed without the registry\'s credentials', async () => {
    // The storage host: where the registry sends the session (as registries that hand uploads to storage do).
    const storage = await uploadRegistry({location: (id, port) => `http://127.0.0.1:${port}/v2/x/app/blobs/uploads/${id}?_state=abs%3D%3D&sig=1`})
    // The registry: asks for Basic credentials, and answers the POST with a session on the storage host.
    const front = await uploadRegistry({
      behave(request, response) {
        if (!request.headers.authorization) {
          response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Basic realm="front"'}).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
          return true
        }

        if (request.method !== 'POST') return false
        response.writeHead(202, {'content-length': '0', location: `http://127.0.0.1:${storage.port}/v2/x/app/blobs/uploads/${storage.open()}?_state=abs%3D%3D&sig=1`}).end()
        return true
      },
    })
    const result = await runCli(['blob', 'upload', `127.0.0.1:${front.port}/x/app`, '-f', file, '--chunked', '--chunk-size', '600000', '-u', 'alice', '-p', 'pw'])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.include({digest, size: bytes.length})
    expect(storage.seen.map((request) => `${request.method} ${request.url}`)).to.deep.equal([
      'PATCH /v2/x/app/blobs/uploads/session-0?_state=abs%3D%3D&sig=1',
      'PATCH /v2/x/app/blobs/uploads/session-0?_state=abs%3D%3D&sig=1',
      `PUT /v2/x/app/blobs/uploads/session-0?_state=abs%3D%3D&sig=1&digest=${encodeURIComponent(digest)}`,
    ])
    expect(storage.seen.map((request) => request.authorization), 'no credentials to another host').to.deep.equal([undefined, undefined, undefined])
    expect(front.seen.filter((request) => request.method === 'POST').map((request) => request.authorization)).to.deep.equal([undefined, basicAuth({password: 'pw', username: 'alice'})])
  })

  it('an absolute Location on the registry itself, with its query, through PATCHes and the PUT', async () => {
    const {port, seen} = await uploadRegistry({location: (id, serverPort) => `http://127.0.0.1:${serverPort}/v2/x/app/blobs/uploads/${id}?_state=abs%3D%3D&n=2`})
    const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', file, '--chunked', '--chunk-size', '600000'])
    expect(result.code, result.stderr).to.equal(0)
    expect(seen.map((request) => `${request.method} ${request.url}`)).to.deep.equal([
      'POST /v2/x/app/blobs/uploads/',
      'PATCH /v2/x/app/blobs/uploads/session-0?_state=abs%3D%3D&n=2',
      'PATCH /v2/x/app/blobs/uploads/session-0?_state=abs%3D%3D&n=2',
      `PUT /v2/x/app/blobs/uploads/session-0?_state=abs%3D%3D&n=2&digest=${encodeURIComponent(digest)}`,
    ])
  })

  /**
   * A registry whose connection breaks once 200 000 bytes of any body have arrived, and which
   * cannot say where a broken session stands (its status GET answers 404 BLOB_UPLOAD_UNKNOWN, as
   * distribution does for a session whose request broke).
   */
  async function breakingRegistry(): Promise<{port: number; seen: Seen[]}> {
    const seen: Seen[] = []
    let sessions = 0
    const server = createServer((request, response) => {
      seen.push({bytes: 0, method: request.method!, url: request.url!})
      if (request.url === '/v2/') return void response.writeHead(200).end('{}')
      if (request.method === 'POST') return void response.writeHead(202, {'content-length': '0', location: `/v2/x/app/blobs/uploads/s${++sessions}?_state=a`}).end()
      if (request.method === 'DELETE') return void response.writeHead(204).end()
      if (request.method === 'GET') return void response.writeHead(404, {'content-type': 'application/json'}).end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}')
      let received = 0
      request.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received >= 200_000) request.socket.destroy()
      })
    })
    servers.push(server)
    return {port: await listen(server), seen}
  }

  for (const mode of ['monolithic', 'streamed'] as const) {
    const extra = mode === 'monolithic' ? ['-d', digest] : []
    it(`a connection dropped mid-upload from a file (${mode}): the session is asked where it stands, a new one gets the blob again, at most --retries times; then exit 1, one line, every session cancelled`, async () => {
      const {port, seen} = await breakingRegistry()
      const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', file, '--retries', '2', ...extra])
      expectOneErrorLine(result, new RegExp(`^Error: blob upload 127\\.0\\.0\\.1:${port}/x/app: `))
      const carrying = seen.filter((request) => request.method === 'PUT' || request.method === 'PATCH')
      expect(carrying, JSON.stringify(seen)).to.have.length(3)
      expect(seen.filter((request) => request.method === 'GET' && request.url.includes('/blobs/uploads/')), JSON.stringify(seen)).to.have.length(2)
      expect(seen.filter((request) => request.method === 'POST'), JSON.stringify(seen)).to.have.length(3)
      expect(seen.filter((request) => request.method === 'DELETE'), JSON.stringify(seen)).to.have.length(3)
    })

    it(`a connection dropped mid-upload from stdin (${mode}): exit 1, one line, the body never sent twice`, async () => {
      const {port, seen} = await breakingRegistry()
      const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', '-', ...extra], {stdin: bytes})
      expectOneErrorLine(result, new RegExp(`^Error: blob upload 127\\.0\\.0\\.1:${port}/x/app: `))
      const carrying = seen.filter((request) => request.method === 'PUT' || request.method === 'PATCH')
      expect(carrying, JSON.stringify(seen)).to.have.length(1)
      // A one-shot upload cancels its session.
      expect(seen.some((request) => request.method === 'DELETE')).to.equal(true)
    })
  }

  it('a connection dropped mid-upload (chunked): exit 1, one line, the body never sent twice; the session kept for --resume', async () => {
    const {port, seen} = await breakingRegistry()
    const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', file, '--chunked', '--chunk-size', '500000'])
    expectOneErrorLine(result, new RegExp(`^Error: blob upload 127\\.0\\.0\\.1:${port}/x/app: `))
    expect(result.stderr).to.include(`the session holds 0 bytes; continue it with --resume 'http://127.0.0.1:${port}/v2/x/app/blobs/uploads/s1?_state=a'`)
    const carrying = seen.filter((request) => request.method === 'PUT' || request.method === 'PATCH')
    expect(carrying, JSON.stringify(seen)).to.have.length(1)
    expect(seen.some((request) => request.method === 'DELETE')).to.equal(false)
  })

  it('a session that expires mid-upload (404 BLOB_UPLOAD_UNKNOWN to a PATCH): exit 1 with the code', async () => {
    let patches = 0
    const {port} = await uploadRegistry({
      behave(request, response) {
        if (request.method !== 'PATCH' || ++patches < 2) return false
        response.writeHead(404, {'content-type': 'application/json'}).end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}')
        return true
      },
    })
    const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', file, '--chunked', '--chunk-size', '400000'])
    expectOneErrorLine(result, /: BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry \(the upload session expired or was cancelled; start the upload again\)$/)
  })

  it('a registry that confirms another digest than the bytes hash to: exit 1, refused', async () => {
    const {port} = await uploadRegistry({wrongDigest: true})
    const result = await runCli(['blob', 'upload', `127.0.0.1:${port}/x/app`, '-f', file])
    expectOneErrorLine(result, new RegExp(`the registry confirmed sha256:e{64}, but the bytes sent hash to ${digest}; refused$`))
  })
})

