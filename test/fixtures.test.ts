/**
 * Self-test of the real-server fixtures: proves each part behaves like the real thing before
 * regshape's integration tests rely on it. Uses only node:http/https as the client.
 */
import {expect} from 'chai'
import {X509Certificate} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {request as httpRequest, type IncomingHttpHeaders} from 'node:http'
import {request as httpsRequest} from 'node:https'

import {sharedPki} from './fixtures/pki.js'
import {freePort, waitFor} from './fixtures/ports.js'
import {startRegistry} from './fixtures/registry.js'
import {
  basicRegistry,
  basicTlsRegistry,
  openRegistry,
  passHelper,
  startAll,
  TOKEN_ISSUER,
  TOKEN_SERVICE,
  tokenRegistry,
  tokenTlsRegistry,
  USERS,
} from './fixtures/servers.js'
import {decodeJwt, grantAccess, libtrustKeyId} from './fixtures/token-server.js'

interface Res {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

function fetchRaw(
  url: string,
  opts: {method?: string; headers?: Record<string, string>; body?: string; ca?: string} = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const o = {method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false as const}
    const req = u.protocol === 'https:' ? httpsRequest(u, {...o, ca: opts.ca}) : httpRequest(u, o)
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8')}))
    })
    req.end(opts.body)
  })
}

const basicAuth = (user: string, pw: string) => ({authorization: 'Basic ' + Buffer.from(`${user}:${pw}`, 'utf8').toString('base64')})
const bearer = (t: string) => ({authorization: `Bearer ${t}`})

/** Parses `Bearer realm="..",service="..",scope=".."` (values are quoted, may contain commas). */
function parseChallenge(h: string | undefined): {scheme: string; params: Record<string, string>} {
  expect(h, 'WWW-Authenticate header').to.be.a('string')
  const [scheme, rest] = [h!.slice(0, h!.indexOf(' ')), h!.slice(h!.indexOf(' ') + 1)]
  const params: Record<string, string> = {}
  for (const m of rest.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!
  return {scheme, params}
}

async function getToken(
  realm: string,
  query: Record<string, string | string[]>,
  headers: Record<string, string> = {},
  ca?: string,
): Promise<Res & {json: Record<string, unknown>}> {
  const u = new URL(realm)
  for (const [k, v] of Object.entries(query)) for (const x of [v].flat()) u.searchParams.append(k, x)
  const res = await fetchRaw(u.toString(), {headers, ca})
  return {...res, json: JSON.parse(res.body) as Record<string, unknown>}
}

async function postToken(realm: string, form: Record<string, string>, ca?: string): Promise<Res & {json: Record<string, unknown>}> {
  const res = await fetchRaw(realm, {
    method: 'POST',
    headers: {'content-type': 'application/x-www-form-urlencoded'},
    body: new URLSearchParams(form).toString(),
    ca,
  })
  return {...res, json: JSON.parse(res.body) as Record<string, unknown>}
}

describe('test fixtures', function () {
  this.timeout(60_000)

  before(async function () {
    // All shared servers in parallel: the whole suite's start-up cost is paid once, here.
    await startAll()
  })

  describe('ports', function () {
    it('freePort returns a bindable port and waitFor polls until truthy', async function () {
      const p = await freePort()
      expect(p).to.be.within(1024, 65535)
      let n = 0
      expect(await waitFor(() => ++n >= 3 && n, 1000, {intervalMs: 1})).to.equal(3)
      let err: unknown
      try {
        await waitFor(() => false, 50, {what: 'never'})
      } catch (error) {
        err = error
      }

      expect(String(err)).to.match(/timed out after 50 ms waiting for never/)
    })
  })

  describe('pki', function () {
    it('makes a CA, a server cert for 127.0.0.1/localhost signed by it, and a separate EC P-256 token signer', function () {
      const pki = sharedPki()
      for (const f of [pki.caFile, pki.caKeyFile, pki.serverCertFile, pki.serverKeyFile, pki.tokenSignerCertFile, pki.tokenSignerKeyFile]) {
        expect(existsSync(f), f).to.equal(true)
      }

      const ca = new X509Certificate(pki.caPem)
      const server = new X509Certificate(pki.serverCertPem)
      const signer = new X509Certificate(pki.tokenSignerCertPem)
      expect(ca.ca).to.equal(true)
      expect(server.verify(ca.publicKey)).to.equal(true)
      expect(server.checkIP('127.0.0.1')).to.equal('127.0.0.1')
      expect(server.checkHost('localhost')).to.equal('localhost')
      expect(signer.verify(signer.publicKey)).to.equal(true)
      expect(signer.verify(ca.publicKey)).to.equal(false)
      expect(signer.publicKey.asymmetricKeyDetails?.namedCurve).to.equal('prime256v1')
      expect(sharedPki()).to.equal(pki) // memoized
      expect(libtrustKeyId(pki.tokenSignerCertPem)).to.match(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
    })
  })

  describe('htpasswd registry (HTTP)', function () {
    it('challenges with Basic realm and no credentials', async function () {
      const reg = await basicRegistry()
      const res = await fetchRaw(`${reg.url}/v2/`)
      expect(res.status).to.equal(401)
      expect(res.headers['www-authenticate']).to.equal('Basic realm="regshape-test"')
      expect(res.headers['docker-distribution-api-version']).to.equal('registry/2.0')
    })

    it("accepts alice's and bob's (colon, spaces, quotes, UTF-8) passwords and rejects a wrong one", async function () {
      const reg = await basicRegistry()
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('alice', USERS.alice.password)})).status).to.equal(200)
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('bob', USERS.bob.password)})).status).to.equal(200)
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('alice', 'wrong')})).status).to.equal(401)
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('bob', 'p@ss')})).status).to.equal(401)
    })

    it('exposes the access log as parsed entries', async function () {
      const reg = await basicRegistry()
      const mark = reg.markLogs()
      await fetchRaw(`${reg.url}/v2/nope/tags/list?n=1`, {headers: {...basicAuth('alice', USERS.alice.password), 'user-agent': 'fixture-test'}})
      const entries = await waitFor(() => {
        const e = reg.requestLog(mark).filter((x) => x.userAgent === 'fixture-test')
        return e.length > 0 && e
      }, 5000)
      expect(entries).to.deep.equal([{method: 'GET', path: '/v2/nope/tags/list?n=1', status: 404, bytes: entries[0]!.bytes, userAgent: 'fixture-test'}])
    })
  })

  describe('htpasswd registry (HTTPS)', function () {
    it('works when trusting ca.pem and fails verification without it', async function () {
      const reg = await basicTlsRegistry()
      expect(reg.scheme).to.equal('https')
      const ca = readFileSync(reg.caFile, 'utf8')
      const ok = await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('alice', USERS.alice.password), ca})
      expect(ok.status).to.equal(200)
      let err: NodeJS.ErrnoException | undefined
      try {
        await fetchRaw(`${reg.url}/v2/`)
      } catch (error) {
        err = error as NodeJS.ErrnoException
      }

      expect(err?.code).to.be.oneOf(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN'])
    })
  })

  describe('token registry (HTTP)', function () {
    it('challenges with Bearer realm/service, and a Basic-authenticated token opens /v2/', async function () {
      const reg = await tokenRegistry()
      const first = await fetchRaw(`${reg.url}/v2/`)
      expect(first.status).to.equal(401)
      const ch = parseChallenge(first.headers['www-authenticate'] as string)
      expect(ch.scheme).to.equal('Bearer')
      expect(ch.params).to.deep.equal({realm: reg.tokenServer.url, service: TOKEN_SERVICE})

      const tok = await getToken(ch.params.realm!, {service: ch.params.service!, account: 'alice'}, basicAuth('alice', USERS.alice.password))
      expect(tok.status).to.equal(200)
      expect(tok.json.token).to.be.a('string').and.equal(tok.json.access_token)
      expect(tok.json.expires_in).to.equal(300)
      expect(Date.parse(tok.json.issued_at as string)).to.be.closeTo(Date.now(), 60_000)
      expect(tok.json).to.not.have.property('refresh_token')

      const {header, claims} = decodeJwt(tok.json.token as string)
      expect(header).to.include({typ: 'JWT', alg: 'ES256'})
      expect(header.x5c).to.be.an('array').with.length(1)
      expect(claims).to.include({iss: TOKEN_ISSUER, sub: 'alice', aud: TOKEN_SERVICE})

      expect((await fetchRaw(`${reg.url}/v2/`, {headers: bearer(tok.json.token as string)})).status).to.equal(200)
    })

    it('includes the scope in repository challenges and accepts a token carrying it', async function () {
      const reg = await tokenRegistry()
      const res = await fetchRaw(`${reg.url}/v2/alice/app/tags/list`)
      expect(res.status).to.equal(401)
      const ch = parseChallenge(res.headers['www-authenticate'] as string)
      expect(ch.params.scope).to.equal('repository:alice/app:pull')
      const tok = await getToken(ch.params.realm!, {service: TOKEN_SERVICE, scope: ch.params.scope!}, basicAuth('alice', USERS.alice.password))
      const again = await fetchRaw(`${reg.url}/v2/alice/app/tags/list`, {headers: bearer(tok.json.token as string)})
      expect(again.status).to.equal(404) // authorized; the repository just does not exist
      expect(again.body).to.contain('NAME_UNKNOWN')
    })

    it("issues anonymous tokens the registry accepts on /v2/, and bob's special password works", async function () {
      const reg = await tokenRegistry()
      const anon = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE, scope: 'repository:private/x:pull'})
      expect(anon.status).to.equal(200)
      expect(decodeJwt(anon.json.token as string).claims).to.include({sub: ''})
      expect(decodeJwt(anon.json.token as string).claims.access).to.deep.equal([])
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: bearer(anon.json.token as string)})).status).to.equal(200)

      const pub = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE, scope: 'repository:public/x:pull,push'})
      expect(decodeJwt(pub.json.token as string).claims.access).to.deep.equal([{type: 'repository', name: 'public/x', actions: ['pull']}])

      const bob = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE, scope: 'repository:bob/app:pull,push'}, basicAuth('bob', USERS.bob.password))
      expect(bob.status).to.equal(200)
      expect(decodeJwt(bob.json.token as string).claims.access).to.deep.equal([{type: 'repository', name: 'bob/app', actions: ['pull', 'push']}])
    })

    it('answers 401 for a wrong password and 400 for a wrong service', async function () {
      const reg = await tokenRegistry()
      const bad = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE}, basicAuth('alice', 'wrong'))
      expect(bad.status).to.equal(401)
      expect(bad.json).to.deep.equal({errors: [{code: 'UNAUTHORIZED', message: 'authentication failed'}]})
      const unknown = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE}, basicAuth('mallory', 'x'))
      expect(unknown.status).to.equal(401)
      const svc = await getToken(reg.tokenServer.url, {service: 'other'}, basicAuth('alice', USERS.alice.password))
      expect(svc.status).to.equal(400)
    })

    it('grants reader only pull for repository:x/y:push,pull, and the registry refuses the push', async function () {
      const reg = await tokenRegistry()
      const tok = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE, scope: 'repository:x/y:push,pull'}, basicAuth('reader', USERS.reader.password))
      expect(tok.status).to.equal(200)
      expect(decodeJwt(tok.json.token as string).claims.access).to.deep.equal([{type: 'repository', name: 'x/y', actions: ['pull']}])

      const pushOnly = await getToken(reg.tokenServer.url, {service: TOKEN_SERVICE, scope: 'repository:x/y:push'}, basicAuth('reader', USERS.reader.password))
      expect(decodeJwt(pushOnly.json.token as string).claims.access).to.deep.equal([])

      const push = await fetchRaw(`${reg.url}/v2/x/y/blobs/uploads/`, {method: 'POST', headers: bearer(tok.json.token as string)})
      expect(push.status).to.equal(401)
      const params = parseChallenge(push.headers['www-authenticate'] as string).params
      expect(params.error).to.equal('insufficient_scope')
      // distribution builds the action list from a Go map: the order varies between requests.
      const [type, name, actions] = params.scope!.split(':')
      expect([type, name, actions!.split(',').sort()]).to.deep.equal(['repository', 'x/y', ['pull', 'push']])
    })

    it('grants registry:catalog:* only to principals with a rule on "*"', function () {
      expect(grantAccess(USERS.alice.access.map((a) => ({...a, actions: [...a.actions]})), ['registry:catalog:*'])).to.deep.equal([
        {type: 'registry', name: 'catalog', actions: ['*']},
      ])
      expect(grantAccess([{repo: 'team/*', actions: ['pull']}], ['registry:catalog:*'])).to.deep.equal([])
    })

    it('supports the OAuth2 POST password and refresh_token grants, and revoked refresh tokens get 401', async function () {
      const reg = await tokenRegistry()
      const realm = reg.tokenServer.url
      const pw = await postToken(realm, {
        grant_type: 'password', service: TOKEN_SERVICE, client_id: 'regshape-test', access_type: 'offline',
        username: 'bob', password: USERS.bob.password, scope: 'repository:bob/a:pull,push repository:other/b:push',
      })
      expect(pw.status).to.equal(200)
      expect(pw.json.refresh_token).to.be.a('string')
      expect(decodeJwt(pw.json.access_token as string).claims.access).to.deep.equal([{type: 'repository', name: 'bob/a', actions: ['pull', 'push']}])

      const rt = pw.json.refresh_token as string
      const refreshed = await postToken(realm, {grant_type: 'refresh_token', service: TOKEN_SERVICE, client_id: 'regshape-test', refresh_token: rt, scope: 'repository:bob/a:pull'})
      expect(refreshed.status).to.equal(200)
      expect(decodeJwt(refreshed.json.access_token as string).claims).to.include({sub: 'bob'})
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: bearer(refreshed.json.access_token as string)})).status).to.equal(200)

      const noClient = await postToken(realm, {grant_type: 'refresh_token', service: TOKEN_SERVICE, refresh_token: rt})
      expect(noClient.status).to.equal(400)
      const badPw = await postToken(realm, {grant_type: 'password', service: TOKEN_SERVICE, client_id: 'c', username: 'bob', password: 'nope'})
      expect(badPw.status).to.equal(401)

      reg.tokenServer.revokeRefreshTokens('bob')
      const revoked = await postToken(realm, {grant_type: 'refresh_token', service: TOKEN_SERVICE, client_id: 'regshape-test', refresh_token: rt})
      expect(revoked.status).to.equal(401)
      const bogus = await postToken(realm, {grant_type: 'refresh_token', service: TOKEN_SERVICE, client_id: 'regshape-test', refresh_token: 'bogus'})
      expect(bogus.status).to.equal(401)

      const minted = reg.tokenServer.mintRefreshToken('alice')
      const viaMinted = await postToken(realm, {grant_type: 'refresh_token', service: TOKEN_SERVICE, client_id: 'x', refresh_token: minted})
      expect(viaMinted.status).to.equal(200)
    })

    it('returns a refresh_token for GET with offline_token=true, and records requests without secrets', async function () {
      const reg = await tokenRegistry()
      const before = reg.tokenServer.requests.length
      const tok = await getToken(
        reg.tokenServer.url,
        {service: TOKEN_SERVICE, account: 'bob', offline_token: 'true', client_id: 'regshape-test', scope: ['repository:a/b:pull', 'repository:c/d:pull']},
        basicAuth('bob', USERS.bob.password),
      )
      expect(tok.status).to.equal(200)
      expect(tok.json.refresh_token).to.be.a('string')
      expect(reg.tokenServer.issuedRefreshTokens).to.include(tok.json.refresh_token)
      const rec = reg.tokenServer.requests.slice(before)
      expect(rec).to.have.length(1)
      expect(rec[0]).to.include({method: 'GET', path: '/token', authorization: 'basic', user: 'bob', status: 200})
      expect(rec[0]!.scopes).to.deep.equal(['repository:a/b:pull', 'repository:c/d:pull'])
      expect(rec[0]!.query.client_id).to.deep.equal(['regshape-test'])
      const dump = JSON.stringify(reg.tokenServer.requests)
      expect(dump).to.not.contain(USERS.bob.password)
      expect(dump).to.not.contain(Buffer.from(`bob:${USERS.bob.password}`).toString('base64'))
    })

    it('is rejected by the registry with invalid_token when aud is an array (distribution 2.8) or x5c is missing', async function () {
      const reg = await tokenRegistry()
      for (const overrides of [{claims: {aud: [TOKEN_SERVICE]}}, {header: {x5c: undefined}}, {claims: {iss: 'someone-else'}}]) {
        const t = reg.tokenServer.mintToken('alice', [], overrides)
        const res = await fetchRaw(`${reg.url}/v2/`, {headers: bearer(t)})
        expect(res.status, JSON.stringify(overrides)).to.equal(401)
        expect(parseChallenge(res.headers['www-authenticate'] as string).params.error).to.equal('invalid_token')
      }

      expect((await fetchRaw(`${reg.url}/v2/`, {headers: bearer(reg.tokenServer.mintToken('alice', []))})).status).to.equal(200)
    })
  })

  describe('token registry (HTTPS)', function () {
    it('runs the whole flow over TLS with an https realm, trusting the test CA', async function () {
      const reg = await tokenTlsRegistry()
      const ca = readFileSync(reg.caFile, 'utf8')
      const first = await fetchRaw(`${reg.url}/v2/`, {ca})
      expect(first.status).to.equal(401)
      const ch = parseChallenge(first.headers['www-authenticate'] as string)
      expect(ch.params.realm).to.match(/^https:\/\/127\.0\.0\.1:\d+\/token$/)
      const tok = await getToken(ch.params.realm!, {service: ch.params.service!}, basicAuth('alice', USERS.alice.password), ca)
      expect(tok.status).to.equal(200)
      expect((await fetchRaw(`${reg.url}/v2/`, {headers: bearer(tok.json.token as string), ca})).status).to.equal(200)
    })
  })

  describe('open registry', function () {
    it('answers 200 on /v2/ without credentials', async function () {
      const reg = await openRegistry()
      const res = await fetchRaw(`${reg.url}/v2/`)
      expect(res.status).to.equal(200)
      expect(res.headers['www-authenticate']).to.equal(undefined)
    })
  })

  describe('dedicated registries', function () {
    it('setPassword on htpasswd makes the old password fail and the new one work', async function () {
      const reg = await startRegistry({auth: {kind: 'htpasswd', users: {carol: 'old-pass'}}})
      try {
        expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('carol', 'old-pass')})).status).to.equal(200)
        const newPw = `n3w:"pw" 'ü'`
        await reg.setPassword('carol', newPw)
        expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('carol', 'old-pass')})).status).to.equal(401)
        expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('carol', newPw)})).status).to.equal(200)
        await reg.setPassword('dave', 'added') // adding a user works the same way
        expect((await fetchRaw(`${reg.url}/v2/`, {headers: basicAuth('dave', 'added')})).status).to.equal(200)
      } finally {
        await reg.close()
      }

      expect(existsSync(reg.dir)).to.equal(false)
    })

    it('does not pass REGISTRY_* variables from the environment to the registry', async function () {
      const saved = {...process.env}
      process.env.REGISTRY_AUTH_HTPASSWD_REALM = 'leaked'
      process.env.REGISTRY_AUTH_HTPASSWD_PATH = '/nonexistent/leaked-htpasswd'
      let reg
      try {
        reg = await startRegistry({auth: {kind: 'none'}})
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
      }

      try {
        const res = await fetchRaw(`${reg.url}/v2/`)
        expect(res.status).to.equal(200) // with the leak it would be a Basic challenge (401)
      } finally {
        await reg.close()
      }
    })
  })

  describe('docker-credential-pass', function () {
    it('round-trips store/get/list/erase, and get of a missing server is exit 0 with empty fields', async function () {
      const h = await passHelper()
      const server = '127.0.0.1:5000'
      const cred = {ServerURL: server, Username: 'bob', Secret: USERS.bob.password}
      const stored = await h.run('store', JSON.stringify(cred))
      expect(stored).to.include({code: 0, stdout: '', stderr: ''})

      const got = await h.run('get', server)
      expect(got.code).to.equal(0)
      expect(JSON.parse(got.stdout)).to.deep.equal(cred)
      expect(await h.list()).to.deep.equal({[server]: 'bob'})

      expect((await h.run('erase', server)).code).to.equal(0)
      expect(await h.list()).to.deep.equal({})

      const missing = await h.run('get', server)
      expect(missing.code).to.equal(0)
      expect(JSON.parse(missing.stdout)).to.deep.equal({ServerURL: server, Username: '', Secret: ''})

      const eraseMissing = await h.run('erase', 'never-stored.example:1234')
      expect(eraseMissing.code).to.equal(1)
      expect(eraseMissing.stdout).to.contain('is not in the password store')
      expect(h.env.GNUPGHOME.length).to.be.lessThan(40)
    })
  })
})
