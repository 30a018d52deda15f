import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type Descriptor, ImagePusher, MEDIA} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * manifest put, manifest delete and tag delete against the REAL distribution registry (2.8, delete
 * enabled), Basic and token auth. Blobs are pushed by the fixtures' own client; what regshape
 * pushes is judged by skopeo (`inspect --raw`: the exact bytes) and the docker CLI (`manifest
 * inspect`, through the config.json that `regshape auth login` wrote), and by the registry's
 * access log and the token server's record of the scopes asked for.
 */

const DOCKER = '/usr/local/bin/docker'
const {alice, reader} = USERS
const sha = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`
let repoCounter = 0

function expectFailure(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(code)
  expect(result.stdout).to.equal('')
  expect(result.stderr).to.match(/^Error: /)
  expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1)
  expect(result.stderr).to.match(pattern)
  expectNoStackTrace(result)
}

interface Kind {
  handle: RegistryHandle
  kind: 'basic' | 'token'
}

describe('registry write commands against the real registry', function () {
  this.timeout(120_000)
  const kinds: Kind[] = []
  const configs = new Map<string, string>()
  const work = mkdtempSync(join(tmpdir(), 'regshape-write-'))

  /** A DOCKER_CONFIG that `regshape auth login` wrote for `user` on `handle`. */
  async function loggedIn(handle: RegistryHandle, user: {password: string; username: string}): Promise<string> {
    const key = `${handle.host} ${user.username}`
    const known = configs.get(key)
    if (known) return known
    const directory = mkdtempSync(join(tmpdir(), 'regshape-write-config-'))
    const login = await runCli(['auth', 'login', '-r', handle.host, '-u', user.username, '--password-stdin'], {env: {DOCKER_CONFIG: directory}, stdin: user.password})
    expect(login.code, login.stderr).to.equal(0)
    configs.set(key, directory)
    return directory
  }

  const regshape = async (handle: RegistryHandle, args: string[], options: {stdin?: Buffer | string; user?: typeof alice | typeof reader} = {}) =>
    runCli(args, {env: {DOCKER_CONFIG: await loggedIn(handle, options.user ?? alice)}, stdin: options.stdin})

  function file(name: string, bytes: Buffer | string): string {
    const path = join(work, name)
    writeFileSync(path, bytes)
    return path
  }

  /** A repository of its own for a test, with a config and a layer in it (pushed by the fixtures). */
  async function repoWithBlobs(handle: RegistryHandle): Promise<{config: Descriptor; empty: Descriptor; layer: Descriptor; repository: string}> {
    const repository = `write/r${++repoCounter}`
    const push = new ImagePusher(handle)
    const config = await push.blob(repository, Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), MEDIA.ociConfig)
    const layer = await push.blob(repository, Buffer.from(`layer of ${repository}\n`), MEDIA.ociLayer)
    const empty = await push.blob(repository, Buffer.from('{}'), MEDIA.ociEmpty)
    return {config, empty, layer, repository}
  }

  /** An OCI manifest written the way no JSON.stringify writes it: odd spacing, key order, a trailing newline. */
  function handWritten(config: Descriptor, layer: Descriptor, extra = ''): Buffer {
    return Buffer.from(
      `{\n    "schemaVersion" : 2,\n\t"mediaType":"${MEDIA.ociManifest}",  "config": {"size": ${config.size}, "digest": "${config.digest}", "mediaType": "${config.mediaType}"},\n` +
        `  "layers": [ {"mediaType":"${layer.mediaType}","size":${layer.size},"digest":"${layer.digest}"} ]${extra}\n}\n`,
    )
  }

  const skopeoEnv = (config: string) => ({DOCKER_CONFIG: config, HOME: config, PATH: process.env.PATH})

  before(async () => {
    kinds.push({handle: await basicRegistry(), kind: 'basic'}, {handle: await tokenRegistry(), kind: 'token'})
  })

  for (const kind of ['basic', 'token'] as const) {
    describe(`manifest put (${kind} auth)`, () => {
      const handle = () => kinds.find((entry) => entry.kind === kind)!.handle

      it('pushes the exact bytes of -f FILE: skopeo inspect --raw returns them, and Pushed is their digest', async () => {
        const {config, layer, repository} = await repoWithBlobs(handle())
        const bytes = handWritten(config, layer)
        const result = await regshape(handle(), ['manifest', 'put', `${handle().host}/${repository}:v1`, '-f', file(`${kind}-exact.json`, bytes)])
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.equal(`Pushed: ${sha(bytes)}\n`)
        expect(result.stderr).to.equal('')
        const skopeo = await runProcess('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${handle().host}/${repository}:v1`], {env: skopeoEnv(await loggedIn(handle(), alice))})
        expect(skopeo.code, skopeo.stderr).to.equal(0)
        expect(Buffer.from(skopeo.stdout)).to.deep.equal(bytes)
        expectNoSecrets(result, [alice.password, ...(handle().tokenServer?.issuedTokens ?? [])])
      })

      it('reads --stdin, and docker manifest inspect reads the result through the credentials regshape stored', async () => {
        const {config, layer, repository} = await repoWithBlobs(handle())
        const bytes = handWritten(config, layer, ',\n  "annotations": {"org.example.pushed-by": "stdin"}')
        const reference = `${handle().host}/${repository}:from-stdin`
        const result = await regshape(handle(), ['manifest', 'put', '-i', reference, '--stdin'], {stdin: bytes})
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.equal(`Pushed: ${sha(bytes)}\n`)
        const dockerConfig = await loggedIn(handle(), alice)
        const docker = await runProcess(DOCKER, ['manifest', 'inspect', '--insecure', '-v', reference], {env: {DOCKER_CONFIG: dockerConfig, HOME: dockerConfig, PATH: process.env.PATH}})
        expect(docker.code, docker.stderr).to.equal(0)
        const seen = JSON.parse(docker.stdout) as {Descriptor: {digest: string; mediaType: string; size: number}; Raw: string}
        expect(seen.Descriptor).to.deep.include({digest: sha(bytes), mediaType: MEDIA.ociManifest, size: bytes.length})
        expect(Buffer.from(seen.Raw, 'base64')).to.deep.equal(bytes)
      })

      if (kind === 'token') {
        it('asks the token server for repository:<path>:pull,push, and only that', async () => {
          const {config, layer, repository} = await repoWithBlobs(handle())
          const {tokenServer} = handle()
          const before = tokenServer!.requests.length
          const result = await regshape(handle(), ['manifest', 'put', `${handle().host}/${repository}:scoped`, '-f', file('scoped.json', handWritten(config, layer))])
          expect(result.code, result.stderr).to.equal(0)
          expect(tokenServer!.requests.slice(before).flatMap((request) => request.scopes)).to.deep.equal([`repository:${repository}:pull,push`])
        })

        it('a pull-only user gets one denied error, and nothing is written', async () => {
          const {config, layer, repository} = await repoWithBlobs(handle())
          const mark = handle().markLogs()
          const result = await regshape(handle(), ['manifest', 'put', `${handle().host}/${repository}:denied`, '-f', file('denied.json', handWritten(config, layer))], {user: reader})
          expectFailure(result, 1, new RegExp(`^Error: manifest put ${handle().host}/${repository}:denied: denied: push on ${repository} is not granted to these credentials \\(401 insufficient_scope\\)\\n$`))
          expect(handle().requestLog(mark).filter((entry) => entry.method === 'PUT').map((entry) => entry.status)).to.deep.equal([401, 401])
          const tags = await regshape(handle(), ['tag', 'list', `${handle().host}/${repository}`])
          expect(tags.stdout).to.equal('')
          expectNoSecrets(result, [reader.password, ...handle().tokenServer!.issuedTokens])
        })
      }
    })
  }

  describe('manifest put: types, references and failures (basic auth)', () => {
    const basic = () => kinds[0].handle

    it("types the push by the body's mediaType, else by its shape (OCI manifest or index), and --content-type overrides them", async () => {
      const {config, layer, repository} = await repoWithBlobs(basic())
      const push = new ImagePusher(basic())
      const dockerConfig = await push.blob(repository, Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"docker_version":"x"}'), MEDIA.dockerConfig)
      const dockerLayer = await push.blob(repository, Buffer.from('docker layer\n'), MEDIA.dockerLayer)
      const docker = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: dockerConfig, layers: [dockerLayer]}))
      const untyped = Buffer.from(JSON.stringify({schemaVersion: 2, config, layers: [layer]}))
      const child = await push.manifest(repository, undefined, handWritten(config, layer), MEDIA.ociManifest)
      const untypedIndex = Buffer.from(JSON.stringify({schemaVersion: 2, manifests: [child]}))
      const cases: Array<[string, Buffer, string]> = [
        ['docker', docker, MEDIA.dockerManifest],
        ['untyped', untyped, MEDIA.ociManifest],
        ['index', untypedIndex, MEDIA.ociIndex],
      ]
      for (const [tag, bytes, expected] of cases) {
        const put = await regshape(basic(), ['manifest', 'put', `${basic().host}/${repository}:${tag}`, '-f', file(`${tag}.json`, bytes), '--json'])
        expect(put.code, put.stdout).to.equal(0)
        expect(JSON.parse(put.stdout)).to.deep.equal({
          digest: sha(bytes),
          media_type: expected,
          size: bytes.length,
          reference: `${basic().host}/${repository}:${tag}@${sha(bytes)}`,
        })
        const info = await regshape(basic(), ['--json', 'manifest', 'info', `${basic().host}/${repository}:${tag}`])
        expect(JSON.parse(info.stdout), tag).to.deep.equal({digest: sha(bytes), media_type: expected, size: bytes.length})
      }

      // distribution judges the body by the Content-Type: as a Docker manifest, a body without its mediaType is invalid.
      const forced = await regshape(basic(), ['manifest', 'put', `${basic().host}/${repository}:forced`, '-f', join(work, 'untyped.json'), '--content-type', MEDIA.dockerManifest, '--debug-calls'])
      expect(forced.code).to.equal(1)
      expect(forced.stderr).to.include(`> content-type: ${MEDIA.dockerManifest}\n`)
      expect(forced.stderr.trimEnd().split('\n').at(-1)).to.equal(`Error: manifest put ${basic().host}/${repository}:forced: MANIFEST_INVALID: manifest invalid`)
    })

    it('pushes by digest: under the digest given, which must be theirs, or, without tag or digest, under their own', async () => {
      const {config, layer, repository} = await repoWithBlobs(basic())
      const bytes = handWritten(config, layer)
      const path = file('by-digest.json', bytes)
      const mark = basic().markLogs()
      const untagged = await regshape(basic(), ['manifest', 'put', `${basic().host}/${repository}`, '-f', path])
      expect(untagged.code, untagged.stderr).to.equal(0)
      expect(untagged.stdout).to.equal(`Pushed: ${sha(bytes)}\n`)
      const pinned = await regshape(basic(), ['manifest', 'put', `${basic().host}/${repository}@${sha(bytes)}`, '-f', path])
      expect(pinned.code, pinned.stderr).to.equal(0)
      // Basic auth: each run sends the PUT once without credentials, as it learns the challenge.
      const puts = basic().requestLog(mark).filter((entry) => entry.method === 'PUT' && entry.status !== 401)
      expect(puts.map((entry) => [entry.path, entry.status])).to.deep.equal([
        [`/v2/${repository}/manifests/${sha(bytes)}`, 201],
        [`/v2/${repository}/manifests/${sha(bytes)}`, 201],
      ])
      expect((await regshape(basic(), ['tag', 'list', `${basic().host}/${repository}`])).stdout).to.equal('')

      const wrong = `sha256:${'0'.repeat(64)}`
      const before = basic().markLogs()
      const refused = await regshape(basic(), ['manifest', 'put', `${basic().host}/${repository}@${wrong}`, '-f', path])
      expectFailure(refused, 1, new RegExp(`the manifest's bytes hash to ${sha(bytes)}, not to the digest of the reference; nothing was sent`))
      expect(basic().requestLog(before)).to.deep.equal([])
    })

    it('a body that is not JSON: exit 1 with the OCI code the registry answered, and the tag is not created', async () => {
      const {repository} = await repoWithBlobs(basic())
      const reference = `${basic().host}/${repository}:garbage`
      const result = await regshape(basic(), ['manifest', 'put', reference, '-f', file('garbage.txt', 'this is not { json\n')])
      expectFailure(result, 1, new RegExp(`^Error: manifest put ${reference}: MANIFEST_INVALID: manifest invalid \\(the body sent is not JSON\\)\\n$`))
      const json = await regshape(basic(), ['--json', 'manifest', 'put', reference, '--stdin'], {stdin: 'still not json'})
      expect(json.code).to.equal(1)
      expect(JSON.parse(json.stdout)).to.include({status: 'error', code: 'MANIFEST_INVALID', reference})
      expect((await regshape(basic(), ['tag', 'list', `${basic().host}/${repository}`])).stdout).to.equal('')
    })

    it('a manifest naming a missing blob: exit 1, MANIFEST_BLOB_UNKNOWN', async () => {
      const {config, repository} = await repoWithBlobs(basic())
      const missing = {digest: `sha256:${'1'.repeat(64)}`, mediaType: MEDIA.ociLayer, size: 3}
      const reference = `${basic().host}/${repository}:missing`
      const result = await regshape(basic(), ['manifest', 'put', reference, '-f', file('missing.json', handWritten(config, missing))])
      expectFailure(result, 1, new RegExp(`^Error: manifest put ${reference}: MANIFEST_BLOB_UNKNOWN: blob unknown to registry\\n$`))
      const json = await regshape(basic(), ['manifest', 'put', reference, '-f', join(work, 'missing.json'), '--json'])
      expect(JSON.parse(json.stdout)).to.include({code: 'MANIFEST_BLOB_UNKNOWN'})
    })

    it('bad input exits before any request: no source, two sources, a missing file, an empty or oversized body', async () => {
      const {repository} = await repoWithBlobs(basic())
      const reference = `${basic().host}/${repository}:x`
      const mark = basic().markLogs()
      expectFailure(await regshape(basic(), ['manifest', 'put', reference]), 2, /^Error: name the manifest to push: -f FILE or --stdin\n$/)
      expectFailure(await regshape(basic(), ['manifest', 'put', reference, '-f', 'a.json', '--stdin']), 2, /^Error: give the manifest once: -f FILE or --stdin, not both\n$/)
      const absent = join(work, 'absent.json')
      expectFailure(await regshape(basic(), ['manifest', 'put', reference, '-f', absent]), 1, new RegExp(`^Error: manifest put ${reference}: cannot read ${absent}: no such file\\n$`))
      expectFailure(await regshape(basic(), ['manifest', 'put', reference, '-f', work]), 1, /cannot read .*: not a regular file\n$/)
      expectFailure(await regshape(basic(), ['manifest', 'put', reference, '--stdin']), 1, /standard input is empty; nothing was sent\n$/)
      const big = file('big.json', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20))
      expectFailure(await regshape(basic(), ['manifest', 'put', reference, '-f', big]), 1, /is larger than 4 MiB \(4194304 bytes\), distribution's limit for manifests; nothing was sent\n$/)
      expect(basic().requestLog(mark).map((entry) => entry.path).filter((path) => path.includes('/manifests/'))).to.deep.equal([])
    })
  })

  describe('manifest put with a subject, on a registry without the referrers API', () => {
    it('adds each referrer to the referrers tag index, once, so that referrer list finds them; the superseded index is deleted', async () => {
      const basic = kinds[0].handle
      const {config, empty, layer, repository} = await repoWithBlobs(basic)
      const subjectBytes = handWritten(config, layer)
      const subject = {mediaType: MEDIA.ociManifest, digest: sha(subjectBytes), size: subjectBytes.length}
      expect((await regshape(basic, ['manifest', 'put', `${basic.host}/${repository}:subject`, '-f', file('subject.json', subjectBytes)])).code).to.equal(0)
      const sbom = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, artifactType: 'application/vnd.example.sbom.v1', config: empty, layers: [empty], subject, annotations: {'org.example.kind': 'sbom'}}))
      // No artifactType: the spec takes the config's media type.
      const signature = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, config: {...empty, mediaType: 'application/vnd.example.signature.config'}, layers: [empty], subject}))
      const tag = subject.digest.replace(':', '-')

      const first = await regshape(basic, ['manifest', 'put', `${basic.host}/${repository}`, '-f', file('sbom.json', sbom)])
      expect(first.code, first.stderr).to.equal(0)
      expect(first.stdout).to.equal(`Pushed: ${sha(sbom)}\n`)
      expect(first.stderr).to.equal(`Note: the registry sent no OCI-Subject; added the referrer of ${subject.digest} to the referrers tag ${tag}\n`)
      const firstIndex = await regshape(basic, ['manifest', 'get', `${basic.host}/${repository}:${tag}`, '--raw'])
      const firstDigest = sha(firstIndex.stdout)

      const second = await regshape(basic, ['--json', 'manifest', 'put', `${basic.host}/${repository}`, '-f', file('signature.json', signature)])
      expect(second.code, second.stderr).to.equal(0)
      const report = JSON.parse(second.stdout)
      const index = await regshape(basic, ['manifest', 'get', `${basic.host}/${repository}:${tag}`, '--raw'])
      expect(report.subject).to.deep.equal({
        digest: subject.digest,
        indexed_by: 'tag-schema',
        tag,
        index: {digest: sha(index.stdout), size: Buffer.byteLength(index.stdout)},
        updated: true,
        superseded: {deleted: true, digest: firstDigest},
      })
      expect(JSON.parse(index.stdout)).to.deep.equal({
        schemaVersion: 2,
        mediaType: MEDIA.ociIndex,
        manifests: [
          {mediaType: MEDIA.ociManifest, digest: sha(sbom), size: sbom.length, artifactType: 'application/vnd.example.sbom.v1', annotations: {'org.example.kind': 'sbom'}},
          {mediaType: MEDIA.ociManifest, digest: sha(signature), size: signature.length, artifactType: 'application/vnd.example.signature.config'},
        ],
      })
      const gone = await regshape(basic, ['manifest', 'get', `${basic.host}/${repository}@${firstDigest}`])
      expect(gone.stderr).to.match(/MANIFEST_UNKNOWN/)

      const again = await regshape(basic, ['manifest', 'put', `${basic.host}/${repository}`, '-f', join(work, 'sbom.json')])
      expect(again.code, again.stderr).to.equal(0)
      expect(again.stderr).to.equal(`Note: the registry sent no OCI-Subject; the referrers tag ${tag} already lists this referrer of ${subject.digest}\n`)
      expect((await regshape(basic, ['manifest', 'get', `${basic.host}/${repository}:${tag}`, '--raw'])).stdout).to.equal(index.stdout)

      const listed = await regshape(basic, ['referrer', 'list', `${basic.host}/${repository}@${subject.digest}`])
      expect(listed.code, listed.stderr).to.equal(0)
      expect(listed.stdout).to.equal(`${sha(sbom)} application/vnd.example.sbom.v1 ${sbom.length}\n${sha(signature)} application/vnd.example.signature.config ${signature.length}\n`)
    })

    it('on token auth, the index is read and pushed under pull,push; only the superseded index is deleted under delete', async () => {
      const token = kinds[1].handle
      const {config, empty, layer, repository} = await repoWithBlobs(token)
      const subjectBytes = handWritten(config, layer)
      const subject = {mediaType: MEDIA.ociManifest, digest: sha(subjectBytes), size: subjectBytes.length}
      await new ImagePusher(token).manifest(repository, 'subject', subjectBytes, MEDIA.ociManifest)
      const referrer = (n: number) => Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, artifactType: `application/vnd.example.${n}`, config: empty, layers: [empty], subject}))
      const before = token.tokenServer!.requests.length
      const first = await regshape(token, ['manifest', 'put', `${token.host}/${repository}`, '-f', file('t1.json', referrer(1))])
      expect(first.code, first.stderr).to.equal(0)
      expect(token.tokenServer!.requests.slice(before).flatMap((request) => request.scopes)).to.deep.equal([`repository:${repository}:pull,push`])
      const middle = token.tokenServer!.requests.length
      const second = await regshape(token, ['manifest', 'put', `${token.host}/${repository}`, '-f', file('t2.json', referrer(2))])
      expect(second.code, second.stderr).to.equal(0)
      expect(token.tokenServer!.requests.slice(middle).flatMap((request) => request.scopes)).to.deep.equal([`repository:${repository}:pull,push`, `repository:${repository}:delete`])
      const listed = await regshape(token, ['referrer', 'list', `${token.host}/${repository}@${subject.digest}`])
      expect(listed.stdout.trimEnd().split('\n').map((line) => line.split(' ')[1])).to.deep.equal(['application/vnd.example.1', 'application/vnd.example.2'])
    })
  })

  describe('manifest delete and tag delete', () => {
    it('manifest delete reads the manifest (pull), then deletes it by digest (202, the delete scope)', async () => {
      for (const {handle, kind} of kinds) {
        const {config, layer, repository} = await repoWithBlobs(handle)
        const pushed = await new ImagePusher(handle).manifest(repository, 'doomed', handWritten(config, layer), MEDIA.ociManifest)
        const mark = handle.markLogs()
        const before = handle.tokenServer?.requests.length ?? 0
        const result = await regshape(handle, ['manifest', 'delete', `${handle.host}/${repository}@${pushed.digest}`])
        expect(result.code, `${kind}: ${result.stderr}`).to.equal(0)
        expect(result.stdout).to.equal(`Deleted: ${pushed.digest}\n`)
        const deletes = handle.requestLog(mark).filter((entry) => entry.method === 'DELETE')
        expect(deletes.map((entry) => [entry.path, entry.status]).at(-1)).to.deep.equal([`/v2/${repository}/manifests/${pushed.digest}`, 202])
        if (handle.tokenServer) {
          expect(handle.tokenServer.requests.slice(before).flatMap((request) => request.scopes)).to.deep.equal([`repository:${repository}:pull`, `repository:${repository}:delete`])
        }

        const gone = await regshape(handle, ['manifest', 'get', `${handle.host}/${repository}:doomed`])
        expectFailure(gone, 1, /MANIFEST_UNKNOWN/)
        const again = await regshape(handle, ['--json', 'manifest', 'delete', '-i', `${handle.host}/${repository}@${pushed.digest}`])
        expect(again.code).to.equal(1)
        expect(JSON.parse(again.stdout)).to.include({code: 'MANIFEST_UNKNOWN'})
      }
    })

    it('manifest delete of a referrer takes it out of the referrers tag; the last one takes the tag with it', async () => {
      for (const {handle, kind} of kinds) {
        const {config, empty, layer, repository} = await repoWithBlobs(handle)
        const push = new ImagePusher(handle)
        const subject = await push.manifest(repository, 'subject', handWritten(config, layer), MEDIA.ociManifest)
        const referrer = (n: number) => Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MEDIA.ociManifest, artifactType: `application/vnd.example.${n}`, config: empty, layers: [empty], subject}))
        for (const n of [1, 2]) expect((await regshape(handle, ['manifest', 'put', `${handle.host}/${repository}`, '-f', file(`${kind}-ref${n}.json`, referrer(n))])).code).to.equal(0)
        const tag = subject.digest.replace(':', '-')
        const list = async () => (await regshape(handle, ['referrer', 'list', `${handle.host}/${repository}@${subject.digest}`])).stdout

        const before = handle.tokenServer?.requests.length ?? 0
        const first = await regshape(handle, ['manifest', 'delete', `${handle.host}/${repository}@${sha(referrer(1))}`])
        expect(first.code, first.stderr).to.equal(0)
        expect(first.stdout).to.equal(`Deleted: ${sha(referrer(1))}\n`)
        expect(first.stderr).to.equal(`Note: the registry has no referrers API (404); took the manifest out of the referrers tag ${tag} of ${subject.digest}\n`)
        if (handle.tokenServer) {
          expect(handle.tokenServer.requests.slice(before).flatMap((request) => request.scopes)).to.deep.equal([
            `repository:${repository}:pull`,
            `repository:${repository}:delete`,
            `repository:${repository}:pull,push`,
          ])
        }

        expect(await list()).to.equal(`${sha(referrer(2))} application/vnd.example.2 ${referrer(2).length}\n`)

        const last = await regshape(handle, ['--json', 'manifest', 'delete', `${handle.host}/${repository}@${sha(referrer(2))}`])
        expect(last.code, last.stderr).to.equal(0)
        expect(JSON.parse(last.stdout).subject).to.deep.include({digest: subject.digest, indexed_by: 'tag-schema', tag, updated: true})
        expect(await list()).to.equal('')
        expect((await regshape(handle, ['tag', 'list', `${handle.host}/${repository}`])).stdout, kind).to.equal('subject\n')
      }
    })

    it('a user who may delete but not pull: the delete goes ahead, with a note that no referrers tag was checked', async () => {
      const token = kinds[1].handle
      const deleter = {username: 'deleter', password: 'd3lete-only'}
      token.tokenServer!.addUser(deleter.username, {password: deleter.password, access: [{repo: 'write/*', actions: ['delete']}]})
      const {config, layer, repository} = await repoWithBlobs(token)
      const pushed = await new ImagePusher(token).manifest(repository, 'by-deleter', handWritten(config, layer), MEDIA.ociManifest)
      const result = await runCli(['manifest', 'delete', `${token.host}/${repository}@${pushed.digest}`], {env: {DOCKER_CONFIG: await loggedIn(token, deleter)}})
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`Deleted: ${pushed.digest}\n`)
      expect(result.stderr).to.match(/^Note: the manifest could not be read before the delete \(UNAUTHORIZED: authentication required\), so no referrers tag was checked for it\n$/)
      expect((await regshape(token, ['tag', 'list', `${token.host}/${repository}`])).stdout).to.equal('')
    })

    it('manifest delete of a tag, and tag delete of a digest or of no tag, exit 2 before any request', async () => {
      const basic = kinds[0].handle
      const digest = `sha256:${'a'.repeat(64)}`
      const mark = basic.markLogs()
      expectFailure(await regshape(basic, ['manifest', 'delete', `${basic.host}/write/x:v1`]), 2, /^Error: manifest delete requires a digest reference \(registry\/repo@sha256:\.\.\.\), not a tag; .*'tag delete'/)
      expectFailure(await regshape(basic, ['manifest', 'delete', `${basic.host}/write/x`]), 2, /^Error: manifest delete requires a digest reference/)
      expectFailure(await regshape(basic, ['tag', 'delete', `${basic.host}/write/x@${digest}`]), 2, /^Error: tag delete requires a tag reference; use manifest delete for digest references/)
      expectFailure(await regshape(basic, ['tag', 'delete', `${basic.host}/write/x:v1@${digest}`]), 2, /^Error: tag delete requires a tag reference; use manifest delete/)
      expectFailure(await regshape(basic, ['tag', 'delete', `${basic.host}/write/x`]), 2, /^Error: tag delete requires a tag reference \(registry\/repo:tag\)/)
      expect(basic.requestLog(mark)).to.deep.equal([])
    })

    it("tag delete on distribution 2.8: it answers 400 DIGEST_INVALID, so 'tag deletion is not supported by this registry', and the tag stays", async () => {
      const basic = kinds[0].handle
      const {config, layer, repository} = await repoWithBlobs(basic)
      await new ImagePusher(basic).manifest(repository, 'kept', handWritten(config, layer), MEDIA.ociManifest)
      const mark = basic.markLogs()
      const reference = `${basic.host}/${repository}:kept`
      const result = await regshape(basic, ['tag', 'delete', reference])
      expectFailure(result, 1, new RegExp(`^Error: tag delete ${reference}: tag deletion is not supported by this registry \\(HTTP 400, DIGEST_INVALID: .*\\); 'manifest delete' by digest removes the manifest and every tag on it\\n$`))
      expect(basic.requestLog(mark).map((entry) => [entry.method, entry.path, entry.status])).to.deep.equal([
        ['DELETE', `/v2/${repository}/manifests/kept`, 401],
        ['DELETE', `/v2/${repository}/manifests/kept`, 400],
      ])
      expect((await regshape(basic, ['tag', 'list', `${basic.host}/${repository}`])).stdout).to.equal('kept\n')
    })

    it('a pull-only user deleting gets one denied error, and the manifest and tag stay', async () => {
      const token = kinds[1].handle
      const {config, layer, repository} = await repoWithBlobs(token)
      const pushed = await new ImagePusher(token).manifest(repository, 'stays', handWritten(config, layer), MEDIA.ociManifest)
      const manifest = await regshape(token, ['manifest', 'delete', `${token.host}/${repository}@${pushed.digest}`], {user: reader})
      expectFailure(manifest, 1, new RegExp(`^Error: manifest delete ${token.host}/${repository}@${pushed.digest}: denied: delete on ${repository} is not granted to these credentials \\(401 insufficient_scope\\)\\n$`))
      const tag = await regshape(token, ['tag', 'delete', `${token.host}/${repository}:stays`], {user: reader})
      expectFailure(tag, 1, /denied: delete on .* is not granted to these credentials/)
      const still = await regshape(token, ['manifest', 'info', `${token.host}/${repository}:stays`, '--json'])
      expect(JSON.parse(still.stdout).digest).to.equal(pushed.digest)
    })
  })
})
