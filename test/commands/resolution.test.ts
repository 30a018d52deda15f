import {expect} from 'chai'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {basicRegistry, passHelper, tokenRegistry, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, runCli} from '../helpers/cli.js'

const {alice, bob, reader} = USERS
const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64')

function configWith(data: unknown): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return directory
}

/** What `auth status -r` says the chain yields, as JSON. */
async function resolved(registry: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  const result = await runCli(['--json', 'auth', 'status', '-r', registry, ...extra], {env})
  expect(result.code, result.stdout + result.stderr).to.equal(0)
  return JSON.parse(result.stdout)
}

/** What `ping` says of the credentials, as JSON. */
async function pinged(registry: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  const result = await runCli(['--json', 'ping', registry, ...extra], {env})
  expect(result.code, result.stdout + result.stderr).to.equal(0)
  return JSON.parse(result.stdout).credentials
}

describe('the credential resolution chain', () => {
  it('1. flags: --username and --password together win over everything stored', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const env = {DOCKER_CONFIG: configWith({auths: {[registry.host]: {auth: auth('bob', bob.password)}}, credsStore: 'pass'}), ...pass.env}
    const status = await resolved(registry.host, env, ['-u', 'alice', '-p', alice.password])
    expect(status).to.include({credential_kind: 'password', username: 'alice'})
    expect(status.source).to.deep.equal({kind: 'flags'})
    const credentials = await pinged(registry.host, env, ['-u', 'alice', '-p', alice.password])
    expect(credentials).to.deep.equal({outcome: 'accepted', source: {kind: 'flags'}, username: 'alice'})
  })

  it('   a lone --username is not a credential: the chain goes on to what is stored', async () => {
    const registry = await basicRegistry()
    const directory = configWith({auths: {[registry.host]: {auth: auth('bob', bob.password)}}})
    const status = await resolved(registry.host, {DOCKER_CONFIG: directory}, ['-u', 'alice'])
    expect(status.username).to.equal('bob')
    expect(status.source.kind).to.equal('file')
  })

  it('2. helper: credHelpers[registry] wins over credsStore, which wins over the file', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    expect((await pass.run('store', JSON.stringify({Secret: bob.password, ServerURL: registry.host, Username: 'bob'}))).code).to.equal(0)
    try {
      const viaHelpers = await resolved(registry.host, {DOCKER_CONFIG: configWith({auths: {[registry.host]: {auth: auth('alice', alice.password)}}, credHelpers: {[registry.host]: 'pass'}, credsStore: 'nonexistent'}), ...pass.env})
      expect(viaHelpers.username).to.equal('bob')
      expect(viaHelpers.source).to.deep.equal({helper: 'pass', kind: 'helper', via: 'credHelpers'})

      const viaStore = await resolved(registry.host, {DOCKER_CONFIG: configWith({auths: {[registry.host]: {auth: auth('alice', alice.password)}}, credsStore: 'pass'}), ...pass.env})
      expect(viaStore.source).to.deep.equal({helper: 'pass', kind: 'helper', via: 'credsStore'})
      const credentials = await pinged(registry.host, {DOCKER_CONFIG: configWith({credsStore: 'pass'}), ...pass.env})
      expect(credentials).to.deep.equal({outcome: 'accepted', source: {helper: 'pass', kind: 'helper', via: 'credsStore'}, username: 'bob'})
    } finally {
      await pass.run('erase', registry.host)
    }
  })

  it('   a helper that holds nothing means anonymous: the file behind it is not consulted (as docker does)', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const env = {DOCKER_CONFIG: configWith({auths: {[registry.host]: {auth: auth('alice', alice.password)}}, credsStore: 'pass'}), ...pass.env}
    const status = await resolved(registry.host, env)
    expect(status.source).to.deep.equal({kind: 'anonymous', reason: 'helper-not-found'})
    expect(status.username).to.equal(null)
  })

  it('   a broken helper is an error naming it, never a silent anonymous', async () => {
    const registry = await basicRegistry()
    const directory = configWith({auths: {[registry.host]: {auth: auth('alice', alice.password)}}, credHelpers: {[registry.host]: 'nonexistent'}})
    for (const args of [['auth', 'status', '-r', registry.host], ['ping', registry.host]]) {
      const result = await runCli(args, {env: {DOCKER_CONFIG: directory}})
      expect(result.code, args.join(' ')).to.equal(1)
      expect(result.stderr, args.join(' ')).to.match(/docker-credential-nonexistent was not found in PATH \(it is set as a credHelpers entry in .*config.json\)/)
      expect(result.stdout).to.equal('')
    }
  })

  it('3. file: the auths entry, under its canonical key or a legacy spelling', async () => {
    const registry = await basicRegistry()
    for (const key of [registry.host, `https://${registry.host}`, `http://${registry.host}/v1/`]) {
      const directory = configWith({auths: {[key]: {auth: auth('alice', alice.password)}}})
      const status = await resolved(registry.host, {DOCKER_CONFIG: directory})
      expect(status.username, key).to.equal('alice')
      expect(status.source, key).to.deep.equal({key, kind: 'file', path: join(directory, 'config.json')})
      const credentials = await pinged(registry.host, {DOCKER_CONFIG: directory})
      expect(credentials.outcome, key).to.equal('accepted')
    }
  })

  it('   the canonical key wins over a legacy spelling', async () => {
    const registry = await basicRegistry()
    const directory = configWith({auths: {[`https://${registry.host}`]: {auth: auth('bob', bob.password)}, [registry.host]: {auth: auth('alice', alice.password)}}})
    expect((await resolved(registry.host, {DOCKER_CONFIG: directory})).username).to.equal('alice')
  })

  it('4. anonymous: nothing stored; Bearer registries still hand out anonymous tokens', async () => {
    const registry = await tokenRegistry()
    const directory = configWith({})
    expect((await resolved(registry.host, {DOCKER_CONFIG: directory})).source).to.deep.equal({kind: 'anonymous', reason: 'nothing-stored'})
    const credentials = await pinged(registry.host, {DOCKER_CONFIG: directory})
    expect(credentials).to.deep.equal({outcome: 'accepted', source: {kind: 'anonymous', reason: 'nothing-stored'}, username: null})
  })

  it('logout followed by ping shows anonymous', async () => {
    const registry = await basicRegistry()
    const directory = configWith({})
    const login = await runCli(['auth', 'login', '-r', registry.host, '-u', reader.username, '--password-stdin'], {env: {DOCKER_CONFIG: directory}, stdin: reader.password})
    expect(login.code).to.equal(0)
    expect((await pinged(registry.host, {DOCKER_CONFIG: directory})).outcome).to.equal('accepted')
    const logout = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(logout.code).to.equal(0)
    const result = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.include(`Credentials: required but missing — anonymous (nothing stored); log in with: regshape auth login -r ${registry.host}\n`)
    expect((await pinged(registry.host, {DOCKER_CONFIG: directory})).source).to.deep.equal({kind: 'anonymous', reason: 'nothing-stored'})
  })

  it('never prints a stored secret', async () => {
    const registry = await tokenRegistry()
    const directory = configWith({auths: {[registry.host]: {auth: auth('bob', bob.password)}}})
    for (const args of [['ping', registry.host], ['--json', 'ping', registry.host], ['auth', 'status'], ['auth', 'status', '--verify'], ['--json', 'auth', 'status', '-r', registry.host, '--verify']]) {
      const result = await runCli(args, {env: {DOCKER_CONFIG: directory}})
      expect(result.code, args.join(' ')).to.equal(0)
      expectNoSecrets(result, [bob.password, auth('bob', bob.password), ...registry.tokenServer.issuedTokens])
    }
  })
})
