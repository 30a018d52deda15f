import {expect} from 'chai'
import {chmodSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {seedImages} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import {basicRegistry, passHelper, tokenRegistry, USERS} from '../fixtures/servers.js'
import {decodeJwt} from '../fixtures/token-server.js'
import {expectNoSecrets, expectNoStackTrace, RUN_JS, runCli} from '../helpers/cli.js'

const {alice, bob} = USERS

/** A DOCKER_CONFIG directory holding `data` as config.json. */
function dockerConfigDir(data: unknown): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return directory
}

const authOf = (username: string, password: string) => Buffer.from(`${username}:${password}`).toString('base64')

/**
 * A docker-credential-regshape on PATH that runs `regshape auth get` with the config in
 * `regshapeConfig`, as a user would install one (README); the directory is returned for PATH.
 */
function helperShim(regshapeConfig: string): string {
  const bin = mkdtempSync(join(tmpdir(), 'regshape-shim-'))
  const script = join(bin, 'docker-credential-regshape')
  writeFileSync(
    script,
    `#!/bin/sh
[ "$1" = get ] || { echo "docker-credential-regshape: only get is supported" >&2; exit 1; }
DOCKER_CONFIG='${regshapeConfig}' exec '${process.execPath}' '${RUN_JS}' auth get
`,
  )
  chmodSync(script, 0o755)
  return bin
}

describe('auth token: a registry token for scripts (crane auth token)', () => {
  it('prints the bare token on stdout; it opens the scope it was asked for on the real registry', async () => {
    const registry = await tokenRegistry()
    const directory = dockerConfigDir({auths: {[registry.host]: {auth: authOf(alice.username, alice.password)}}})
    const result = await runCli(['auth', 'token', registry.host, '--scope', 'repository:tokens/app:pull,push'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.equal('')
    const token = result.stdout.replace(/\n$/, '')
    expect(result.stdout).to.equal(`${token}\n`)
    expect(registry.tokenServer.issuedTokens).to.include(token)
    const {claims} = decodeJwt(token)
    expect(claims.sub).to.equal('alice')
    expect(claims.access).to.deep.equal([{actions: ['pull', 'push'], name: 'tokens/app', type: 'repository'}])
    // the registry itself takes it for that repository (404: allowed to ask, nothing there yet)
    const response = await fetch(`http://${registry.host}/v2/tokens/app/tags/list`, {headers: {authorization: `Bearer ${token}`}})
    expect(response.status).to.equal(404)
  })

  it('--header prints a line for curl -H; several --scope go in one token', async () => {
    const registry = await tokenRegistry()
    const directory = dockerConfigDir({auths: {[registry.host]: {auth: authOf(alice.username, alice.password)}}})
    const before = registry.tokenServer.requests.length
    const result = await runCli(['auth', 'token', '-r', registry.host, '-H', '--scope', 'repository:a/one:pull', '--scope', 'registry:catalog:*'], {
      env: {DOCKER_CONFIG: directory},
    })
    expect(result.code, result.stderr).to.equal(0)
    // one token request, each scope its own parameter (distribution's token spec)
    const scoped = registry.tokenServer.requests.slice(before).filter((request) => request.scopes.length > 0)
    expect(scoped.map((request) => request.query.scope)).to.deep.equal([['repository:a/one:pull', 'registry:catalog:*']])
    const match = /^Authorization: Bearer (\S+)\n$/.exec(result.stdout)
    expect(match, result.stdout).to.not.equal(null)
    const access = decodeJwt(match![1]).claims.access ?? []
    expect(access.map((claim) => `${claim.type}:${claim.name}:${claim.actions.join(',')}`).sort()).to.deep.equal(['registry:catalog:*', 'repository:a/one:pull'])
    const catalog = await fetch(`http://${registry.host}/v2/_catalog`, {headers: {authorization: `Bearer ${match![1]}`}})
    expect(catalog.status).to.equal(200)
  })

  it('under --json: the token, its lifetime and the scopes', async () => {
    const registry = await tokenRegistry()
    const result = await runCli(['--json', 'auth', 'token', registry.host, '-u', bob.username, '-p', bob.password, '--scope', 'repository:bob/x:push'])
    expect(result.code, result.stderr).to.equal(0)
    const output = JSON.parse(result.stdout)
    expect(output).to.include({registry: registry.host, status: 'success'})
    expect(output.scopes).to.deep.equal(['repository:bob/x:push'])
    expect(output.expires_in).to.be.within(250, 300)
    expect(decodeJwt(output.token).claims).to.include({sub: 'bob'})
    // the password still never comes back out
    expect(result.stdout).not.to.include(bob.password)
  })

  it('anonymous when nothing is stored: the token server\'s anonymous grant', async () => {
    const registry = await tokenRegistry()
    const result = await runCli(['auth', 'token', registry.host, '--scope', 'repository:public/app:pull'], {env: {DOCKER_CONFIG: dockerConfigDir({})}})
    expect(result.code, result.stderr).to.equal(0)
    const {claims} = decodeJwt(result.stdout.trim())
    expect(claims.sub).to.equal('')
    expect(claims.access).to.deep.equal([{actions: ['pull'], name: 'public/app', type: 'repository'}])
  })

  it('never shows the token in --debug-calls, and a refused password is one Error: line', async () => {
    const registry = await tokenRegistry()
    const directory = dockerConfigDir({auths: {[registry.host]: {auth: authOf(alice.username, alice.password)}}})
    const traced = await runCli(['auth', 'token', registry.host, '--debug-calls'], {env: {DOCKER_CONFIG: directory}})
    expect(traced.code, traced.stderr).to.equal(0)
    expect(traced.stderr).to.include('GET')
    expect(traced.stderr).not.to.include(traced.stdout.trim())
    expectNoSecrets({...traced, stdout: ''}, [alice.password])

    const refused = await runCli(['auth', 'token', registry.host, '-u', alice.username, '-p', 'wrong-password'])
    expect(refused.code).to.equal(1)
    expect(refused.stdout).to.equal('')
    expect(refused.stderr.split('\n').filter((line) => line.startsWith('Error:'))).to.deep.equal([`Error: Could not get a token for ${registry.host}: authentication rejected`])
    expectNoStackTrace(refused)
  })

  it('a Basic registry has no tokens to give (exit 1); a malformed scope is a usage error (exit 2)', async () => {
    const registry = await basicRegistry()
    const basic = await runCli(['auth', 'token', registry.host, '-u', alice.username, '-p', alice.password])
    expect(basic.code).to.equal(1)
    expect(basic.stderr).to.include(`Error: ${registry.host} uses Basic authentication: it has no token server to issue a token\n`)
    expect(basic.stdout).to.equal('')
    const bad = await runCli(['auth', 'token', registry.host, '--scope', 'pull'])
    expect(bad.code).to.equal(2)
    expect(bad.stderr).to.equal('Error: invalid --scope: expected type:name:actions, e.g. repository:team/app:pull or registry:catalog:*\n')
  })
})

describe('auth get: the docker credential-helper protocol (crane auth get)', () => {
  it('answers a server URL on stdin byte for byte as docker-credential-pass answers it', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const input = `${registry.host}\n`
    expect((await pass.run('store', JSON.stringify({Secret: bob.password, ServerURL: registry.host, Username: bob.username}))).code).to.equal(0)
    try {
      const fromPass = await pass.run('get', input)
      expect(fromPass.code).to.equal(0)
      // the same credential, from the file and from the helper (credsStore)
      const viaFile = await runCli(['auth', 'get'], {env: {DOCKER_CONFIG: dockerConfigDir({auths: {[registry.host]: {auth: authOf(bob.username, bob.password)}}})}, stdin: input})
      const viaHelper = await runCli(['auth', 'get'], {env: {DOCKER_CONFIG: dockerConfigDir({credsStore: 'pass'}), ...pass.env}, stdin: input})
      for (const result of [viaFile, viaHelper]) {
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.equal(fromPass.stdout)
        expect(result.stderr).to.equal('')
      }
    } finally {
      await pass.run('erase', registry.host)
    }
  })

  it('an identity token comes back as the username <token>; the registry may be the argument', async () => {
    const registry = await tokenRegistry()
    const refreshToken = registry.tokenServer.mintRefreshToken('alice')
    const directory = dockerConfigDir({auths: {[registry.host]: {auth: authOf('alice', ''), identitytoken: refreshToken}}})
    const result = await runCli(['auth', 'get', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(result.code, result.stderr).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal({Secret: refreshToken, ServerURL: registry.host, Username: '<token>'})
  })

  it('nothing stored: the protocol\'s not-found answer on stdout, exit 1', async () => {
    const result = await runCli(['auth', 'get'], {env: {DOCKER_CONFIG: dockerConfigDir({})}, stdin: 'https://registry.example.com\n'})
    expect(result.stdout).to.equal('credentials not found in native keychain\n')
    expect(result.code).to.equal(1)
  })

  it('serves skopeo as its credential helper (credHelpers: regshape, a docker-credential-regshape on PATH)', async function () {
    this.timeout(120_000)
    const registry = await tokenRegistry()
    await seedImages(registry, 'helped/app', {bigLayerBytes: 1024})
    // regshape holds the login; skopeo's own config only names the helper
    const regshapeConfig = dockerConfigDir({auths: {[registry.host]: {auth: authOf(alice.username, alice.password)}}})
    const home = mkdtempSync(join(tmpdir(), 'regshape-skopeo-home-'))
    const skopeoAuth = join(dockerConfigDir({credHelpers: {[registry.host]: 'regshape'}}), 'config.json')
    const env = {DOCKER_CONFIG: join(home, 'none'), HOME: home, PATH: `${helperShim(regshapeConfig)}:${process.env.PATH}`, REGISTRY_AUTH_FILE: skopeoAuth}
    const inspect = await runProcess('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/helped/app:oci`], {env, timeoutMs: 60_000})
    expect(inspect.code, inspect.stderr).to.equal(0)
    expect(JSON.parse(inspect.stdout).schemaVersion).to.equal(2)
    // and without regshape's login, skopeo is refused: the helper was what let it in
    const anonymous = await runProcess('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/helped/app:oci`], {
      env: {...env, PATH: `${helperShim(dockerConfigDir({}))}:${process.env.PATH}`},
      timeoutMs: 60_000,
    })
    expect(anonymous.code).to.not.equal(0)
  })

  it('a config that names regshape as its own helper is an error, not an endless loop', async () => {
    const registry = await basicRegistry()
    const loopy = dockerConfigDir({credHelpers: {[registry.host]: 'regshape'}})
    const result = await runCli(['auth', 'get', registry.host], {env: {DOCKER_CONFIG: loopy, PATH: `${helperShim(loopy)}:${process.env.PATH}`}, timeoutMs: 20_000})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.include('a credential helper loop')
    expectNoStackTrace(result)
  })
})
