import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {waitFor} from '../fixtures/ports.js'
import {type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {USERS} from '../fixtures/servers.js'
import {type CliResult, RUN_JS, tempHome} from '../helpers/cli.js'
import {runOnPty} from '../helpers/pty.js'

const PROCESSES = 20
const {alice} = USERS

interface Running {
  done: Promise<CliResult>
  pid: number
}

/** Starts `regshape auth login` without waiting, so many run at once. */
function startLogin(registry: string, dockerConfig: string, extraEnv: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [RUN_JS, 'auth', 'login', '-r', registry, '-u', alice.username, '--password-stdin'], {
    // HOME apart from the config: regshape keeps its compile cache under HOME (~/.cache/regshape)
    env: {DOCKER_CONFIG: dockerConfig, HOME: tempHome(), PATH: process.env.PATH, ...extraEnv},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  child.stdin.end(alice.password)
  const done = new Promise<CliResult>((resolvePromise) => child.on('close', (code, signal) => resolvePromise({code, signal, stderr, stdout})))
  return {done, pid: child.pid as number}
}

/** The config file must parse, be 0600, and leave no temporaries or lock behind. */
function expectHealthyConfig(dockerConfig: string): Record<string, any> {
  const path = join(dockerConfig, 'config.json')
  const data = JSON.parse(readFileSync(path, 'utf8'))
  expect(statSync(path).mode & 0o777).to.equal(0o600)
  expect(readdirSync(dockerConfig).filter((name) => name !== 'config.json')).to.deep.equal([])
  return data
}

function prefilled(): string {
  const dockerConfig = mkdtempSync(join(tmpdir(), 'regshape-race-'))
  writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({auths: {'keep.example.com': {auth: 'a2VlcDpt'}}, somethingElse: {keep: true}}), {mode: 0o600})
  return dockerConfig
}

function temporariesOf(dockerConfig: string, pid: number): string[] {
  return readdirSync(dockerConfig).filter((name) => name.startsWith(`.config.json.${pid}.`))
}

describe('hardening: concurrent writers and interrupted saves', function () {
  this.timeout(180_000)
  let registries: RegistryHandle[] = []

  before(async () => {
    // Twenty real registries: twenty different keys, each login really verified.
    registries = await Promise.all(Array.from({length: PROCESSES}, () => startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}})))
  })

  after(async () => {
    await Promise.all(registries.map((registry) => registry.close()))
  })

  it(`${PROCESSES} parallel logins to different registries on one config file: every entry lands`, async () => {
    const dockerConfig = prefilled()
    const results = await Promise.all(registries.map((registry) => startLogin(registry.host, dockerConfig).done))
    for (const result of results) expect(result.code, result.stderr).to.equal(0)
    const data = expectHealthyConfig(dockerConfig)
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', ...registries.map((registry) => registry.host)].sort())
    expect(data.somethingElse).to.deep.equal({keep: true})
    for (const registry of registries) {
      expect(Buffer.from(data.auths[registry.host].auth, 'base64').toString()).to.equal(`alice:${alice.password}`)
    }
  })

  it('the same, with one writer killed (SIGKILL) while it holds the lock mid-save: nothing else is lost', async () => {
    const dockerConfig = prefilled()
    const [victimRegistry, ...others] = registries
    // The victim pauses inside its save (temp file written, not yet renamed) so the kill lands there.
    const victim = startLogin(victimRegistry.host, dockerConfig, {REGSHAPE_TEST_SAVE_PAUSE_MS: '20000'})
    await waitFor(() => temporariesOf(dockerConfig, victim.pid).length > 0, 15_000)
    const rest = others.map((registry) => startLogin(registry.host, dockerConfig))
    process.kill(victim.pid, 'SIGKILL')
    const killed = await victim.done
    expect(killed.signal).to.equal('SIGKILL')
    const results = await Promise.all(rest.map((running) => running.done))
    for (const result of results) expect(result.code, result.stderr).to.equal(0)
    const data = expectHealthyConfig(dockerConfig)
    // The killed login never completed; everyone else's did, and the old content survived.
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', ...others.map((registry) => registry.host)].sort())
    expect(existsSync(join(dockerConfig, 'config.json.lock'))).to.equal(false)
  })

  it('Ctrl-C (SIGINT) mid-save finishes the save first: the file is whole and no temporary is left', async () => {
    const dockerConfig = prefilled()
    const before = readFileSync(join(dockerConfig, 'config.json'), 'utf8')
    const writer = startLogin(registries[1].host, dockerConfig, {REGSHAPE_TEST_SAVE_PAUSE_MS: '1500'})
    await waitFor(() => temporariesOf(dockerConfig, writer.pid).length > 0, 15_000)
    process.kill(writer.pid, 'SIGINT')
    const result = await writer.done
    expect(result.signal).to.equal('SIGINT')
    const data = expectHealthyConfig(dockerConfig)
    // Either the old file or the new one, whole; here the save had begun, so it is the new one.
    expect(JSON.parse(before).auths).to.deep.equal({'keep.example.com': {auth: 'a2VlcDpt'}})
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', registries[1].host].sort())
  })

  it('SIGTERM before the save leaves the old file whole; SIGTERM mid-save finishes it first', async () => {
    // Before: the login is still verifying when the signal comes (the pause is never reached).
    const early = prefilled()
    const before = readFileSync(join(early, 'config.json'), 'utf8')
    const first = startLogin(registries[2].host, early)
    process.kill(first.pid, 'SIGTERM')
    expect((await first.done).signal).to.equal('SIGTERM')
    expect(readFileSync(join(early, 'config.json'), 'utf8')).to.equal(before)
    expectHealthyConfig(early)

    // Mid-save: held back until the rename is done, then the process ends by the signal.
    const during = prefilled()
    const writer = startLogin(registries[3].host, during, {REGSHAPE_TEST_SAVE_PAUSE_MS: '1500'})
    await waitFor(() => temporariesOf(during, writer.pid).length > 0, 15_000)
    process.kill(writer.pid, 'SIGTERM')
    expect((await writer.done).signal).to.equal('SIGTERM')
    const data = expectHealthyConfig(during)
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', registries[3].host].sort())
  })
})

describe('hardening: the terminal', () => {
  it('Ctrl-C at the hidden password prompt restores echo and exits 130', async () => {
    const registry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}})
    try {
      const dockerConfig = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
      const result = await runOnPty(
        ['auth', 'login', '-r', registry.host],
        [
          {expect: 'Username for', send: 'alice\r'},
          {expect: 'Password for', send: 'half-typed'},
          {delay: 0.2, expect: 'Password for', send: '\u0003'},
        ],
        {DOCKER_CONFIG: dockerConfig, HOME: dockerConfig},
      )
      expect(result.failure).to.equal(null)
      expect(result.code).to.equal(130)
      expect(result.echoOnExit, 'terminal echo restored').to.equal(true)
      expect(result.transcript).not.to.include('half-typed')
      expect(existsSync(join(dockerConfig, 'config.json'))).to.equal(false)
    } finally {
      await registry.close()
    }
  })
})
