import {expect} from 'chai'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {basicRegistry, passHelper, tokenRegistry, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, runCli} from '../helpers/cli.js'

const {alice, bob} = USERS

function configWith(data: unknown): {directory: string; path: string} {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  const path = join(directory, 'config.json')
  writeFileSync(path, JSON.stringify(data, null, '\t'))
  return {directory, path}
}

describe('credential helpers (docker-credential-pass)', () => {
  it('stores through credHelpers[registry], leaving only docker\'s empty marker in the file', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const {directory, path} = configWith({credHelpers: {[registry.host]: 'pass'}})
    const result = await runCli(['auth', 'login', '-r', registry.host, '-u', bob.username, '--password-stdin'], {
      env: {DOCKER_CONFIG: directory, ...pass.env},
      stdin: bob.password,
    })
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.equal('Login succeeded.\n')
    expectNoSecrets(result, [bob.password])
    const config = JSON.parse(readFileSync(path, 'utf8'))
    expect(config).to.deep.equal({auths: {[registry.host]: {}}, credHelpers: {[registry.host]: 'pass'}})
    expect(readFileSync(path, 'utf8')).not.to.include(Buffer.from(bob.password).toString('base64'))
    const stored = await pass.run('get', registry.host)
    expect(JSON.parse(stored.stdout)).to.deep.equal({Secret: bob.password, ServerURL: registry.host, Username: 'bob'})

    const logout = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
    expect(logout.code, logout.stderr).to.equal(0)
    expect(logout.stdout).to.equal(`Removing login credentials for ${registry.host}.\n`)
    expect(await pass.list()).not.to.have.property(registry.host)
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({auths: {}, credHelpers: {[registry.host]: 'pass'}})

    const again = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
    expect(again.code, again.stderr).to.equal(0)
    expect(again.stdout).to.equal(`Not logged in to ${registry.host}.\n`)
  })

  it('stores through credsStore for a Bearer registry, and logout erases legacy spellings there too', async () => {
    const registry = await tokenRegistry()
    const pass = await passHelper()
    const {directory, path} = configWith({auths: {'keep.example.com': {auth: 'a2VlcDpt'}}, credsStore: 'pass'})
    const result = await runCli(['--json', 'auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin'], {
      env: {DOCKER_CONFIG: directory, ...pass.env},
      stdin: alice.password,
    })
    expect(result.code, result.stdout).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.equal({registry: registry.host, status: 'success'})
    expectNoSecrets(result, [alice.password, ...registry.tokenServer.issuedTokens])
    expect((await pass.list())[registry.host]).to.equal('alice')
    // An entry some older tool wrote under https://.
    expect((await pass.run('store', JSON.stringify({Secret: 'legacy-secret', ServerURL: `https://${registry.host}`, Username: 'old'}))).code).to.equal(0)

    const logout = await runCli(['--json', 'auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
    expect(logout.code, logout.stdout).to.equal(0)
    const left = await pass.list()
    expect(left).not.to.have.property(registry.host)
    expect(left).not.to.have.property(`https://${registry.host}`)
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({auths: {'keep.example.com': {auth: 'a2VlcDpt'}}, credsStore: 'pass'})
  })

  it('fails clearly when the configured helper binary is missing, naming binary, key and file', async () => {
    const registry = await basicRegistry()
    for (const [config, key] of [
      [{credsStore: 'nonexistent'}, 'credsStore'],
      [{credHelpers: {[registry.host]: 'nonexistent'}}, 'a credHelpers entry'],
    ] as const) {
      const {directory, path} = configWith(config)
      const before = readFileSync(path, 'utf8')
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin'], {
        env: {DOCKER_CONFIG: directory},
        stdin: alice.password,
      })
      expect(result.code).to.equal(1)
      expect(result.stdout).to.equal('')
      expect(result.stderr).to.equal(
        `Error: Could not store credentials: docker-credential-nonexistent was not found in PATH (it is set as ${key} in ${path}); install it, or remove that setting to store credentials in the config file\n`,
      )
      expectNoSecrets(result, [alice.password])
      // No fallback to plain text where the user asked for a keychain.
      expect(readFileSync(path, 'utf8')).to.equal(before)

      const logout = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory}})
      expect(logout.code).to.equal(1)
      expect(logout.stderr).to.match(/^Error: Could not remove credentials: docker-credential-nonexistent was not found in PATH/)
    }
  })

  it('reports a helper that fails, with its own message', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const {directory} = configWith({credsStore: 'pass'})
    // An uninitialised password store: the helper itself fails.
    const emptyStore = mkdtempSync(join(tmpdir(), 'regshape-nostore-'))
    const result = await runCli(['auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin'], {
      env: {DOCKER_CONFIG: directory, GNUPGHOME: pass.env.GNUPGHOME, PASSWORD_STORE_DIR: emptyStore},
      stdin: alice.password,
    })
    expect(result.code).to.equal(1)
    expect(result.stderr).to.match(/^Error: Could not store credentials: docker-credential-pass store failed: .+\n$/)
    expectNoSecrets(result, [alice.password])
  })
})

describe('auth logout --all', () => {
  it('erases every stored login, from the file and the helpers alike, and says which', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const helperKey = `helper-${process.pid}.example`
    expect((await pass.run('store', JSON.stringify({Secret: 'in-pass', ServerURL: helperKey, Username: 'carol'}))).code).to.equal(0)
    const {directory, path} = configWith({
      auths: {[registry.host]: {auth: Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}, [`https://legacy-${process.pid}.example`]: {auth: 'bGVnYWN5OnB3'}},
      credHelpers: {[helperKey]: 'pass'},
      'x-keep': true,
    })
    const env = {DOCKER_CONFIG: directory, ...pass.env}
    const result = await runCli(['auth', 'logout', '--all'], {env})
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout.trimEnd().split('\n').sort()).to.deep.equal(
      [registry.host, helperKey, `legacy-${process.pid}.example`].map((name) => `Removing login credentials for ${name}.`).sort(),
    )
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({auths: {}, credHelpers: {[helperKey]: 'pass'}, 'x-keep': true})
    expect(await pass.list()).not.to.have.property(helperKey)

    const again = await runCli(['--json', 'auth', 'logout', '--all'], {env})
    expect(again.code, again.stderr).to.equal(0)
    expect(JSON.parse(again.stdout)).to.deep.equal({registries: [], status: 'success'})
  })

  it('is a usage error together with --registry, and so is neither', async () => {
    for (const args of [['auth', 'logout', '--all', '-r', 'r.example'], ['auth', 'logout']]) {
      const result = await runCli(args)
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr.trimEnd().split('\n')).to.have.length(1)
    }
  })
})
