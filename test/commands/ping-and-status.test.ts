import {expect} from 'chai'
import {createServer} from 'node:http'
import {mkdtempSync, writeFileSync} from 'node:fs'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {freePort} from '../fixtures/ports.js'
import {startRegistry} from '../fixtures/registry.js'
import {basicRegistry, openRegistry, passHelper, tokenRegistry, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

const {alice, bob, reader} = USERS
const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64')

function configWith(data: unknown): {directory: string; path: string} {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return {directory, path: join(directory, 'config.json')}
}

describe('regshape ping', () => {
  it('reports status, API version, the Bearer challenge, credentials and their source, and the round trip', async () => {
    const registry = await tokenRegistry()
    const {directory, path} = configWith({auths: {[registry.host]: {auth: auth('alice', alice.password)}}})
    const result = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines.slice(0, 5)).to.deep.equal([
      `Registry:    ${registry.host} (http://${registry.host}/v2/)`,
      'Status:      401, then 200 after answering the challenge',
      'API version: registry/2.0',
      `Auth:        Bearer (realm ${registry.tokenServer.url}, service ${registry.tokenServer.service})`,
      `Credentials: accepted — alice from file ${path}`,
    ])
    expect(lines[5]).to.match(/^Round trip: {2}\d+\.\d ms$/)
    expectNoSecrets(result, [alice.password, ...registry.tokenServer.issuedTokens])
  })

  it('prints one JSON object with --json', async () => {
    const registry = await basicRegistry()
    const {directory, path} = configWith({auths: {[registry.host]: {auth: auth('bob', bob.password)}}})
    const result = await runCli(['--json', 'ping', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    const output = JSON.parse(result.stdout)
    expect(output.latency_ms).to.be.a('number').above(0).below(5000)
    delete output.latency_ms
    expect(output).to.deep.equal({
      api_version: 'registry/2.0',
      auth: {realm: registry.realm, scheme: 'basic'},
      credentials: {outcome: 'accepted', source: {key: registry.host, kind: 'file', path}, username: 'bob'},
      final_status_code: 200,
      reachable: true,
      registry: registry.host,
      status: 'success',
      status_code: 401,
      url: `http://${registry.host}/v2/`,
    })
  })

  it('says when /v2/ needs no credentials', async () => {
    const registry = await openRegistry()
    const result = await runCli(['--json', 'ping', '-r', registry.host])
    expect(result.code).to.equal(0)
    expect(JSON.parse(result.stdout)).to.deep.include({auth: null, credentials: {outcome: 'not-required', source: null, username: null}, status_code: 200})
  })

  it('exits 0 when credentials are rejected: the registry does answer the API', async () => {
    const registry = await basicRegistry()
    const result = await runCli(['ping', registry.host, '-u', 'alice', '-p', 'wrong-secret-pw'], {env: {DOCKER_CONFIG: configWith({}).directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.include('Credentials: rejected — alice from command-line flags\n')
    expectNoSecrets(result, ['wrong-secret-pw'])
  })

  it('exits 1 when the registry is unreachable', async () => {
    const port = await freePort()
    for (const json of [false, true]) {
      const result = await runCli([...(json ? ['--json'] : []), 'ping', `127.0.0.1:${port}`])
      expect(result.code).to.equal(1)
      const message = `Registry 127.0.0.1:${port} is not reachable: connect ECONNREFUSED 127.0.0.1:${port}`
      if (json) expect(JSON.parse(result.stdout)).to.deep.equal({error: message, registry: `127.0.0.1:${port}`, status: 'error'})
      else expect(result.stderr).to.equal(`Error: ${message}\n`)
    }
  })

  it('exits 1 for a web server that is not a registry', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(404, {'content-type': 'text/html'})
      response.end('<html>Not Found</html>')
    })
    await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise))
    const {port} = server.address() as AddressInfo
    try {
      const result = await runCli(['ping', `127.0.0.1:${port}`])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: Registry 127.0.0.1:${port} answered, but not as a registry: http://127.0.0.1:${port}/v2/ answered HTTP 404: this is not an OCI registry\n`)
      expectNoStackTrace(result)
    } finally {
      server.close()
    }
  })

  it('wants exactly one registry', async () => {
    expect((await runCli(['ping'])).code).to.equal(2)
    const both = await runCli(['ping', 'a.example', '-r', 'b.example'])
    expect(both.code).to.equal(2)
    expect(both.stderr).to.equal('Error: give the registry once: as the argument or with -r, not both\n')
  })
})

describe('regshape auth status', () => {
  it('lists auths, credHelpers and credsStore entries with their store and username, hiding Hub pseudo-keys', async () => {
    const pass = await passHelper()
    const stored = [
      {Secret: 'helper-secret-1', ServerURL: 'helpers.example.com', Username: 'helen'},
      {Secret: 'store-secret-2', ServerURL: 'store.example.com', Username: 'stella'},
      {Secret: 'pseudo-secret-3', ServerURL: 'https://index.docker.io/v1/access-token', Username: 'hub'},
    ]
    for (const entry of stored) expect((await pass.run('store', JSON.stringify(entry))).code).to.equal(0)
    try {
      const {directory, path} = configWith({
        auths: {
          'file.example.com': {auth: auth('fiona', 'file-secret-4')},
          'https://index.docker.io/v1/': {auth: auth('hubuser', 'hub-secret-5')},
          'https://index.docker.io/v1/refresh-token': {auth: auth('x', 'pseudo-secret-6')},
          'store.example.com': {},
        },
        credHelpers: {'helpers.example.com': 'pass'},
        credsStore: 'pass',
      })
      const result = await runCli(['--json', 'auth', 'status'], {env: {DOCKER_CONFIG: directory, ...pass.env}})
      expect(result.code, result.stderr).to.equal(0)
      const output = JSON.parse(result.stdout)
      expect(output.config).to.equal(path)
      const rows = output.entries.map((e: any) => [e.key, e.store.kind === 'file' ? 'file' : `${e.store.helper}/${e.store.via}`, e.username, e.in_use])
      expect(rows).to.deep.equal([
        ['file.example.com', 'file', 'fiona', false], // credsStore is selected for it: the file entry is not used
        ['helpers.example.com', 'pass/credHelpers', 'helen', true],
        ['helpers.example.com', 'pass/credsStore', 'helen', false],
        ['https://index.docker.io/v1/', 'file', 'hubuser', false],
        ['store.example.com', 'pass/credsStore', 'stella', true],
      ])
      const text = await runCli(['auth', 'status'], {env: {DOCKER_CONFIG: directory, ...pass.env}})
      expect(text.stdout.split('\n')[0]).to.match(/^REGISTRY\s+STORE\s+USERNAME$/)
      expect(text.stdout).to.match(/store\.example\.com\s+docker-credential-pass \(credsStore\)\s+stella\n/)
      expect(text.stdout).to.match(new RegExp(`file\\.example\\.com\\s+${path.replaceAll('.', '\\.')} \\(not used\\)\\s+fiona\\n`))
      for (const output of [result, text]) {
        expect(output.stdout).not.to.include('refresh-token')
        expect(output.stdout).not.to.include('access-token')
        expectNoSecrets(output, ['helper-secret-1', 'store-secret-2', 'pseudo-secret-3', 'file-secret-4', 'hub-secret-5', 'pseudo-secret-6'])
      }
    } finally {
      for (const entry of stored) await pass.run('erase', entry.ServerURL)
    }
  })

  it('--verify catches a changed password', async () => {
    const registry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password, reader: reader.password}}})
    try {
      const {directory} = configWith({})
      for (const user of [alice, reader]) {
        const login = await runCli(['auth', 'login', '-r', registry.host, '-u', user.username, '--password-stdin'], {env: {DOCKER_CONFIG: directory}, stdin: user.password})
        expect(login.code).to.equal(0)
      }

      const before = await runCli(['auth', 'status', '--verify'], {env: {DOCKER_CONFIG: directory}})
      expect(before.code, before.stderr).to.equal(0)
      expect(before.stdout).to.match(new RegExp(`${registry.host}\\s+\\S+config\\.json\\s+reader\\s+valid\\n`))
      await registry.setPassword('reader', 'a-new-password')
      const after = await runCli(['--json', 'auth', 'status', '--verify'], {env: {DOCKER_CONFIG: directory}})
      expect(after.code).to.equal(1)
      expect(after.stderr).to.equal('Error: 1 stored credential did not verify\n')
      expect(JSON.parse(after.stdout).entries.map((e: any) => [e.username, e.verification.result])).to.deep.equal([['reader', 'rejected']])
      const one = await runCli(['auth', 'status', '-r', registry.host, '--verify'], {env: {DOCKER_CONFIG: directory}})
      expect(one.code).to.equal(1)
      expect(one.stdout).to.include('Verified:    rejected')
      expectNoSecrets(after, [reader.password, 'a-new-password'])
    } finally {
      await registry.close()
    }
  })

  it('--verify reports an unreachable registry', async () => {
    const port = await freePort()
    const {directory} = configWith({auths: {[`127.0.0.1:${port}`]: {auth: auth('alice', 'pw-secret')}}})
    const result = await runCli(['auth', 'status', '--verify'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(1)
    expect(result.stdout).to.include(`unreachable (connect ECONNREFUSED 127.0.0.1:${port})`)
  })

  it('with -r shows what the chain yields and where it comes from', async () => {
    const registry = await basicRegistry()
    const {directory, path} = configWith({auths: {[`https://${registry.host}`]: {auth: auth('bob', bob.password)}}})
    const result = await runCli(['auth', 'status', '-r', registry.host, '--verify'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal(`Registry:    ${registry.host}\nCredentials: bob\nSource:      file ${path}\nVerified:    valid\n`)
    const hub = await runCli(['auth', 'status', '-r', 'docker.io'], {env: {DOCKER_CONFIG: directory}})
    expect(hub.stdout).to.equal('Registry:    docker.io (stored as https://index.docker.io/v1/)\nCredentials: anonymous\nSource:      anonymous (nothing stored)\n')
  })

  it('says so when nothing is stored', async () => {
    const {directory, path} = configWith({})
    const result = await runCli(['auth', 'status'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal(`No stored credentials (config file ${path}).\n`)
  })
})
