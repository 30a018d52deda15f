import {expect} from 'chai'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {seedImages} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import {basicRegistry, passHelper, tokenRegistry, tokenTlsRegistry, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, runCli} from '../helpers/cli.js'

const {alice, bob, reader} = USERS

function configWith(data: unknown): {directory: string; path: string} {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return {directory, path: join(directory, 'config.json')}
}

describe('identity tokens, registry tokens and scopes', () => {
  describe('an identitytoken in the config file (OAuth2 refresh token)', () => {
    it('is exchanged with a POST refresh grant, client_id=regshape, and opens the registry', async () => {
      const registry = await tokenRegistry()
      const refreshToken = registry.tokenServer.mintRefreshToken('alice')
      const {directory} = configWith({auths: {[registry.host]: {auth: Buffer.from('alice:').toString('base64'), identitytoken: refreshToken}}})
      const before = registry.tokenServer.requests.length
      const result = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory}})
      expect(result.code, result.stderr).to.equal(0)
      const output = JSON.parse(result.stdout)
      expect(output.credentials.outcome).to.equal('accepted')
      expect(output.credentials.source.kind).to.equal('file')
      const [grant, ...others] = registry.tokenServer.requests.slice(before)
      expect(others).to.have.length(0)
      expect(grant).to.include({grantType: 'refresh_token', method: 'POST', status: 200, user: 'alice'})
      expect(grant.form?.client_id).to.deep.equal(['regshape'])
      expect(grant.form?.service).to.deep.equal([registry.tokenServer.service])
      expectNoSecrets(result, [refreshToken, ...registry.tokenServer.issuedTokens])
    })

    it('that was revoked is reported as rejected, not silently anonymous', async () => {
      const registry = await tokenRegistry()
      const refreshToken = registry.tokenServer.mintRefreshToken('reader')
      registry.tokenServer.revokeRefreshTokens('reader')
      const {directory} = configWith({auths: {[registry.host]: {identitytoken: refreshToken}}})
      const result = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory}})
      expect(result.code).to.equal(0)
      expect(JSON.parse(result.stdout).credentials.outcome).to.equal('rejected')
      expectNoSecrets(result, [refreshToken])
    })
  })

  it('a helper answer with Username <token> is a refresh token too', async () => {
    const registry = await tokenRegistry()
    const pass = await passHelper()
    const refreshToken = registry.tokenServer.mintRefreshToken('bob')
    expect((await pass.run('store', JSON.stringify({Secret: refreshToken, ServerURL: registry.host, Username: '<token>'}))).code).to.equal(0)
    try {
      const {directory} = configWith({credHelpers: {[registry.host]: 'pass'}})
      const before = registry.tokenServer.requests.length
      const result = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.include('Credentials: accepted — identity token from helper docker-credential-pass (credHelpers)')
      expect(registry.tokenServer.requests.slice(before).map((r) => r.grantType)).to.deep.equal(['refresh_token'])
      expectNoSecrets(result, [refreshToken, ...registry.tokenServer.issuedTokens])
    } finally {
      await pass.run('erase', registry.host)
    }
  })

  it('a registrytoken is sent as the Bearer token directly, without asking the token server', async () => {
    const registry = await tokenRegistry()
    const token = registry.tokenServer.mintToken('alice', [])
    const {directory} = configWith({auths: {[registry.host]: {registrytoken: token}}})
    const before = registry.tokenServer.requests.length
    const result = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(JSON.parse(result.stdout).credentials.outcome).to.equal('accepted')
    expect(registry.tokenServer.requests.length - before).to.equal(0)
    expectNoSecrets(result, [token])
  })

  describe('auth login --identity-token-stdin / --identity-token', () => {
    it('verifies the token with the refresh grant and stores it as identitytoken', async () => {
      const registry = await tokenTlsRegistry()
      const refreshToken = registry.tokenServer.mintRefreshToken('alice')
      const {directory, path} = configWith({auths: {[registry.host]: {auth: 'b2xkOnB3'}}})
      const result = await runCli(['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '--identity-token-stdin'], {
        env: {DOCKER_CONFIG: directory},
        stdin: `${refreshToken}\n`,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('Login succeeded.\n')
      // docker's form: no username given, so the helpers' <token> stands in (docker refuses an empty one)
      expect(JSON.parse(readFileSync(path, 'utf8')).auths[registry.host]).to.deep.equal({auth: Buffer.from('<token>:').toString('base64'), identitytoken: refreshToken})
      expectNoSecrets(result, [refreshToken, ...registry.tokenServer.issuedTokens])
      // and it is used afterwards
      const ping = await runCli(['--json', 'ping', registry.host, '--ca-file', registry.caFile], {env: {DOCKER_CONFIG: directory}})
      expect(JSON.parse(ping.stdout).credentials.outcome).to.equal('accepted')
    })

    it('rejects an unknown token and stores nothing', async () => {
      const registry = await tokenRegistry()
      const {directory, path} = configWith({})
      const result = await runCli(['auth', 'login', '-r', registry.host, '--identity-token', 'not-a-valid-refresh-token'], {env: {DOCKER_CONFIG: directory}})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(
        `WARNING! Using --identity-token via the CLI is insecure. Use --identity-token-stdin.\nError: Login failed for ${registry.host}: authentication rejected\n`,
      )
      expect(readFileSync(path, 'utf8')).to.equal('{}')
      expectNoSecrets(result, ['not-a-valid-refresh-token'])
    })

    it('stores through the helper with Username <token>', async () => {
      const registry = await tokenRegistry()
      const pass = await passHelper()
      const refreshToken = registry.tokenServer.mintRefreshToken('bob')
      const {directory} = configWith({credsStore: 'pass'})
      try {
        const result = await runCli(['auth', 'login', '-r', registry.host, '--identity-token-stdin'], {env: {DOCKER_CONFIG: directory, ...pass.env}, stdin: refreshToken})
        expect(result.code, result.stderr).to.equal(0)
        const stored = JSON.parse((await pass.run('get', registry.host)).stdout)
        expect(stored).to.deep.equal({Secret: refreshToken, ServerURL: registry.host, Username: '<token>'})
        const status = await runCli(['auth', 'status'], {env: {DOCKER_CONFIG: directory, ...pass.env}})
        expect(status.stdout).to.match(new RegExp(`${registry.host.replaceAll('.', '\\.')}\\s+docker-credential-pass \\(credsStore\\)\\s+\\(identity token\\)`))
        expectNoSecrets(status, [refreshToken])
      } finally {
        await pass.run('erase', registry.host)
      }
    })

    it('refuses a Basic registry, which cannot take a token', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--identity-token-stdin'], {env: {DOCKER_CONFIG: configWith({}).directory}, stdin: 'some-refresh-token'})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(
        `Error: Login failed for ${registry.host}: the registry uses Basic authentication; an identity token needs a registry with a Bearer token server\n`,
      )
    })

    it('cannot be combined with a password (exit 2)', async () => {
      for (const flags of [['-p', 'pw'], ['--password-stdin']]) {
        const result = await runCli(['auth', 'login', '-r', 'r.example', '--identity-token-stdin', '-u', 'alice', ...flags], {stdin: 'x'})
        expect(result.code, flags.join(' ')).to.equal(2)
        expect(result.stderr).to.match(/^(WARNING! Using --password via the CLI is insecure\. Use --password-stdin\.\n)?Error: an identity token replaces the password: do not combine it with --password or --password-stdin\n$/)
      }
    })

    it('with --username stores docker\'s auth: base64("<username>:") beside it, which skopeo then logs in with', async function () {
      this.timeout(120_000)
      const registry = await tokenRegistry()
      await seedImages(registry, 'identity/app', {bigLayerBytes: 1024})
      const refreshToken = registry.tokenServer.mintRefreshToken('alice')
      const {directory, path} = configWith({})
      const result = await runCli(['auth', 'login', registry.host, '-u', 'alice', '--identity-token-stdin'], {env: {DOCKER_CONFIG: directory}, stdin: refreshToken})
      expect(result.code, result.stderr).to.equal(0)
      expect(JSON.parse(readFileSync(path, 'utf8')).auths[registry.host]).to.deep.equal({auth: Buffer.from('alice:').toString('base64'), identitytoken: refreshToken})
      // skopeo (containers/image) reads the file regshape wrote: its refresh grant for alice opens the private repository
      const before = registry.tokenServer.requests.length
      const skopeo = await runProcess('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/identity/app:oci`], {
        env: {DOCKER_CONFIG: directory, HOME: directory, PATH: process.env.PATH},
        timeoutMs: 60_000,
      })
      expect(skopeo.code, skopeo.stderr).to.equal(0)
      expect(JSON.parse(skopeo.stdout).schemaVersion).to.equal(2)
      expect(registry.tokenServer.requests.slice(before).map((request) => [request.grantType, request.user])).to.deep.include(['refresh_token', 'alice'])
    })

    it('refuses a username with a colon, which "auth" could not carry (exit 1)', async () => {
      const result = await runCli(['auth', 'login', '-r', 'r.example', '--identity-token-stdin', '-u', 'al:ice'], {stdin: 'x'})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal('Error: a username cannot contain ":" (config.json\'s "auth" field splits at the first colon)\n')
    })
  })

  describe('auth login --scope --repository', () => {
    it('is refused for a read-only user asking for push, and nothing is stored', async () => {
      const registry = await tokenRegistry()
      const {directory, path} = configWith({})
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', reader.username, '--password-stdin', '--scope', 'push', '--repository', 'team/app'], {
        env: {DOCKER_CONFIG: directory},
        stdin: reader.password,
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: Login failed for ${registry.host}: push on team/app was requested but not granted\n`)
      expect(result.stdout).to.equal('')
      expect(readFileSync(path, 'utf8')).to.equal('{}')
      expectNoSecrets(result, [reader.password, ...registry.tokenServer.issuedTokens])
    })

    it('is granted for the owner, and reported', async () => {
      const registry = await tokenRegistry()
      const {directory} = configWith({})
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin', '--scope', 'push', '--repository', 'team/app'], {
        env: {DOCKER_CONFIG: directory},
        stdin: alice.password,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('Granted on team/app: pull, push\nLogin succeeded.\n')
      const json = await runCli(['--json', 'auth', 'login', '-r', registry.host, '-u', bob.username, '--password-stdin', '--scope', 'push', '--repository', 'bob/tool'], {
        env: {DOCKER_CONFIG: directory},
        stdin: bob.password,
      })
      expect(json.code, json.stderr).to.equal(0)
      expect(json.stdout).to.equal(
        `{"status": "success", "registry": "${registry.host}", "scope": {"repository": "bob/tool", "requested": ["pull", "push"], "granted": ["pull", "push"], "unchecked": []}}\n`,
      )
    })

    it('checks pull for a read-only user', async () => {
      const registry = await tokenRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', reader.username, '--password-stdin', '--scope', 'pull', '--repository', 'team/app'], {
        env: {DOCKER_CONFIG: configWith({}).directory},
        stdin: reader.password,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('Granted on team/app: pull\nLogin succeeded.\n')
    })

    it('on a Basic registry, checks pull by reading and says push could not be checked', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', reader.username, '--password-stdin', '--scope', 'push', '--repository', 'team/app'], {
        env: {DOCKER_CONFIG: configWith({}).directory},
        stdin: reader.password,
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.equal("WARNING! push on team/app could not be checked: the registry's token is not a JWT that lists its grants.\n")
      expect(result.stdout).to.equal('Granted on team/app: pull\nLogin succeeded.\n')
    })

    it('needs --repository with --scope, and a valid repository name', async () => {
      const missing = await runCli(['auth', 'login', '-r', 'r.example', '-u', 'a', '--password-stdin', '--scope', 'push'], {stdin: 'x'})
      expect(missing.code).to.equal(2)
      expect(missing.stderr).to.match(/^Error: All of the following must be provided when using --scope: --repository/)
      const bad = await runCli(['auth', 'login', '-r', 'r.example', '-u', 'a', '--password-stdin', '--scope', 'push', '--repository', 'Bad/Name'], {stdin: 'x'})
      expect(bad.code).to.equal(1)
      expect(bad.stderr).to.equal('Error: invalid repository name "Bad/Name": lower-case path components such as team/app\n')
    })
  })
})
