import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type HostileServer, startHostile} from '../helpers/hostile.js'
import {type CliResult, expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * What distribution 2.8 does not do, played by small node:http servers: each says which registry
 * behaviour it stands for. No auth: these servers test regshape's reading of the API, not logins.
 */

const sha = (text: Buffer | string) => `sha256:${createHash('sha256').update(text).digest('hex')}`
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

type Route = (request: IncomingMessage, response: ServerResponse, url: URL) => void

const servers: HostileServer[] = []
async function fake(route: Route): Promise<HostileServer> {
  const server = await startHostile((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x')
    if (url.pathname === '/v2/') {
      response.writeHead(200, {'content-type': 'application/json'})
      response.end('{}')
      return
    }

    route(request, response, url)
  })
  servers.push(server)
  return server
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, {'content-type': 'application/json', ...headers})
  response.end(typeof body === 'string' ? body : JSON.stringify(body))
}

const regshape = (args: string[]) => runCli(args, {env: {DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'regshape-fake-'))}})
const apiRequests = (server: HostileServer) => server.requests.filter((request) => request.url !== '/v2/')

function expectFailure(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(code)
  expect(result.stdout).to.equal('')
  expect(result.stderr.trim().split('\n')).to.have.length(1)
  expect(result.stderr).to.match(pattern)
  expectNoStackTrace(result)
}

describe('registry read commands against behaviour distribution 2.8 lacks', () => {
  after(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  describe('tag list with Link pagination', () => {
    const TAGS = Array.from({length: 25}, (_, i) => `t${String(i + 1).padStart(2, '0')}`)
    /** A registry that honours n and last for tags and links the next page (relative), as the OCI spec describes. */
    const paginating: Route = (_request, response, url) => {
      const n = Number(url.searchParams.get('n') ?? 10)
      const last = url.searchParams.get('last')
      const rest = TAGS.filter((tag) => last === null || tag > last)
      const page = rest.slice(0, n)
      const more = rest.length > n
      const link = `</v2/pg/app/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`
      json(response, 200, {name: 'pg/app', tags: page}, more ? {link} : {})
    }

    it('follows Link to the end by default', async () => {
      const server = await fake(paginating)
      const result = await regshape(['tag', 'list', `${server.host}/pg/app`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${TAGS.join('\n')}\n`)
      expect(apiRequests(server).map((request) => request.url)).to.deep.equal([
        '/v2/pg/app/tags/list',
        '/v2/pg/app/tags/list?n=10&last=t10',
        '/v2/pg/app/tags/list?n=10&last=t20',
      ])
    })

    it('--n without --all is one page of n; with --all, every page of n; --last starts after it', async () => {
      const server = await fake(paginating)
      const one = await regshape(['tag', 'list', `${server.host}/pg/app`, '--n', '4'])
      expect(one.stdout).to.equal('t01\nt02\nt03\nt04\n')
      expect(apiRequests(server).map((request) => request.url)).to.deep.equal(['/v2/pg/app/tags/list?n=4'])
      server.requests.length = 0
      const all = await regshape(['tag', 'list', '-i', `${server.host}/pg/app`, '--n', '4', '--all', '--json'])
      expect(JSON.parse(all.stdout)).to.deep.equal({name: 'pg/app', tags: TAGS})
      const urls = apiRequests(server).map((request) => request.url)
      expect(urls).to.have.length(7)
      expect(urls.every((url) => url.includes('n=4'))).to.equal(true)
      const after = await regshape(['tag', 'list', `${server.host}/pg/app`, '--last', 't20'])
      expect(after.stdout).to.equal('t21\nt22\nt23\nt24\nt25\n')
    })

    it('a Link that repeats a page is an error, not a loop', async () => {
      // a registry whose Link points back at the first page
      const server = await fake((_request, response) => json(response, 200, {name: 'loop/app', tags: ['a']}, {link: '</v2/loop/app/tags/list>; rel="next"'}))
      const result = await regshape(['tag', 'list', `${server.host}/loop/app`])
      expectFailure(result, 1, new RegExp(`^Error: tag list ${server.host}/loop/app: the registry's next page link repeats an earlier page \\(/v2/loop/app/tags/list\\); stopped\\n$`))
      expect(apiRequests(server)).to.have.length(1)
    })

    it('a Link to another host is not followed', async () => {
      // a registry whose Link sends the client elsewhere (where its credentials would follow)
      const server = await fake((_request, response) => json(response, 200, {name: 'x/app', tags: ['a']}, {link: '<http://elsewhere.example/v2/x/app/tags/list?last=a>; rel="next"'}))
      const result = await regshape(['tag', 'list', `${server.host}/x/app`])
      expectFailure(result, 1, /points to another host \(elsewhere\.example\); not followed/)
    })
  })

  describe('listings that never end: all pages together are capped', () => {
    /**
     * A registry that links page after page (up to `pages`, so a client without a cap still ends):
     * as a misbehaving or hostile registry can, to fill the client's memory.
     */
    const endless =
      (field: string, page: () => unknown[], pages: number): Route =>
      (_request, response, url) => {
        const at = Number(url.searchParams.get('page') ?? 1)
        const link: Record<string, string> = at < pages ? {link: `<${url.pathname}?page=${at + 1}>; rel="next"`} : {}
        json(response, 200, {name: 'big/app', [field]: page()}, link)
      }

    const many = Array.from({length: 200_000}, (_, i) => `t${i}`)
    const long = ['x'.repeat(3 * 1024 * 1024)]

    it('tag list: past a million tags it stops, naming the limit and how to page', async () => {
      const server = await fake(endless('tags', () => many, 8))
      const result = await regshape(['tag', 'list', `${server.host}/big/app`])
      expectFailure(result, 1, new RegExp(`^Error: tag list ${server.host}/big/app: the registry's pages hold more than 1000000 tags, regshape's limit for one listing; stopped\\. Read it a page at a time: --n N, then --last with the last tag of each page\\.\\n$`))
      expect(apiRequests(server)).to.have.length(6)
    })

    it('tag list: more than 64 MiB across pages is an error too, whatever the count', async () => {
      const server = await fake(endless('tags', () => long, 30))
      const result = await regshape(['tag', 'list', `${server.host}/big/app`])
      expectFailure(result, 1, /the registry's pages hold more than 64 MiB of tags, regshape's limit for one listing; stopped\. Read it a page at a time/)
      expect(apiRequests(server)).to.have.length(22)
    })

    it('catalog list --all and referrer list --all have the same limits', async () => {
      const catalog = await fake(endless('repositories', () => many, 8))
      expectFailure(await regshape(['catalog', 'list', catalog.host, '--all']), 1, /^Error: catalog list .*: the registry's pages hold more than 1000000 repositories, .* --n N, then --last with the last repository of each page\.\n$/)
      const entry = {mediaType: OCI_MANIFEST, digest: sha('r'), size: 1, artifactType: 'application/vnd.example'}
      const manifests = Array.from({length: 20_000}, () => entry)
      // a referrers API that links page after page of 20 000 referrers (about 3 MiB each)
      const referrers = await fake((_request, response, url) => {
        const at = Number(url.searchParams.get('page') ?? 1)
        const link: Record<string, string> = at < 30 ? {link: `<${url.pathname}?page=${at + 1}>; rel="next"`} : {}
        json(response, 200, {schemaVersion: 2, mediaType: OCI_INDEX, manifests}, {'content-type': OCI_INDEX, ...link})
      })
      expectFailure(await regshape(['referrer', 'list', `${referrers.host}/r/app@${sha('subject')}`, '--all']), 1, /^Error: referrer list .*: the registry's pages hold more than 64 MiB of referrers, .* Without --all, only the first page is read\.\n$/)
    })
  })

  describe('catalog list', () => {
    it('404 and 405 (no catalog API) exit 3; --json gives the error object', async () => {
      for (const status of [404, 405]) {
        // a registry without the catalog endpoint (GHCR, ECR, …)
        const server = await fake((_request, response) => json(response, status, {errors: [{code: 'UNSUPPORTED', message: 'catalog disabled'}]}))
        const result = await regshape(['catalog', 'list', '-r', server.host])
        expectFailure(result, 3, new RegExp(`^Error: catalog list ${server.host}: the registry does not support the catalog API \\(HTTP ${status}\\)\\n$`))
        const jsonResult = await regshape(['--json', 'catalog', 'list', server.host])
        expect(jsonResult.code).to.equal(3)
        expect(JSON.parse(jsonResult.stdout)).to.include({code: 'UNSUPPORTED', registry: server.host, status: 'error'})
      }
    })

    it('other failures exit 1, and a looping Link under --all is an error', async () => {
      // a registry that answers the catalog with a server error
      const broken = await fake((_request, response) => json(response, 500, {errors: [{code: 'UNKNOWN', message: 'boom'}]}))
      expectFailure(await regshape(['catalog', 'list', broken.host]), 1, /^Error: catalog list .*: UNKNOWN: boom\n$/)
      // a registry whose catalog Link points back at itself
      const loop = await fake((_request, response) => json(response, 200, {repositories: ['a']}, {link: '</v2/_catalog?n=1>; rel="next"'}))
      expectFailure(await regshape(['catalog', 'list', loop.host, '--n', '1', '--all']), 1, /repeats an earlier page/)
    })
  })

  describe('referrer list through the referrers API', () => {
    const subject = sha('subject')
    const entries = [
      {mediaType: OCI_MANIFEST, digest: sha('sbom'), size: 10, artifactType: 'application/vnd.example.sbom'},
      {mediaType: OCI_MANIFEST, digest: sha('sig'), size: 20, artifactType: 'application/vnd.example.sig', annotations: {'x.order': 'kept'}},
      {mediaType: OCI_MANIFEST, digest: sha('sbom2'), size: 30, artifactType: 'application/vnd.example.sbom'},
    ]
    /** A registry with the referrers API, filtering by artifactType when `filters` (and saying so in OCI-Filters-Applied), in pages of two. */
    const referrersApi =
      (filters: boolean): Route =>
      (_request, response, url) => {
        const wanted = url.searchParams.get('artifactType')
        const matching = filters && wanted ? entries.filter((entry) => entry.artifactType === wanted) : entries
        const second = url.searchParams.get('page') === '2'
        const page = matching.slice(second ? 2 : 0, second ? 4 : 2)
        const headers: Record<string, string> = {}
        if (filters && wanted) headers['oci-filters-applied'] = 'artifactType'
        if (!second && matching.length > 2) headers.link = `<${url.pathname}?page=2${wanted ? `&artifactType=${encodeURIComponent(wanted)}` : ''}>; rel="next"`
        json(response, 200, {schemaVersion: 2, mediaType: OCI_INDEX, manifests: page}, {'content-type': OCI_INDEX, ...headers})
      }

    it('prints one referrer per line from the first page; --all follows Link; --json has source referrers-api', async () => {
      const server = await fake(referrersApi(true))
      const first = await regshape(['referrer', 'list', `${server.host}/r/app@${subject}`])
      expect(first.code, first.stderr).to.equal(0)
      expect(first.stderr).to.equal('')
      expect(first.stdout).to.equal(`${entries[0].digest} application/vnd.example.sbom 10\n${entries[1].digest} application/vnd.example.sig 20\n`)
      const [request] = apiRequests(server)
      expect(request.url).to.equal(`/v2/r/app/referrers/${subject}`)
      expect(request.headers.accept).to.include(OCI_INDEX)
      const all = await regshape(['--json', 'referrer', 'list', `${server.host}/r/app@${subject}`, '--all'])
      expect(JSON.parse(all.stdout)).to.deep.equal({schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries, source: 'referrers-api'})
    })

    it('--artifact-type: the registry\'s filter is trusted when OCI-Filters-Applied says so', async () => {
      const server = await fake(referrersApi(true))
      const result = await regshape(['referrer', 'list', `${server.host}/r/app@${subject}`, '--artifact-type', 'application/vnd.example.sbom', '--all'])
      expect(result.stdout).to.equal(`${entries[0].digest} application/vnd.example.sbom 10\n${entries[2].digest} application/vnd.example.sbom 30\n`)
      expect(apiRequests(server)[0].url).to.equal(`/v2/r/app/referrers/${subject}?artifactType=application%2Fvnd.example.sbom`)
    })

    it('--artifact-type is applied here when the registry ignored it (no OCI-Filters-Applied)', async () => {
      const server = await fake(referrersApi(false))
      const result = await regshape(['referrer', 'list', `${server.host}/r/app@${subject}`, '-t', 'application/vnd.example.sig', '--json'])
      expect(JSON.parse(result.stdout).manifests).to.deep.equal([entries[1]])
    })
  })

  describe('a registry that lies about a manifest\'s digest', () => {
    const body = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: OCI_INDEX, manifests: []}))
    const other = sha('something else')
    /** Serves `body` under any reference, announcing another digest (a tampering mirror, a broken cache). */
    const liar: Route = (_request, response) => {
      response.writeHead(200, {'content-type': OCI_INDEX, 'docker-content-digest': other, 'content-length': body.length})
      response.end(_request.method === 'HEAD' ? undefined : body)
    }

    it('by tag: the bytes must hash to Docker-Content-Digest; exit 1, nothing written to -o', async () => {
      const server = await fake(liar)
      const file = join(mkdtempSync(join(tmpdir(), 'regshape-out-')), 'manifest.json')
      const result = await regshape(['manifest', 'get', `${server.host}/lie/app:v1`, '-o', file])
      expectFailure(result, 1, new RegExp(`^Error: manifest get ${server.host}/lie/app:v1: the manifest's bytes hash to ${sha(body)}, not ${other} \\(the Docker-Content-Digest the registry sent\\); refused\\n$`))
      expect(existsSync(file)).to.equal(false)
      expectFailure(await regshape(['manifest', 'get', `${server.host}/lie/app:v1`, '--raw']), 1, /refused/)
    })

    it('by digest: the bytes must hash to the digest asked for', async () => {
      const server = await fake(liar)
      const result = await regshape(['manifest', 'get', `${server.host}/lie/app@${other}`, '--raw'])
      expectFailure(result, 1, /the manifest's bytes hash to sha256:[0-9a-f]{64}, not sha256:[0-9a-f]{64} \(the digest asked for\); refused/)
    })

    it('manifest descriptor by digest refuses a HEAD that announces another digest', async () => {
      const server = await fake(liar)
      const asked = sha('asked')
      expectFailure(await regshape(['manifest', 'descriptor', `${server.host}/lie/app@${asked}`]), 1, /announced Docker-Content-Digest .* refused/)
    })

    it('blob head refuses a Docker-Content-Digest other than the one asked for', async () => {
      const server = await fake(liar)
      expectFailure(await regshape(['blob', 'head', `${server.host}/lie/app@${sha('blob')}`]), 1, /^Error: blob head .*: the registry announced Docker-Content-Digest .*; refused\n$/)
    })
  })

  it('manifest info: a HEAD without Docker-Content-Digest is followed by a GET, and the digest computed', async () => {
    const body = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
    // a registry (or proxy) whose HEAD answers carry no digest header
    const server = await fake((request, response) => {
      response.writeHead(200, {'content-type': OCI_INDEX, 'content-length': body.length})
      response.end(request.method === 'HEAD' ? undefined : body)
    })
    const result = await regshape(['--json', 'manifest', 'info', `${server.host}/nodigest/app:v1`])
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal({digest: sha(body), media_type: OCI_INDEX, size: body.length})
    expect(apiRequests(server).map((request) => request.method)).to.deep.equal(['HEAD', 'GET'])
  })

  it('a manifest over 4 MiB is refused with the cap in the error', async () => {
    // a registry that serves an oversized manifest (distribution refuses to store one)
    const server = await fake((_request, response) => {
      response.writeHead(200, {'content-type': OCI_MANIFEST})
      response.end(Buffer.alloc(4 * 1024 * 1024 + 10, 0x20))
    })
    const result = await regshape(['manifest', 'get', `${server.host}/big/app:v1`])
    expectFailure(result, 1, new RegExp(`^Error: manifest get ${server.host}/big/app:v1: the manifest is larger than 4 MiB \\(4194304 bytes\\), distribution's limit for manifests; refused\\n$`))
  })

  it('--accept replaces the Accept header; without it every manifest type is asked for', async () => {
    const body = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
    // a registry that records what it was asked to accept
    const server = await fake((_request, response) => {
      response.writeHead(200, {'content-type': OCI_INDEX})
      response.end(body)
    })
    await regshape(['manifest', 'get', `${server.host}/a/app:v1`, '--accept', OCI_INDEX])
    await regshape(['manifest', 'get', `${server.host}/a/app:v1`])
    const [given, standard] = apiRequests(server).map((request) => request.headers.accept)
    expect(given).to.equal(OCI_INDEX)
    expect(standard?.split(/,\s*/)).to.have.members([OCI_MANIFEST, OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json'])
  })

  it('manifest info and descriptor send --accept with their HEAD', async () => {
    const body = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
    // a registry that records what it was asked to accept, and answers HEAD with every header
    const server = await fake((request, response) => {
      response.writeHead(200, {'content-length': body.length, 'content-type': OCI_INDEX, 'docker-content-digest': sha(body)})
      response.end(request.method === 'HEAD' ? undefined : body)
    })
    const info = await regshape(['manifest', 'info', `${server.host}/a/app:v1`, '--accept', OCI_INDEX])
    expect(info.stdout).to.include(`Digest:       ${sha(body)}`)
    const descriptor = await regshape(['manifest', 'descriptor', `${server.host}/a/app:v1`, '--accept', OCI_INDEX])
    expect(JSON.parse(descriptor.stdout)).to.deep.equal({mediaType: OCI_INDEX, digest: sha(body), size: body.length})
    expect(apiRequests(server).map((request) => [request.method, request.headers.accept])).to.deep.equal([
      ['HEAD', OCI_INDEX],
      ['HEAD', OCI_INDEX],
    ])
  })

  it('blob get: a body longer than its Content-Length fails in one line and leaves no temporary file', async () => {
    const blob = Buffer.from('0123456789abcdefghij')
    // a registry (or a broken proxy) that sends more bytes than the Content-Length it announced;
    // written to the socket by hand, since node:http refuses to break HTTP this way
    const server = await fake((_request, response) => {
      response.socket?.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 10\r\n\r\n`)
      response.socket?.write(blob)
    })
    const directory = mkdtempSync(join(tmpdir(), 'regshape-out-'))
    const reference = `${server.host}/long/app@${sha(blob)}`
    const result = await regshape(['blob', 'get', reference, '-o', join(directory, 'blob')])
    expectFailure(result, 1, new RegExp(`^Error: blob get ${reference}: .*Content-Length`))
    expect(readdirSync(directory)).to.deep.equal([])
    expectFailure(await regshape(['blob', 'get', reference]), 1, new RegExp(`^Error: blob get ${reference}: `))
  })

  it('copy --referrers: a referrer whose digest is a path is refused before any request leaves the repository', async () => {
    const config = Buffer.from('{}')
    const manifest = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: OCI_MANIFEST, config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: 2}, layers: []}))
    const evil = 'sha256:../../../../elsewhere/manifests/v1'
    // a registry whose referrers API lists a descriptor with a digest that climbs out of the repository
    const server = await fake((request, response, url) => {
      if (url.pathname === '/v2/r/app/manifests/v1' || url.pathname === `/v2/r/app/manifests/${sha(manifest)}`) {
        response.writeHead(200, {'content-type': OCI_MANIFEST, 'docker-content-digest': sha(manifest), 'content-length': manifest.length})
        response.end(request.method === 'HEAD' ? undefined : manifest)
      } else if (url.pathname === `/v2/r/app/blobs/${sha(config)}`) {
        response.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': config.length})
        response.end(request.method === 'HEAD' ? undefined : config)
      } else if (url.pathname === `/v2/r/app/referrers/${sha(manifest)}`) {
        json(response, 200, {schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{mediaType: OCI_MANIFEST, digest: evil, size: 10}]}, {'content-type': OCI_INDEX})
      } else if (request.method === 'HEAD' && url.pathname.startsWith('/v2/m/app/blobs/')) {
        // the destination, m/app, has every blob and takes every manifest
        response.writeHead(200, {'content-length': 2})
        response.end()
      } else if (request.method === 'PUT' && url.pathname.startsWith('/v2/m/app/manifests/')) {
        request.resume()
        response.writeHead(201, {'docker-content-digest': sha(manifest)})
        response.end()
      } else {
        json(response, 404, {errors: [{code: 'MANIFEST_UNKNOWN', message: 'nothing here'}]})
      }
    })
    const result = await regshape(['copy', `${server.host}/r/app:v1`, `${server.host}/m/app`, '--referrers'])
    const outside = apiRequests(server).filter((request) => !/^\/v2\/(r|m)\/app\//.test(request.url))
    expect(outside.map((request) => `${request.method} ${request.url}`)).to.deep.equal([])
    expectFailure(result, 1, /^Error: referrers of sha256:[0-9a-f]{64}: manifests\[0\] has an invalid digest/)
    // A layout destination refuses it too, before its own files are looked for.
    const layout = join(mkdtempSync(join(tmpdir(), 'regshape-copy-')), 'layout')
    expectFailure(await regshape(['copy', `${server.host}/r/app:v1`, `oci:${layout}`, '--referrers']), 1, /^Error: referrers of sha256:[0-9a-f]{64}: manifests\[0\] has an invalid digest/)
  })

  it('a manifest nested 100 000 levels deep: one error naming the reference, for get, --part, info and copy', async () => {
    const config = Buffer.from('{}')
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    const descriptor = `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${sha(config)}","size":2`
    const body = Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${descriptor}},"layers":[],"subject":${descriptor},"x":${deep}},"x":${deep}}`)
    // a registry serving a manifest (no Docker-Content-Digest, so HEAD is followed by a GET) that
    // nests arrays 100 000 levels deep, and a referrers API whose entry does the same
    const server = await fake((request, response, url) => {
      if (url.pathname.includes('/referrers/')) {
        json(response, 200, `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${descriptor},"x":${deep}}]}`, {'content-type': OCI_INDEX})
      } else if (url.pathname.includes('/manifests/')) {
        response.writeHead(200, {'content-type': OCI_MANIFEST, 'content-length': body.length})
        response.end(request.method === 'HEAD' ? undefined : body)
      } else {
        response.writeHead(200, {'content-length': config.length})
        response.end(request.method === 'HEAD' ? undefined : config)
      }
    })
    const reference = `${server.host}/deep/app:v1`
    const refused = new RegExp(`^Error: manifest get ${reference}: the manifest is nested more than 32 levels deep; refused\\n$`)
    expectFailure(await regshape(['manifest', 'get', reference]), 1, refused)
    expectFailure(await regshape(['manifest', 'get', reference, '--part', 'subject']), 1, refused)
    expectFailure(await regshape(['manifest', 'info', reference]), 1, refused)
    const layout = join(mkdtempSync(join(tmpdir(), 'regshape-copy-')), 'layout')
    expectFailure(await regshape(['copy', reference, `oci:${layout}`]), 1, refused)
    // --json prints the answer back: the error is the JSON object on stdout.
    const listed = await regshape(['referrer', 'list', `${server.host}/deep/app@${sha(body)}`, '--json'])
    expect(listed.code, listed.stderr).to.equal(1)
    expect(listed.stderr).to.equal('')
    expect(JSON.parse(listed.stdout).error).to.match(/^referrer list .*: the registry's answer is nested more than 32 levels deep; refused$/)
  })

  it('registry text with control characters is escaped in human output', async () => {
    // a registry that puts terminal escapes in tag names
    const server = await fake((_request, response) => json(response, 200, {name: 'esc/app', tags: ['ok', 'bad\u001b[31mred', 'x\u009by']}))
    const result = await regshape(['tag', 'list', `${server.host}/esc/app`])
    expect(result.stdout).to.equal('ok\nbad\\x1b[31mred\nx\\x9by\n')
    const jsonResult = await regshape(['tag', 'list', `${server.host}/esc/app`, '--json'])
    expect(JSON.parse(jsonResult.stdout).tags).to.deep.equal(['ok', 'bad\u001b[31mred', 'x\u009by'])
  })
})
