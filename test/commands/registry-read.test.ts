import {expect} from 'chai'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type SeededImages, seedImages} from '../fixtures/images.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, tokenTlsRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * The read commands (tag, catalog, manifest, blob head, referrer) against the REAL distribution
 * registry, Basic and token auth, with images the fixtures pushed independently of regshape.
 */

const REPO = 'read/app'
const {alice, reader} = USERS
const ANONYMOUS = 'anonymous'

/** A DOCKER_CONFIG directory holding a login for each registry given. */
function loginConfig(user: {password: string; username: string}, ...registries: RegistryHandle[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-read-'))
  const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64')
  writeFileSync(join(directory, 'config.json'), JSON.stringify({auths: Object.fromEntries(registries.map((r) => [r.host, {auth}]))}))
  return directory
}

function expectFailure(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(code)
  expect(result.stdout).to.equal('')
  expect(result.stderr).to.match(/^Error: /)
  expect(result.stderr.trim().split('\n')).to.have.length(1)
  expect(result.stderr).to.match(pattern)
  expectNoStackTrace(result)
}

describe('registry read commands against the real registry', function () {
  let basic: RegistryHandle
  let token: RegistryHandle & {tokenServer: NonNullable<RegistryHandle['tokenServer']>}
  let seeded: SeededImages
  let tokenSeeded: SeededImages
  let aliceConfig: string
  let readerConfig: string
  /** Runs regshape logged in as alice, or as another config's user, or ANONYMOUS (an empty config). */
  const regshape = (args: string[], dockerConfig: string = aliceConfig) =>
    runCli(args, {env: {DOCKER_CONFIG: dockerConfig === ANONYMOUS ? mkdtempSync(join(tmpdir(), 'regshape-anon-')) : dockerConfig}})

  before(async function () {
    this.timeout(120_000)
    basic = await basicRegistry()
    token = (await tokenRegistry()) as typeof token
    seeded = await seedImages(basic, REPO, {bigLayerBytes: 200_000})
    // a second repository, so that the catalog has pages to walk
    await seedImages(basic, 'read/other', {bigLayerBytes: 1000})
    tokenSeeded = await seedImages(token, REPO, {bigLayerBytes: 200_000})
    await seedImages(token, 'public/read-app', {bigLayerBytes: 1000})
    aliceConfig = loginConfig(alice, basic, token)
    readerConfig = loginConfig(reader, basic, token)
  })

  describe('tag list', () => {
    it('prints every tag, one per line, from the positional reference', async () => {
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout.trimEnd().split('\n').sort()).to.deep.equal(seeded.tags)
      expect(result.stderr).to.equal('')
    })

    it('takes upstream -i, ignoring a tag, and --json gives the TagList object', async () => {
      const result = await regshape(['tag', 'list', '-i', `${basic.host}/${REPO}:oci`, '--json'])
      expect(result.code, result.stderr).to.equal(0)
      const list = JSON.parse(result.stdout)
      expect(Object.keys(list)).to.deep.equal(['name', 'tags'])
      expect(list.name).to.equal(REPO)
      expect([...list.tags].sort()).to.deep.equal(seeded.tags)
    })

    it('--n without --all is one page of n, after --last (held client-side: distribution ignores both for tags)', async () => {
      const five = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--n', '5'])
      expect(five.stdout).to.equal(`${seeded.tags.slice(0, 5).join('\n')}\n`)
      const after = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--n', '3', '--last', 'v05'])
      expect(after.stdout).to.equal('v06\nv07\nv08\n')
      const all = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '--n', '5', '--all'])
      expect(all.stdout.trimEnd().split('\n').sort()).to.deep.equal(seeded.tags)
    })

    it('-o writes the list to a file and nothing to stdout', async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'regshape-out-')), 'tags.txt')
      const result = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '-o', file])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('')
      expect(readFileSync(file, 'utf8').trimEnd().split('\n').sort()).to.deep.equal(seeded.tags)
    })

    it('asks the token server for repository:<path>:pull, and only that', async () => {
      const before = token.tokenServer.requests.length
      const result = await regshape(['tag', 'list', `${token.host}/${REPO}`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout.trimEnd().split('\n').sort()).to.deep.equal(tokenSeeded.tags)
      const scopes = token.tokenServer.requests.slice(before).flatMap((request) => request.scopes)
      expect(scopes).to.deep.equal([`repository:${REPO}:pull`])
      expectNoSecrets(result, [alice.password, ...token.tokenServer.issuedTokens])
    })

    it('works for the pull-only user', async () => {
      const before = token.tokenServer.requests.length
      const result = await regshape(['tag', 'list', `${token.host}/${REPO}`], readerConfig)
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout.trimEnd().split('\n')).to.have.length(tokenSeeded.tags.length)
      expect(token.tokenServer.requests.slice(before).map((r) => r.user)).to.deep.equal(['reader'])
    })

    it('pulls anonymously from the public prefix, and is refused elsewhere with the OCI code', async () => {
      const before = token.tokenServer.requests.length
      const open = await regshape(['tag', 'list', `${token.host}/public/read-app`], ANONYMOUS)
      expect(open.code, open.stderr).to.equal(0)
      expect(open.stdout).to.include('oci\n')
      const asked = token.tokenServer.requests.slice(before)
      expect(asked.map((r) => [r.authorization, r.scopes])).to.deep.equal([['none', ['repository:public/read-app:pull']]])
      const closed = await regshape(['tag', 'list', `${token.host}/${REPO}`], ANONYMOUS)
      expectFailure(closed, 1, new RegExp(`^Error: tag list ${token.host}/read/app: UNAUTHORIZED: `))
    })

    it('a missing repository exits 1 quoting NAME_UNKNOWN; --json gives the error object with the code', async () => {
      const human = await regshape(['tag', 'list', `${basic.host}/read/missing`])
      expectFailure(human, 1, new RegExp(`^Error: tag list ${basic.host}/read/missing: NAME_UNKNOWN: repository name not known to registry\\n$`))
      const json = await regshape(['--json', 'tag', 'list', `${basic.host}/read/missing`])
      expect(json.code).to.equal(1)
      expect(JSON.parse(json.stdout)).to.deep.equal({
        status: 'error',
        registry: basic.host,
        reference: `${basic.host}/read/missing`,
        error: `tag list ${basic.host}/read/missing: NAME_UNKNOWN: repository name not known to registry`,
        code: 'NAME_UNKNOWN',
      })
    })

    it('both forms, or neither, exit 2', async () => {
      const both = await regshape(['tag', 'list', `${basic.host}/${REPO}`, '-i', `${basic.host}/${REPO}`])
      expectFailure(both, 2, /give the reference once: as the argument or with -i\/--image-ref, not both/)
      const neither = await regshape(['tag', 'list'])
      expectFailure(neither, 2, /name the target/)
    })
  })

  it('every read of a repository asks the token server for repository:<path>:pull and nothing more', async () => {
    const reference = `${token.host}/${REPO}`
    const commands = [
      ['manifest', 'get', `${reference}:multi`, '--platform', 'linux/amd64'],
      ['manifest', 'info', `${reference}:oci`],
      ['manifest', 'descriptor', `${reference}:docker`],
      ['blob', 'head', `${reference}@${tokenSeeded.bigLayer.digest}`],
      ['referrer', 'list', `${reference}@${tokenSeeded.oci.digest}`],
    ]
    for (const args of commands) {
      const before = token.tokenServer.requests.length
      const result = await regshape(args)
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).to.equal(0)
      const scopes = token.tokenServer.requests.slice(before).flatMap((request) => request.scopes)
      expect(scopes, args.join(' ')).to.deep.equal([`repository:${REPO}:pull`])
    }
  })

  describe('an invalid reference exits 2 naming the bad part, before any request', () => {
    const cases: Array<[string[], RegExp]> = [
      [['tag', 'list', 'HOST/Read/App'], /repository path component "Read" must be lowercase/],
      [['manifest', 'get', 'HOST/read/app:-bad'], /tag "-bad" is invalid/],
      [['manifest', 'info', '-i', 'HOST/read/app@sha256:abc'], /a sha256 digest has 64 hex digits, not 3/],
      [['manifest', 'descriptor', 'HOST/read//app'], /empty component/],
      [['referrer', 'list', 'HOST/read/app@md5:00'], /digest algorithm "md5" is not supported/],
      [['blob', 'head', '-r', 'HOST/read/app', '-d', 'sha256:XYZ'], /must be lowercase hex/],
      [['blob', 'head', '-r', 'HOST/read/app:tag', '-d', `sha256:${'0'.repeat(64)}`], /give registry\/name only/],
      [['catalog', 'list', 'bad_host!'], /invalid registry name/],
      // distribution/reference's host grammar: these were connected to, or met "Invalid URL" (exit 1).
      [['tag', 'list', 'foo_bar.com:8080/app'], /registry "foo_bar\.com:8080": expected host\[:port\]/],
      [['tag', 'list', '[1::2::3]/app'], /\[1::2::3\] is not an IPv6 address/],
      [['tag', 'list', '[::ffff:127.0.0.1]:5000/app'], /embedded IPv4 part/],
      [['tag', 'list', '999.1.1.1/app'], /not a host name or an IPv4 address/],
    ]
    for (const [args, pattern] of cases) {
      it(args.join(' '), async () => {
        const mark = basic.markLogs()
        const result = await regshape(args.map((arg) => arg.replace('HOST', basic.host)))
        expectFailure(result, 2, pattern)
        expect(basic.requestLog(mark)).to.deep.equal([])
      })
    }

    it('--json gives the error object for it', async () => {
      const result = await regshape(['--json', 'manifest', 'get', `${basic.host}/read/App:v1`])
      expect(result.code).to.equal(2)
      const error = JSON.parse(result.stdout)
      expect(error.status).to.equal('error')
      expect(error.error).to.include('"App" must be lowercase')
    })

    it('a reference carrying user:password@ is refused without echoing it', async () => {
      const result = await regshape(['manifest', 'get', `alice:hunter22@${basic.host}/read/app:oci`])
      expectFailure(result, 2, /credentials or a stray '@'/)
      expectNoSecrets(result, ['hunter22'])
    })
  })

  describe('catalog list', () => {
    it('lists repositories; --n 1 is one page; --n 1 --all follows distribution\'s Link to the end', async () => {
      const whole = await regshape(['catalog', 'list', basic.host])
      expect(whole.code, whole.stderr).to.equal(0)
      const repositories = whole.stdout.trimEnd().split('\n')
      expect(repositories).to.include(REPO)
      const one = await regshape(['catalog', 'list', '-r', basic.host, '--n', '1'])
      expect(one.stdout).to.equal(`${repositories[0]}\n`)
      const mark = basic.markLogs()
      const paged = await regshape(['catalog', 'list', '-r', basic.host, '--n', '1', '--all', '--json'])
      expect(JSON.parse(paged.stdout)).to.deep.equal({repositories})
      const pages = basic.requestLog(mark).filter((entry) => entry.path.startsWith('/v2/_catalog') && entry.status === 200)
      // distribution sends a Link on every page but the last
      expect(pages).to.have.length(repositories.length)
      expect(repositories.length).to.be.greaterThan(1)
      const after = await regshape(['catalog', 'list', basic.host, '--n', '1', '--last', repositories[0]])
      expect(after.stdout).to.equal(`${repositories[1]}\n`)
    })

    it('--all with --last exits 2 before any request', async () => {
      const mark = basic.markLogs()
      const result = await regshape(['catalog', 'list', basic.host, '--all', '--last', 'x'])
      expectFailure(result, 2, /^Error: --all and --last are mutually exclusive\n$/)
      expect(basic.requestLog(mark)).to.deep.equal([])
    })

    it('-o writes the list to a file', async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'regshape-out-')), 'repos.txt')
      const result = await regshape(['catalog', 'list', basic.host, '--all', '-o', file])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('')
      expect(readFileSync(file, 'utf8').split('\n')).to.include.members([REPO, 'read/other'])
    })

    it('asks the token server for registry:catalog:*', async () => {
      const before = token.tokenServer.requests.length
      const result = await regshape(['catalog', 'list', token.host])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.include(`${REPO}\n`)
      expect(token.tokenServer.requests.slice(before).flatMap((r) => r.scopes)).to.deep.equal(['registry:catalog:*'])
    })
  })

  describe('manifest get', () => {
    it('prints the manifest as received, every key in its order, indented by 2', async () => {
      const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}:oci`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${JSON.stringify(JSON.parse(seeded.oci.bytes.toString()), null, 2)}\n`)
      // the fixture writes digest before mediaType in descriptors, and a custom annotation last
      expect(result.stdout).to.match(/"config": \{\n {4}"digest": "sha256:[0-9a-f]{64}",\n {4}"mediaType"/)
      expect(result.stdout).to.include('"x.regshape.order": "kept"')
    })

    it('--raw prints the exact bytes, by tag and by digest; upstream -i works too', async () => {
      for (const reference of [`${basic.host}/${REPO}:docker`, `${basic.host}/${REPO}@${seeded.docker.digest}`]) {
        const result = await regshape(['manifest', 'get', '-i', reference, '--raw'])
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.equal(seeded.docker.bytes.toString())
      }
    })

    it('a reference without tag or digest reads latest', async () => {
      const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}`])
      expectFailure(result, 1, new RegExp(`^Error: manifest get ${basic.host}/read/app:latest: MANIFEST_UNKNOWN: `))
    })

    it('--part config, layers, annotations and subject print that field', async () => {
      const manifest = JSON.parse(seeded.oci.bytes.toString())
      for (const part of ['config', 'layers', 'annotations'] as const) {
        const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}:oci`, '--part', part])
        expect(result.code, result.stderr).to.equal(0)
        expect(JSON.parse(result.stdout), part).to.deep.equal(manifest[part])
      }

      const subject = await regshape(['manifest', 'get', `${basic.host}/${REPO}@${seeded.referrer.digest}`, '--part', 'subject'])
      expect(JSON.parse(subject.stdout)).to.deep.equal({mediaType: seeded.oci.mediaType, digest: seeded.oci.digest, size: seeded.oci.size})
    })

    it('--part of an absent field exits 2 with upstream\'s message', async () => {
      const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}:oci`, '--part', 'subject'])
      expectFailure(result, 2, /^Error: manifest has no subject field\n$/)
      const docker = await regshape(['manifest', 'get', `${basic.host}/${REPO}:docker`, '--part', 'annotations'])
      expectFailure(docker, 2, /^Error: manifest has no annotations field\n$/)
    })

    it('--platform on an index resolves that platform\'s manifest (variant optional when unique)', async () => {
      for (const [platform, wanted] of [['linux/arm64', 'linux/arm64/v8'], ['linux/arm64/v8', 'linux/arm64/v8'], ['linux/amd64', 'linux/amd64']]) {
        const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}:multi`, '--platform', platform, '--raw'])
        expect(result.code, result.stderr).to.equal(0)
        const {digest} = seeded.index.platforms.find((entry) => entry.platform === wanted)!
        const {createHash} = await import('node:crypto')
        expect(`sha256:${createHash('sha256').update(result.stdout).digest('hex')}`).to.equal(digest)
      }
    })

    it('--platform that the index lacks exits 1 listing the platforms; a malformed one exits 2', async () => {
      const missing = await regshape(['manifest', 'get', `${basic.host}/${REPO}:multi`, '--platform', 'linux/s390x'])
      expectFailure(missing, 1, new RegExp(`^Error: manifest get ${basic.host}/read/app:multi: no manifest for platform linux/s390x in the index; it has linux/amd64, linux/arm64/v8\\n$`))
      const malformed = await regshape(['manifest', 'get', `${basic.host}/${REPO}:multi`, '--platform', 'linux'])
      expectFailure(malformed, 2, /invalid platform "linux"/)
    })

    it('--platform on a single manifest returns it unchanged', async () => {
      const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}:oci`, '--platform', 'linux/amd64', '--raw'])
      expect(result.stdout).to.equal(seeded.oci.bytes.toString())
    })

    it('-o FILE writes the manifest there (raw: the exact bytes) and nothing to stdout', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
      const raw = await regshape(['manifest', 'get', `${basic.host}/${REPO}:multi`, '--raw', '-o', join(directory, 'raw.json')])
      expect(raw.code, raw.stderr).to.equal(0)
      expect(raw.stdout).to.equal('')
      expect(readFileSync(join(directory, 'raw.json'))).to.deep.equal(seeded.index.bytes)
      const part = await regshape(['manifest', 'get', `${basic.host}/${REPO}:oci`, '--part', 'layers', '-o', join(directory, 'layers.json')])
      expect(part.stdout).to.equal('')
      expect(JSON.parse(readFileSync(join(directory, 'layers.json'), 'utf8'))).to.deep.equal(JSON.parse(seeded.oci.bytes.toString()).layers)
    })

    it('a missing tag exits 1 quoting MANIFEST_UNKNOWN; --json carries the code', async () => {
      const result = await regshape(['manifest', 'get', `${token.host}/${REPO}:nope`])
      expectFailure(result, 1, new RegExp(`^Error: manifest get ${token.host}/read/app:nope: MANIFEST_UNKNOWN: manifest unknown\\n$`))
      const json = await regshape(['manifest', 'get', `${token.host}/${REPO}:nope`, '--json'])
      expect(JSON.parse(json.stdout)).to.include({code: 'MANIFEST_UNKNOWN', reference: `${token.host}/${REPO}:nope`, status: 'error'})
    })

    it('the pull-only user and the public prefix can read manifests; the scope asked is pull', async () => {
      const before = token.tokenServer.requests.length
      const asReader = await regshape(['manifest', 'get', `${token.host}/${REPO}:oci`, '--raw'], readerConfig)
      expect(asReader.stdout).to.equal(tokenSeeded.oci.bytes.toString())
      const anonymous = await regshape(['manifest', 'get', `${token.host}/public/read-app:docker`, '--raw'], ANONYMOUS)
      expect(anonymous.code, anonymous.stderr).to.equal(0)
      expect(JSON.parse(anonymous.stdout).mediaType).to.equal('application/vnd.docker.distribution.manifest.v2+json')
      expect(token.tokenServer.requests.slice(before).map((r) => [r.user ?? 'anonymous', r.scopes])).to.deep.equal([
        ['reader', [`repository:${REPO}:pull`]],
        ['anonymous', ['repository:public/read-app:pull']],
      ])
    })
  })

  describe('manifest info and manifest descriptor', () => {
    it('info prints upstream\'s three lines, and --json the same fields', async () => {
      const result = await regshape(['manifest', 'info', `${basic.host}/${REPO}:oci`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`Digest:       ${seeded.oci.digest}\nMedia Type:   ${seeded.oci.mediaType}\nSize:         ${seeded.oci.size}\n`)
      const json = await regshape(['manifest', 'info', '-i', `${basic.host}/${REPO}:docker`, '--json'])
      expect(JSON.parse(json.stdout)).to.deep.equal({digest: seeded.docker.digest, media_type: seeded.docker.mediaType, size: seeded.docker.size})
    })

    it('descriptor prints the OCI descriptor, with HEAD only', async () => {
      const mark = basic.markLogs()
      const result = await regshape(['manifest', 'descriptor', `${basic.host}/${REPO}:multi`])
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal({mediaType: seeded.index.mediaType, digest: seeded.index.digest, size: seeded.index.size})
      expect(Object.keys(JSON.parse(result.stdout))).to.deep.equal(['mediaType', 'digest', 'size'])
      expect(basic.requestLog(mark).filter((entry) => entry.status === 200).map((entry) => entry.method)).to.deep.equal(['HEAD'])
      const byDigest = await regshape(['manifest', 'descriptor', '-i', `${basic.host}/${REPO}@${seeded.oci.digest}`, '--json'])
      expect(JSON.parse(byDigest.stdout)).to.deep.equal({mediaType: seeded.oci.mediaType, digest: seeded.oci.digest, size: seeded.oci.size})
    })

    it('a missing manifest exits 1 with the code the registry gives a GET (a HEAD has no body)', async () => {
      const info = await regshape(['manifest', 'info', `${basic.host}/${REPO}:nope`])
      expectFailure(info, 1, new RegExp(`^Error: manifest head ${basic.host}/read/app:nope: MANIFEST_UNKNOWN: manifest unknown\\n$`))
      const descriptor = await regshape(['--json', 'manifest', 'descriptor', `${basic.host}/read/missing:v1`])
      expect(descriptor.code).to.equal(1)
      expect(JSON.parse(descriptor.stdout).code).to.equal('MANIFEST_UNKNOWN')
    })
  })

  describe('blob head', () => {
    it('prints digest, content_type and size, from -r/-d or the positional reference', async () => {
      const {bigLayer} = seeded
      for (const args of [['-r', `${basic.host}/${REPO}`, '-d', bigLayer.digest], [`${basic.host}/${REPO}@${bigLayer.digest}`]]) {
        const result = await regshape(['blob', 'head', ...args])
        expect(result.code, result.stderr).to.equal(0)
        expect(JSON.parse(result.stdout)).to.deep.equal({digest: bigLayer.digest, content_type: 'application/octet-stream', size: bigLayer.size})
      }

      const token_ = await regshape(['--json', 'blob', 'head', `${token.host}/${REPO}@${tokenSeeded.bigLayer.digest}`], readerConfig)
      expect(JSON.parse(token_.stdout).size).to.equal(tokenSeeded.bigLayer.size)
    })

    it('a missing blob exits 1 quoting BLOB_UNKNOWN', async () => {
      const digest = `sha256:${'0'.repeat(64)}`
      const result = await regshape(['blob', 'head', '-r', `${basic.host}/${REPO}`, '-d', digest])
      expectFailure(result, 1, new RegExp(`^Error: blob head ${basic.host}/read/app@${digest}: BLOB_UNKNOWN: blob unknown to registry\\n$`))
      const json = await regshape(['blob', 'head', `${basic.host}/${REPO}@${digest}`, '--json'])
      expect(JSON.parse(json.stdout)).to.include({code: 'BLOB_UNKNOWN', status: 'error'})
    })

    it('needs a digest, and the two forms do not mix (exit 2)', async () => {
      expectFailure(await regshape(['blob', 'head', `${basic.host}/${REPO}:oci`]), 2, /a digest is required here/)
      expectFailure(await regshape(['blob', 'head', `${basic.host}/${REPO}@${seeded.bigLayer.digest}`, '-d', seeded.bigLayer.digest]), 2, /not both/)
      expectFailure(await regshape(['blob', 'head', '-r', `${basic.host}/${REPO}`]), 2, /name the target/)
    })
  })

  describe('referrer list', () => {
    it('falls back to the tag schema on distribution\'s 404, and says so', async () => {
      const result = await regshape(['referrer', 'list', `${basic.host}/${REPO}@${seeded.oci.digest}`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${seeded.referrer.digest} ${seeded.referrer.artifactType} ${seeded.referrer.size}\n`)
      expect(result.stderr).to.equal(`Note: the registry has no referrers API (404); read the referrers tag schema instead (tag ${seeded.oci.digest.replace(':', '-')})\n`)
      const json = await regshape(['--json', 'referrer', 'list', '-i', `${basic.host}/${REPO}@${seeded.oci.digest}`])
      const index = JSON.parse(json.stdout)
      expect(index.source).to.equal('tag-schema')
      expect(index.manifests).to.deep.equal(JSON.parse(seeded.referrer.tagSchemaIndex.bytes.toString()).manifests)
    })

    it('--artifact-type filters the tag schema\'s index; -o writes the list', async () => {
      const other = await regshape(['referrer', 'list', `${basic.host}/${REPO}@${seeded.oci.digest}`, '-t', 'application/vnd.example.sbom'])
      expect(other.code).to.equal(0)
      expect(other.stdout).to.equal('')
      const file = join(mkdtempSync(join(tmpdir(), 'regshape-out-')), 'referrers.txt')
      const same = await regshape(['referrer', 'list', `${basic.host}/${REPO}@${seeded.oci.digest}`, '--artifact-type', seeded.referrer.artifactType, '-o', file])
      expect(same.stdout).to.equal('')
      expect(readFileSync(file, 'utf8')).to.equal(`${seeded.referrer.digest} ${seeded.referrer.artifactType} ${seeded.referrer.size}\n`)
    })

    it('a manifest without referrers gives an empty list; a missing manifest exits 1', async () => {
      const none = await regshape(['referrer', 'list', `${basic.host}/${REPO}@${seeded.docker.digest}`])
      expect(none.code, none.stderr).to.equal(0)
      expect(none.stdout).to.equal('')
      const digest = `sha256:${'1'.repeat(64)}`
      const missing = await regshape(['referrer', 'list', `${basic.host}/${REPO}@${digest}`])
      expect(missing.code).to.equal(1)
      expect(missing.stderr).to.match(new RegExp(`Error: manifest head ${basic.host}/read/app@${digest}: MANIFEST_UNKNOWN`))
    })

    it('a tag-only reference exits 2 with upstream\'s message, before any request', async () => {
      const mark = basic.markLogs()
      const result = await regshape(['referrer', 'list', `${basic.host}/${REPO}:oci`])
      expectFailure(result, 2, /referrer list requires a digest reference \(registry\/repo@sha256:\.\.\.\); use 'manifest get' to resolve a tag to a digest/)
      expect(basic.requestLog(mark)).to.deep.equal([])
    })
  })

  describe('failures that are not the registry\'s answer name the reference too', () => {
    it('wrong credentials: refused by the token server or by the registry, exit 1, no secret shown', async () => {
      const wrong = loginConfig({password: 'not-the-password', username: 'alice'}, basic, token)
      const viaToken = await regshape(['tag', 'list', `${token.host}/${REPO}`], wrong)
      expectFailure(viaToken, 1, new RegExp(`^Error: tag list ${token.host}/read/app: `))
      expectNoSecrets(viaToken, ['not-the-password'])
      const viaBasic = await regshape(['manifest', 'get', `${basic.host}/${REPO}:oci`], wrong)
      expectFailure(viaBasic, 1, new RegExp(`^Error: manifest get ${basic.host}/read/app:oci: UNAUTHORIZED: `))
      expectNoSecrets(viaBasic, ['not-the-password'])
    })

    it('an unreachable registry exits 1 naming the reference; --json too', async () => {
      const human = await regshape(['tag', 'list', '127.0.0.1:1/read/app'])
      expectFailure(human, 1, /^Error: tag list 127\.0\.0\.1:1\/read\/app: .*ECONNREFUSED/)
      const json = await regshape(['--json', 'blob', 'head', `127.0.0.1:1/read/app@sha256:${'0'.repeat(64)}`])
      expect(json.code).to.equal(1)
      expect(JSON.parse(json.stdout)).to.include({registry: '127.0.0.1:1', status: 'error'})
    })
  })

  it('no output file is left behind by a failed manifest get', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'regshape-out-')), 'm.json')
    const result = await regshape(['manifest', 'get', `${basic.host}/${REPO}:nope`, '-o', file])
    expect(result.code).to.equal(1)
    expect(existsSync(file)).to.equal(false)
  })

  it('over TLS (token server on HTTPS too), trusting the test CA with --ca-file', async () => {
    const tls = await tokenTlsRegistry()
    const images = await seedImages(tls, REPO, {bigLayerBytes: 1000})
    const config = loginConfig(alice, tls)
    const raw = await regshape(['manifest', 'get', `${tls.host}/${REPO}:oci`, '--raw', '--ca-file', tls.caFile], config)
    expect(raw.code, raw.stderr).to.equal(0)
    expect(raw.stdout).to.equal(images.oci.bytes.toString())
    const untrusted = await regshape(['tag', 'list', `${tls.host}/${REPO}`], config)
    expectFailure(untrusted, 1, new RegExp(`^Error: tag list ${tls.host}/read/app: TLS: .*--ca-file`))
  })
})
