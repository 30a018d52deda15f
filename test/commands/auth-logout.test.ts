import {expect} from 'chai'
import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {basicRegistry, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, runCli} from '../helpers/cli.js'

const {alice} = USERS

function configWith(data: unknown): {directory: string; path: string} {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  const path = join(directory, 'config.json')
  writeFileSync(path, typeof data === 'string' ? data : JSON.stringify(data, null, '\t'))
  return {directory, path}
}

const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64')

describe('regshape auth logout', () => {
  it('regshape auth logout -r <registry> removes the login it made', async () => {
    const registry = await basicRegistry()
    const {directory, path} = configWith({})
    const login = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: directory}, stdin: alice.password})
    expect(login.code).to.equal(0)
    const result = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal(`Removing login credentials for ${registry.host}.\n`)
    expect(result.stderr).to.equal('')
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({auths: {}})
  })

  it('regshape --json auth logout -r <registry>', async () => {
    const {directory} = configWith({auths: {'registry.example.com': {auth: auth('alice', 'pw-secret-1')}}})
    const result = await runCli(['--json', 'auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal('{"status": "success", "registry": "registry.example.com"}\n')
    expect(result.stderr).to.equal('')
    expectNoSecrets(result, ['pw-secret-1', auth('alice', 'pw-secret-1')])
  })

  it('is idempotent: nothing stored gives exit 0 and "Not logged in"', async () => {
    const {directory, path} = configWith({auths: {'other.example.com': {auth: auth('a', 'b')}}})
    const before = readFileSync(path, 'utf8')
    const result = await runCli(['auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal('Not logged in to registry.example.com.\n')
    expect(readFileSync(path, 'utf8'), 'file rewritten although nothing changed').to.equal(before)
  })

  it('works without any config file, creating none', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
    const result = await runCli(['--json', 'auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal('{"status": "success", "registry": "registry.example.com"}\n')
    expect(() => statSync(join(directory, 'config.json'))).to.throw(/ENOENT/)
  })

  it('erases the canonical key and every legacy spelling, and nothing else', async () => {
    const other = {auth: auth('carol', 'c')}
    const {directory, path} = configWith({
      auths: {
        'http://registry.example.com:5000': {auth: auth('a', '2')},
        'https://registry.example.com:5000': {auth: auth('a', '1')},
        'registry.example.com': other,
        'registry.example.com:5000': {auth: auth('a', '0')},
        'registry.example.com:5000/v1/': {auth: auth('a', '3')},
      },
      credsStoreX: 'untouched',
    })
    const result = await runCli(['auth', 'logout', '-r', 'https://registry.example.com:5000/'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal('Removing login credentials for https://registry.example.com:5000/.\n')
    expect(JSON.parse(readFileSync(path, 'utf8'))).to.deep.equal({auths: {'registry.example.com': other}, credsStoreX: 'untouched'})
  })

  it('logs out of Docker Hub under any of its names', async () => {
    for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      const {directory, path} = configWith({
        auths: {
          'https://index.docker.io/v1/': {auth: auth('hubuser', 'h')},
          'https://index.docker.io/v1/refresh-token': {auth: auth('x', 'y')},
        },
      })
      const result = await runCli(['auth', 'logout', '-r', name], {env: {DOCKER_CONFIG: directory}})
      expect(result.stdout, name).to.equal(`Removing login credentials for ${name}.\n`)
      // The web-login pseudo-entry is not a registry login; it is left for docker to manage.
      expect(JSON.parse(readFileSync(path, 'utf8')), name).to.deep.equal({auths: {'https://index.docker.io/v1/refresh-token': {auth: auth('x', 'y')}}})
    }
  })

  it('reports a malformed config.json with exit 1 and leaves it byte-for-byte', async () => {
    const broken = '{"auths": {"registry.example.com": {"auth": "YTpi"}}'
    const {directory, path} = configWith(broken)
    for (const json of [false, true]) {
      const result = await runCli([...(json ? ['--json'] : []), 'auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: directory}})
      expect(result.code).to.equal(1)
      const message = `Could not remove credentials: Docker config ${path} is not valid JSON`
      if (json) {
        const output = JSON.parse(result.stdout)
        expect(output).to.include({registry: 'registry.example.com', status: 'error'})
        expect(output.error).to.include(message)
      } else {
        expect(result.stderr).to.include(`Error: ${message}`)
        expect(result.stderr.trimEnd().split('\n')).to.have.length(1)
      }

      expect(readFileSync(path, 'utf8')).to.equal(broken)
    }
  })

  it('treats an empty config file as an empty config', async () => {
    const {directory, path} = configWith('')
    const result = await runCli(['auth', 'logout', '-r', 'registry.example.com'], {env: {DOCKER_CONFIG: directory}})
    expect(result.code).to.equal(0)
    expect(result.stdout).to.equal('Not logged in to registry.example.com.\n')
    expect(readFileSync(path, 'utf8')).to.equal('')
  })

  it('reports a config path that is a directory', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
    const result = await runCli(['auth', 'logout', '-r', 'registry.example.com', '--docker-config', directory])
    expect(result.code).to.equal(1)
    expect(result.stderr).to.equal(`Error: Could not remove credentials: Docker config ${directory} is a directory, not a file\n`)
  })

  it('reports a config file it may not read, as an unprivileged user', async function () {
    const {spawnSync} = await import('node:child_process')
    if (spawnSync('setpriv', ['--version']).status !== 0) this.skip()
    const {directory, path} = configWith({auths: {}})
    const {chmodSync} = await import('node:fs')
    chmodSync(directory, 0o755)
    chmodSync(path, 0o600)
    const {RUN_JS} = await import('../helpers/cli.js')
    const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, RUN_JS, 'auth', 'logout', '-r', 'registry.example.com', '--docker-config', path], {
      encoding: 'utf8',
      env: {HOME: '/tmp', PATH: process.env.PATH},
    })
    expect(result.status).to.equal(1)
    expect(result.stderr).to.equal(`Error: Could not remove credentials: Docker config ${path} cannot be read: permission denied\n`)
  })
})
