import {expect} from 'chai'
import {mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runProcess} from '../fixtures/proc.js'
import {basicRegistry, passHelper, USERS} from '../fixtures/servers.js'
import {expectNoSecrets, runCli} from '../helpers/cli.js'

/**
 * The containers tools' auth.json (podman, skopeo) as the resolution chain's last file source.
 * The file is written by the real skopeo (`skopeo login --authfile`), so regshape reads what those
 * tools write; regshape itself must never write it.
 */

const {alice, bob} = USERS
const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64')

function dockerConfig(data: unknown = {}): {directory: string; path: string} {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return {directory, path: join(directory, 'config.json')}
}

/** An auth.json written by skopeo itself for `registry` (plain HTTP: --tls-verify=false). */
async function skopeoLogin(file: string, registry: string, user: string, password: string): Promise<void> {
  const result = await runProcess('skopeo', ['login', '--authfile', file, '--tls-verify=false', '-u', user, '--password-stdin', registry], {
    env: {HOME: mkdtempSync(join(tmpdir(), 'regshape-home-')), PATH: process.env.PATH},
    input: password,
  })
  if (result.code !== 0) throw new Error(`skopeo login: ${result.stderr}`)
}

describe("containers' auth.json (REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json): read last, never written", function () {
  this.timeout(120_000)

  it('uses a login made with skopeo when Docker\'s config holds nothing, and says where it came from', async () => {
    const registry = await basicRegistry()
    const authFile = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    await skopeoLogin(authFile, registry.host, 'alice', alice.password)
    const {directory} = dockerConfig()
    const env = {DOCKER_CONFIG: directory, REGISTRY_AUTH_FILE: authFile}
    const ping = await runCli(['ping', registry.host], {env})
    expect(ping.code, ping.stderr).to.equal(0)
    expect(ping.stdout).to.include(`Credentials: accepted — alice from containers auth file ${authFile}\n`)
    const status = await runCli(['--json', 'auth', 'status', '-r', registry.host], {env})
    expect(JSON.parse(status.stdout)).to.deep.include({source: {key: registry.host, kind: 'containers-auth', path: authFile}, username: 'alice'})
    const human = await runCli(['auth', 'status', '-r', registry.host], {env})
    expect(human.stdout).to.include(`Source:      containers auth file ${authFile}\n`)
    expectNoSecrets(ping, [alice.password])
  })

  it('finds $XDG_RUNTIME_DIR/containers/auth.json, and REGISTRY_AUTH_FILE before it', async () => {
    const registry = await basicRegistry()
    const runtime = mkdtempSync(join(tmpdir(), 'regshape-xdg-run-'))
    mkdirSync(join(runtime, 'containers'))
    const runtimeFile = join(runtime, 'containers', 'auth.json')
    await skopeoLogin(runtimeFile, registry.host, 'bob', bob.password)
    const {directory} = dockerConfig()
    const fromRuntime = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory, XDG_RUNTIME_DIR: runtime}})
    expect(fromRuntime.stdout).to.include(`Credentials: accepted — bob from containers auth file ${runtimeFile}\n`)
    const explicit = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    await skopeoLogin(explicit, registry.host, 'alice', alice.password)
    const fromExplicit = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory, REGISTRY_AUTH_FILE: explicit, XDG_RUNTIME_DIR: runtime}})
    expect(fromExplicit.stdout).to.include(`Credentials: accepted — alice from containers auth file ${explicit}\n`)
  })

  it("comes after Docker's config: its auths entry wins", async () => {
    const registry = await basicRegistry()
    const authFile = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    writeFileSync(authFile, JSON.stringify({auths: {[registry.host]: {auth: auth('alice', 'not-the-password')}}}))
    const {directory, path} = dockerConfig({auths: {[registry.host]: {auth: auth('bob', bob.password)}}})
    const result = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory, REGISTRY_AUTH_FILE: authFile}})
    expect(result.stdout).to.include(`Credentials: accepted — bob from file ${path}\n`)
  })

  it('is used behind a credential helper that holds nothing for the registry', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const authFile = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    await skopeoLogin(authFile, registry.host, 'alice', alice.password)
    const {directory} = dockerConfig({credHelpers: {[registry.host]: 'pass'}})
    const result = await runCli(['ping', registry.host], {env: {DOCKER_CONFIG: directory, REGISTRY_AUTH_FILE: authFile, ...pass.env}})
    expect(result.stdout).to.include(`Credentials: accepted — alice from containers auth file ${authFile}\n`)
  })

  it('is listed by auth status, marked "not used" where Docker\'s config decides', async () => {
    const registry = await basicRegistry()
    const authFile = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    writeFileSync(authFile, JSON.stringify({auths: {[registry.host]: {auth: auth('alice', alice.password)}, '127.0.0.1:1': {auth: auth('carol', 'pw')}, '127.0.0.1:1/team': {auth: auth('team', 'pw')}}}))
    const {directory, path} = dockerConfig({auths: {'127.0.0.1:1': {auth: auth('dave', 'pw')}}})
    const result = await runCli(['--json', 'auth', 'status', '--verify'], {env: {DOCKER_CONFIG: directory, REGISTRY_AUTH_FILE: authFile}})
    const entries = JSON.parse(result.stdout).entries.map((e: Record<string, unknown>) => ({in_use: e.in_use, key: e.key, store: e.store, username: e.username, verification: (e.verification as {result: string}).result}))
    expect(entries).to.deep.include({in_use: true, key: registry.host, store: {kind: 'file', path: authFile}, username: 'alice', verification: 'valid'})
    expect(entries).to.deep.include({in_use: false, key: '127.0.0.1:1', store: {kind: 'file', path: authFile}, username: 'carol', verification: 'unreachable'})
    expect(entries).to.deep.include({in_use: true, key: '127.0.0.1:1', store: {kind: 'file', path}, username: 'dave', verification: 'unreachable'})
    expect(entries.map((e: {key: string}) => e.key)).to.not.include('127.0.0.1:1/team')
  })

  it('is never written: login and logout leave it byte for byte, and its mtime, as they were', async () => {
    const registry = await basicRegistry()
    const authFile = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    await skopeoLogin(authFile, registry.host, 'bob', bob.password)
    const before = readFileSync(authFile)
    const mtime = statSync(authFile).mtimeMs
    const {directory, path} = dockerConfig()
    const env = {DOCKER_CONFIG: directory, REGISTRY_AUTH_FILE: authFile}
    const login = await runCli(['auth', 'login', registry.host, '-u', 'alice', '-p', alice.password], {env})
    expect(login.code, login.stderr).to.equal(0)
    expect(JSON.parse(readFileSync(path, 'utf8')).auths[registry.host].auth).to.equal(auth('alice', alice.password))
    const logout = await runCli(['auth', 'logout', registry.host], {env})
    expect(logout.code, logout.stderr).to.equal(0)
    expect(logout.stdout).to.equal(`Removing login credentials for ${registry.host}.\n`)
    const note = `Note: ${authFile} (containers auth file) still holds credentials for ${registry.host}; regshape never writes that file: use podman logout or skopeo logout\n`
    expect(logout.stderr).to.equal(note)
    // Docker's side is now empty; the skopeo login is still there, and says so.
    const again = await runCli(['auth', 'logout', registry.host], {env})
    expect(again.stdout).to.equal(`Not logged in to ${registry.host}.\n`)
    expect(again.stderr).to.equal(note)
    const all = await runCli(['auth', 'logout', '--all'], {env})
    expect(all.code, all.stderr).to.equal(0)
    expect(readFileSync(authFile).equals(before)).to.equal(true)
    expect(statSync(authFile).mtimeMs).to.equal(mtime)
    const ping = await runCli(['ping', registry.host], {env})
    expect(ping.stdout).to.include(`Credentials: accepted — bob from containers auth file ${authFile}\n`)
  })

  it('names an auth.json that cannot be parsed, rather than going anonymous', async () => {
    const registry = await basicRegistry()
    const authFile = join(mkdtempSync(join(tmpdir(), 'regshape-authjson-')), 'auth.json')
    writeFileSync(authFile, '{"auths": ')
    const result = await runCli(['tag', 'list', `${registry.host}/any/repo`], {env: {DOCKER_CONFIG: dockerConfig().directory, REGISTRY_AUTH_FILE: authFile}})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.match(new RegExp(`^Error: .*the containers auth file ${authFile} is not valid JSON\\n$`))
  })
})
