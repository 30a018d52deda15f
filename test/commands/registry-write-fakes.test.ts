import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, writeFileSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type CliResult, expectNoStackTrace, runCli} from '../helpers/cli.js'
import {type HostileServer, startHostile} from '../helpers/hostile.js'
import {runOnPty} from '../helpers/pty.js'

/**
 * What distribution 2.8 does not do on the write side, played by small node:http servers, each
 * saying which registry behaviour it stands for: a wrong or missing Docker-Content-Digest, tag
 * deletion accepted (202) or refused with 405, an OCI-Subject answer (a registry with the
 * referrers API), and a referrers tag that holds something other than an index. No auth: these
 * servers test regshape's reading of the answers, not logins.
 */

const sha = (bytes: Buffer | string, algorithm = 'sha256') => `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const EMPTY = {mediaType: 'application/vnd.oci.empty.v1+json', digest: sha('{}'), size: 2}
const SUBJECT = {mediaType: OCI_MANIFEST, digest: sha('the subject'), size: 11}
const PLAIN = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY, layers: [EMPTY]}))
const REFERRER = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig', config: EMPTY, layers: [EMPTY], subject: SUBJECT}))

type Route = (request: IncomingMessage, body: Buffer, response: ServerResponse) => void

const servers: HostileServer[] = []
const bodies = new Map<HostileServer, Buffer[]>()

async function fake(route: Route): Promise<HostileServer> {
  const received: Buffer[] = []
  const server = await startHostile((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (request.url === '/v2/') {
        response.writeHead(200, {'content-type': 'application/json'})
        response.end('{}')
        return
      }

      const body = Buffer.concat(chunks)
      received.push(body)
      route(request, body, response)
    })
  })
  servers.push(server)
  bodies.set(server, received)
  return server
}

const apiRequests = (server: HostileServer) => server.requests.filter((request) => request.url !== '/v2/').map((request) => `${request.method} ${request.url}`)
const work = mkdtempSync(join(tmpdir(), 'regshape-write-fake-'))

function manifestFile(name: string, bytes: Buffer): string {
  const path = join(work, name)
  writeFileSync(path, bytes)
  return path
}

const regshape = (args: string[]) => runCli(args, {env: {DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'regshape-fake-'))}})

function expectFailure(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(code)
  expect(result.stdout).to.equal('')
  expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1)
  expect(result.stderr).to.match(pattern)
  expectNoStackTrace(result)
}

/** A registry that stores manifest PUTs and answers 201 with the headers `headers` gives for the body. */
function storing(headers: (body: Buffer, request: IncomingMessage) => Record<string, string>): Route {
  return (request, body, response) => {
    if (request.method === 'PUT') {
      response.writeHead(201, {'content-length': '0', ...headers(body, request)})
      response.end()
      return
    }

    response.writeHead(404, {'content-type': 'application/json'})
    response.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
  }
}

describe('registry write commands against behaviour distribution 2.8 lacks', () => {
  after(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  describe('Docker-Content-Digest on manifest put', () => {
    it('a registry that answers another digest than the bytes sent: exit 1, and the error names both', async () => {
      // A registry (or a proxy) that stored or re-encoded something other than what it was sent.
      const wrong = sha('something else')
      const server = await fake(storing(() => ({'docker-content-digest': wrong})))
      const result = await regshape(['manifest', 'put', `${server.host}/fake/app:v1`, '-f', manifestFile('plain.json', PLAIN)])
      expectFailure(result, 1, new RegExp(`^Error: manifest put ${server.host}/fake/app:v1: the registry answered Docker-Content-Digest ${wrong}, but the bytes sent hash to ${sha(PLAIN)}; it did not store what was sent\\n$`))
      expect(bodies.get(server)).to.deep.equal([PLAIN])
      const json = await regshape(['--json', 'manifest', 'put', `${server.host}/fake/app:v1`, '-f', join(work, 'plain.json')])
      expect(json.code).to.equal(1)
      expect(JSON.parse(json.stdout)).to.include({status: 'error', reference: `${server.host}/fake/app:v1`})
    })

    it('a digest that is no digest is refused too', async () => {
      const server = await fake(storing(() => ({'docker-content-digest': 'sha256:nothex'})))
      const result = await regshape(['manifest', 'put', `${server.host}/fake/app:v1`, '-f', manifestFile('plain.json', PLAIN)])
      expectFailure(result, 1, /answered Docker-Content-Digest "sha256:nothex", which is not a digest/)
    })

    it('a sha512 Docker-Content-Digest is checked with sha512', async () => {
      // A registry whose canonical algorithm is sha512.
      const server = await fake(storing((body) => ({'docker-content-digest': sha(body, 'sha512')})))
      const result = await regshape(['manifest', 'put', `${server.host}/fake/app:v1`, '-f', manifestFile('plain.json', PLAIN)])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`Pushed: ${sha(PLAIN)}\n`)
    })

    it('a registry that sends none: pushed, with a note that the digest is regshape’s own', async () => {
      // Older or minimal registries omit the header (the spec says SHOULD).
      const server = await fake(storing(() => ({})))
      const result = await regshape(['manifest', 'put', `${server.host}/fake/app:v1`, '-f', manifestFile('plain.json', PLAIN)])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`Pushed: ${sha(PLAIN)}\n`)
      expect(result.stderr).to.equal(`Note: the registry sent no Docker-Content-Digest for v1; ${sha(PLAIN)} is regshape's own\n`)
    })
  })

  describe('a manifest with a subject', () => {
    it('OCI-Subject in the answer: the registry indexed it, so the referrers tag is left alone', async () => {
      // A registry with the referrers API (distribution spec 1.1), which says so with OCI-Subject.
      const server = await fake(storing((body) => ({'docker-content-digest': sha(body), 'oci-subject': SUBJECT.digest})))
      const result = await regshape(['--json', 'manifest', 'put', `${server.host}/fake/app`, '-f', manifestFile('referrer.json', REFERRER)])
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout).subject).to.deep.equal({digest: SUBJECT.digest, indexed_by: 'registry', oci_subject: SUBJECT.digest})
      expect(result.stderr).to.equal(`Note: the registry indexed the referrer of ${SUBJECT.digest} itself (OCI-Subject)\n`)
      expect(apiRequests(server)).to.deep.equal([`PUT /v2/fake/app/manifests/${sha(REFERRER)}`])
    })

    it('no OCI-Subject and a referrers tag that is not an index: exit 1 naming the pushed digest, and the tag is not overwritten', async () => {
      // A registry where the <alg>-<hex> tag happens to hold an image manifest (the spec: report a failure, skip the update).
      const server = await fake((request, body, response) => {
        if (request.method === 'PUT') {
          response.writeHead(201, {'docker-content-digest': sha(body)})
          response.end()
          return
        }

        response.writeHead(200, {'content-type': OCI_MANIFEST, 'docker-content-digest': sha(PLAIN)})
        response.end(PLAIN)
      })
      const result = await regshape(['manifest', 'put', `${server.host}/fake/app`, '-f', manifestFile('referrer.json', REFERRER)])
      const tag = SUBJECT.digest.replace(':', '-')
      expectFailure(
        result,
        1,
        new RegExp(`^Error: manifest put ${server.host}/fake/app@${sha(REFERRER)}: pushed ${sha(REFERRER)}, but the registry sent no OCI-Subject and the referrers tag ${tag} could not be updated: the tag holds a manifest that is not a referrers index \\(it is ${OCI_MANIFEST.replaceAll('+', '\\+')}, not an OCI image index\\); it was left as it was\\n$`),
      )
      expect(apiRequests(server)).to.deep.equal([`PUT /v2/fake/app/manifests/${sha(REFERRER)}`, `GET /v2/fake/app/manifests/${tag}`])
    })
  })

  describe('manifest delete of a referrer', () => {
    it('a registry with the referrers API (200): the referrers tag is left alone', async () => {
      // A registry with the referrers API, which keeps its referrers lists itself.
      const server = await fake((request, _body, response) => {
        if (request.method === 'DELETE') {
          response.writeHead(202, {'content-length': '0'})
          response.end()
        } else if (request.url?.startsWith('/v2/fake/app/referrers/')) {
          response.writeHead(200, {'content-type': 'application/vnd.oci.image.index.v1+json'})
          response.end('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
        } else {
          response.writeHead(200, {'content-type': OCI_MANIFEST, 'docker-content-digest': sha(REFERRER)})
          response.end(REFERRER)
        }
      })
      const result = await regshape(['manifest', 'delete', `${server.host}/fake/app@${sha(REFERRER)}`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.equal(`Note: the registry has a referrers API, which drops the referrer of ${SUBJECT.digest} itself\n`)
      expect(apiRequests(server)).to.deep.equal([
        `GET /v2/fake/app/manifests/${sha(REFERRER)}`,
        `DELETE /v2/fake/app/manifests/${sha(REFERRER)}`,
        `GET /v2/fake/app/referrers/${SUBJECT.digest}`,
      ])
    })
  })

  it('manifest put --stdin on a terminal exits 2 at once instead of waiting for input, and sends nothing', async () => {
    const server = await fake(storing((body) => ({'docker-content-digest': sha(body)})))
    const result = await runOnPty(['manifest', 'put', `${server.host}/fake/app:v1`, '--stdin'], [], {DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'regshape-fake-')), HOME: work}, 10)
    expect(result.failure).to.equal(null)
    expect(result.code).to.equal(2)
    expect(result.transcript).to.include('Error: --stdin reads the manifest from a pipe or a file, and standard input is a terminal')
    expect(apiRequests(server)).to.deep.equal([])
  })

  describe('tag delete', () => {
    it('a registry that deletes tags (202): Deleted tag, one DELETE of the tag', async () => {
      // A registry implementing the OCI spec's optional tag deletion (end-9).
      const server = await fake((_request, _body, response) => {
        response.writeHead(202, {'content-length': '0'})
        response.end()
      })
      const result = await regshape(['tag', 'delete', `${server.host}/fake/app:v1.0`])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`Deleted tag: ${server.host}/fake/app:v1.0\n`)
      const json = await regshape(['--json', 'tag', 'delete', '-i', `${server.host}/fake/app:v1.0`])
      expect(JSON.parse(json.stdout)).to.deep.equal({deleted: 'v1.0', reference: `${server.host}/fake/app:v1.0`})
      expect(apiRequests(server)).to.deep.equal(['DELETE /v2/fake/app/manifests/v1.0', 'DELETE /v2/fake/app/manifests/v1.0'])
    })

    it('a registry that answers 405: tag deletion is not supported by this registry', async () => {
      // A registry with tag deletion switched off (the spec's 405 Method Not Allowed).
      const server = await fake((_request, _body, response) => {
        response.writeHead(405, {'content-length': '0'})
        response.end()
      })
      const result = await regshape(['tag', 'delete', `${server.host}/fake/app:v1.0`])
      expectFailure(result, 1, new RegExp(`^Error: tag delete ${server.host}/fake/app:v1.0: tag deletion is not supported by this registry \\(HTTP 405\\); 'manifest delete' by digest`))
    })
  })
})
