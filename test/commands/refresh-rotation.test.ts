import {expect} from 'chai'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {seedImages} from '../fixtures/images.js'
import {type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {passHelper, startStandardTokenServer} from '../fixtures/servers.js'
import type {TokenServerHandle} from '../fixtures/token-server.js'
import {expectNoSecrets, runCli} from '../helpers/cli.js'

/**
 * A token server that rotates refresh tokens (each refresh grant answers a new refresh_token and
 * revokes the one presented, as Azure's and some OAuth2 servers do): the fixture token server with
 * rotateRefreshTokens, in front of the real registry. regshape must keep the successor, in the
 * entry or helper that held the spent one, or the stored login dies on its first use.
 */
describe('a token server that rotates refresh tokens', function () {
  this.timeout(120_000)
  let registry: RegistryHandle & {tokenServer: TokenServerHandle}

  before(async () => {
    const tokenServer = await startStandardTokenServer(false, undefined, {rotateRefreshTokens: true})
    registry = (await startRegistry({auth: {kind: 'token', tokenServer}})) as RegistryHandle & {tokenServer: TokenServerHandle}
    await seedImages(registry, 'rotating/app', {bigLayerBytes: 1024})
  })

  after(async () => {
    await registry?.close()
    await registry?.tokenServer.close()
  })

  function configWith(entry: Record<string, string>): {directory: string; path: string} {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
    writeFileSync(join(directory, 'config.json'), `${JSON.stringify({auths: {[registry.host]: entry}, custom: 'kept'}, null, '\t')}\n`)
    return {directory, path: join(directory, 'config.json')}
  }

  const lastRefreshToken = () => registry.tokenServer.issuedRefreshTokens.at(-1)

  it('stores the new refresh token in the file entry, so the next run still gets in', async () => {
    const first = registry.tokenServer.mintRefreshToken('alice')
    const auth = Buffer.from('alice:').toString('base64')
    const {directory, path} = configWith({auth, identitytoken: first})
    const before = registry.tokenServer.requests.length
    const result = await runCli(['tag', 'list', `${registry.host}/rotating/app`], {env: {DOCKER_CONFIG: directory}})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.include('oci')
    const grants = registry.tokenServer.requests.slice(before).filter((request) => request.grantType === 'refresh_token')
    expect(grants.map((request) => request.status)).to.deep.equal([200])
    const stored = JSON.parse(readFileSync(path, 'utf8'))
    expect(stored.auths[registry.host]).to.deep.equal({auth, identitytoken: lastRefreshToken()})
    expect(stored.custom).to.equal('kept')
    expect(stored.auths[registry.host].identitytoken).to.not.equal(first)
    expectNoSecrets(result, [first, ...registry.tokenServer.issuedRefreshTokens])

    const again = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(JSON.parse(again.stdout).credentials.outcome).to.equal('accepted')
  })

  it('stores it through the helper that held the spent one', async () => {
    const pass = await passHelper()
    const first = registry.tokenServer.mintRefreshToken('bob')
    expect((await pass.run('store', JSON.stringify({Secret: first, ServerURL: registry.host, Username: '<token>'}))).code).to.equal(0)
    try {
      const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
      writeFileSync(join(directory, 'config.json'), JSON.stringify({credHelpers: {[registry.host]: 'pass'}}))
      const result = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
      expect(JSON.parse(result.stdout).credentials.outcome, result.stderr).to.equal('accepted')
      expect(JSON.parse((await pass.run('get', registry.host)).stdout)).to.deep.equal({Secret: lastRefreshToken(), ServerURL: registry.host, Username: '<token>'})
      const again = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
      expect(JSON.parse(again.stdout).credentials.outcome).to.equal('accepted')
    } finally {
      await pass.run('erase', registry.host)
    }
  })

  it('auth login stores the successor of the token it verified, not the spent one; each grant presents the latest', async () => {
    const given = registry.tokenServer.mintRefreshToken('alice')
    const {directory, path} = configWith({})
    const before = registry.tokenServer.requests.length
    // --repository: the /v2/ grant, then one for the repository's scope, which must present the rotated token
    const result = await runCli(['auth', 'login', registry.host, '-u', 'alice', '--identity-token-stdin', '--repository', 'rotating/app', '--scope', 'push'], {
      env: {DOCKER_CONFIG: directory},
      stdin: given,
    })
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.equal('Granted on rotating/app: pull, push\nLogin succeeded.\n')
    const grants = registry.tokenServer.requests.slice(before).filter((request) => request.grantType === 'refresh_token')
    expect(grants.map((request) => request.status)).to.deep.equal([200, 200])
    expect(JSON.parse(readFileSync(path, 'utf8')).auths[registry.host].identitytoken).to.equal(lastRefreshToken())
    const again = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(JSON.parse(again.stdout).credentials.outcome).to.equal('accepted')
  })
})
