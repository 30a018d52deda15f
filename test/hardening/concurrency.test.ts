import {expect} from 'chai'
import {spawn, spawnSync} from 'node:child_process'
import {type AddressInfo} from 'node:net'
import {createServer} from 'node:http'
import {chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {waitFor} from '../fixtures/ports.js'
import {type RegistryHandle, startRegistry} from '../fixtures/registry.js'
import {USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoStackTrace, RUN_JS, runCli, tempHome} from '../helpers/cli.js'
import {runOnPty} from '../helpers/pty.js'

const PROCESSES = 20
const SAVE_PAUSE = fileURLToPath(new URL('../fixtures/save-pause.mjs', import.meta.url))
const LOCK_HOLDER = fileURLToPath(new URL('../fixtures/lock-holder.ts', import.meta.url))
const {alice} = USERS

interface Running {
  done: Promise<CliResult>
  pid: number
}

/** Starts `regshape auth login` without waiting, so many run at once. */
function startLogin(registry: string, dockerConfig: string, extraEnv: NodeJS.ProcessEnv = {}): Running {
  // save-pause.mjs pauses the save when extraEnv sets REGSHAPE_TEST_SAVE_PAUSE_MS
  const child = spawn(process.execPath, ['--import', SAVE_PAUSE, RUN_JS, 'auth', 'login', '-r', registry, '-u', alice.username, '--password-stdin'], {
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

  it('the same, while a docker-style writer (no lock) rewrites the file in a loop: every login saves', async () => {
    const dockerConfig = prefilled()
    // Rewrites config.json as docker does (read, change, temporary file flushed, rename; no
    // lock) every 5 ms until told to stop, setting "writer": N; prints N. Whether a login was
    // renamed over a rewrite is not checked here: a rename can take milliseconds while other
    // processes flush (up to 3 ms measured), a rewrite landing during it is lost, and POSIX has
    // no compare-and-rename. The tests with a writer during the save (below) check that no
    // rewrite made before regshape's check is ever overwritten.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs')
        const [path, temporary] = [process.argv[1], process.argv[1] + '.docker-tmp']
        let n = 0
        let stop = false
        process.on('SIGTERM', () => (stop = true))
        ;(async () => {
          while (!stop) {
            const data = JSON.parse(fs.readFileSync(path, 'utf8'))
            data.writer = ++n
            const fd = fs.openSync(temporary, 'w', 0o600)
            fs.writeFileSync(fd, JSON.stringify(data, null, '\\t'))
            fs.fsyncSync(fd)
            fs.closeSync(fd)
            fs.renameSync(temporary, path)
            await new Promise((resolvePromise) => setTimeout(resolvePromise, 5))
          }
          process.stdout.write(String(n))
        })()`,
        join(dockerConfig, 'config.json'),
      ],
      {stdio: ['ignore', 'pipe', 'inherit']},
    )
    let written = ''
    writer.stdout.on('data', (chunk: Buffer) => (written += chunk))
    const stopped = new Promise<void>((resolvePromise) => writer.on('exit', () => resolvePromise()))
    let results: CliResult[]
    try {
      results = await Promise.all(registries.map((registry) => startLogin(registry.host, dockerConfig).done))
    } finally {
      writer.kill('SIGTERM')
      await stopped
    }

    expect(results.filter((result) => result.code !== 0).map((result) => result.stderr)).to.deep.equal([])
    const rewrites = Number(written)
    expect(rewrites).to.be.greaterThan(20)
    // The writer renamed last. (It drops logins, as docker does: it reads, a login lands, it renames.)
    expect(expectHealthyConfig(dockerConfig).writer).to.equal(rewrites)
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
    // Either the old file or the new one, whole; here the save had begun, so it is the new one,
    // with the entry that was there before unchanged.
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', registries[1].host].sort())
    expect(data.auths['keep.example.com']).to.deep.equal(JSON.parse(before).auths['keep.example.com'])
  })

  it('SIGTERM before the save leaves the old file whole; SIGTERM mid-save finishes it first', async () => {
    // Before: the login is still verifying when the signal comes. A registry that challenges, then
    // holds the authenticated retry unanswered (a slow bcrypt check, a slow network), makes that
    // moment certain: regshape is loaded, has its credentials, and has not begun to save.
    const early = prefilled()
    const before = readFileSync(join(early, 'config.json'), 'utf8')
    let retried = false
    const slow = createServer((request, response) => {
      if (!request.headers.authorization) {
        response.writeHead(401, {'docker-distribution-api-version': 'registry/2.0', 'www-authenticate': 'Basic realm="slow"'}).end()
        return
      }

      retried = true
    })
    await new Promise<void>((resolvePromise) => slow.listen(0, '127.0.0.1', resolvePromise))
    try {
      const first = startLogin(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`, early)
      await waitFor(() => retried, 15_000)
      process.kill(first.pid, 'SIGTERM')
      expect((await first.done).signal).to.equal('SIGTERM')
      expect(readFileSync(join(early, 'config.json'), 'utf8')).to.equal(before)
      expectHealthyConfig(early)
    } finally {
      slow.closeAllConnections()
      slow.close()
    }

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

/**
 * One rewrite of config.json as docker does it: read, change, a temporary file, rename; no lock.
 * Each adds `writer-N: true`, so a rewrite that regshape overwrote shows as a missing key.
 */
function dockerStyleRewrite(dockerConfig: string, n: number): void {
  const path = join(dockerConfig, 'config.json')
  const data = JSON.parse(readFileSync(path, 'utf8'))
  data[`writer-${n}`] = true
  writeFileSync(`${path}.docker-tmp`, JSON.stringify(data, null, '\t'), {mode: 0o600})
  renameSync(`${path}.docker-tmp`, path)
}

describe('hardening: a writer that does not lock (docker)', function () {
  this.timeout(120_000)
  let registry: RegistryHandle

  before(async () => {
    registry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}})
  })

  after(async () => {
    await registry?.close()
  })

  /**
   * A login whose save pauses (save-pause.mjs) between writing its temporary and renaming it, and
   * a docker-style writer that replaces config.json in that pause, for the first `interfere` saves.
   */
  async function loginAgainstWriter(interfere: number): Promise<{dockerConfig: string; result: CliResult; saves: number}> {
    const dockerConfig = prefilled()
    const login = startLogin(registry.host, dockerConfig, {REGSHAPE_TEST_SAVE_PAUSE_MS: '250'})
    const seen = new Set<string>()
    const watcher = setInterval(() => {
      for (const name of temporariesOf(dockerConfig, login.pid)) {
        if (seen.has(name)) continue
        seen.add(name)
        if (seen.size <= interfere) dockerStyleRewrite(dockerConfig, seen.size)
      }
    }, 5)
    try {
      return {dockerConfig, result: await login.done, saves: seen.size}
    } finally {
      clearInterval(watcher)
    }
  }

  it('replacing config.json during each of the first 5 saves: regshape reads it again and re-applies its change; every rewrite is kept', async () => {
    const {dockerConfig, result, saves} = await loginAgainstWriter(5)
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.equal('')
    expect(saves).to.equal(6)
    const data = expectHealthyConfig(dockerConfig)
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', registry.host].sort())
    for (let n = 1; n <= 5; n++) expect(data, `writer-${n}`).to.have.property(`writer-${n}`, true)
  })

  it('replacing it during every save: regshape gives up after 40 tries with one Error line, and the rewrites are all there', async () => {
    const {dockerConfig, result, saves} = await loginAgainstWriter(Number.POSITIVE_INFINITY)
    expect(result.code).to.equal(1)
    const config = join(dockerConfig, 'config.json')
    expect(result.stderr).to.equal(`Error: Could not store credentials: Docker config ${config} was changed by another program while regshape was saving it; nothing was written, try again\n`)
    expect(saves).to.equal(40)
    const data = expectHealthyConfig(dockerConfig)
    expect(Object.keys(data.auths)).to.deep.equal(['keep.example.com'])
    for (let n = 1; n <= 40; n++) expect(data, `writer-${n}`).to.have.property(`writer-${n}`, true)
  })
})

describe('hardening: the config lock', function () {
  this.timeout(180_000)
  let registries: RegistryHandle[] = []

  before(async () => {
    registries = await Promise.all(Array.from({length: 4}, () => startRegistry({auth: {kind: 'htpasswd', users: {alice: alice.password}}})))
  })

  after(async () => {
    await Promise.all(registries.map((registry) => registry.close()))
  })

  it('a login waits as long as the holder of the lock is alive and beating: 35 s, past the fixed 30 s it once waited (a loaded machine)', async () => {
    // One slow holder stands for the long queue of 200 logins on a machine with load above 10.
    const dockerConfig = prefilled()
    const holder = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, join(dockerConfig, 'config.json.lock'), '35000'], {stdio: ['ignore', 'pipe', 'inherit']})
    const released = new Promise<void>((resolvePromise) => holder.on('exit', () => resolvePromise()))
    try {
      await new Promise<void>((resolvePromise) => holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolvePromise()))
      const started = Date.now()
      const result = await startLogin(registries[2].host, dockerConfig).done
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.equal('')
      expect(Date.now() - started).to.be.greaterThan(30_000)
    } finally {
      holder.kill('SIGKILL')
      await released
    }

    const data = expectHealthyConfig(dockerConfig)
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', registries[2].host].sort())
  })

  it('a holder stopped (SIGSTOP) inside its save, well past any stale threshold, keeps its lock: after SIGCONT both logins are in the file', async () => {
    const dockerConfig = prefilled()
    const [first, second] = registries
    const holder = startLogin(first.host, dockerConfig, {REGSHAPE_TEST_SAVE_PAUSE_MS: '1000'})
    await waitFor(() => temporariesOf(dockerConfig, holder.pid).length > 0, 15_000)
    process.kill(holder.pid, 'SIGSTOP')
    try {
      const other = startLogin(second.host, dockerConfig)
      // Longer than proper-lockfile's 3 s stale time, which is what a stolen lock looked like.
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 6000))
      process.kill(holder.pid, 'SIGCONT')
      const [held, waited] = await Promise.all([holder.done, other.done])
      for (const result of [held, waited]) {
        expect(result.code, result.stderr).to.equal(0)
        expectNoStackTrace(result)
      }
    } finally {
      try {
        process.kill(holder.pid, 'SIGCONT')
      } catch {}
    }

    const data = expectHealthyConfig(dockerConfig)
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', first.host, second.host].sort())
  })

  it('150 logins interrupted (SIGINT, SIGTERM, SIGHUP) at random points, ten at a time on one file, leave no lock behind', async () => {
    const dockerConfig = prefilled()
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
    let interrupted = 0
    for (let batch = 0; batch < 15; batch++) {
      const runs = Array.from({length: 10}, (_, index) => {
        // Some pause inside the save, so that signals land in every part of it, lock work included.
        const running = startLogin(registries[index % registries.length].host, dockerConfig, {REGSHAPE_TEST_SAVE_PAUSE_MS: String(Math.floor(Math.random() * 40))})
        const timer = setTimeout(() => {
          try {
            process.kill(running.pid, signals[index % signals.length])
          } catch {}
        }, 150 + Math.random() * 900)
        return running.done.then((result) => {
          clearTimeout(timer)
          if (result.signal) interrupted++
          // Either it finished, or the signal ended it; never a half-written error.
          if (!result.signal) expect(result.code, result.stderr).to.equal(0)
          return result
        })
      })
      await Promise.all(runs)
      expect(existsSync(join(dockerConfig, 'config.json.lock')), `lock left after batch ${batch}`).to.equal(false)
    }

    expect(interrupted, 'signals that landed').to.be.greaterThan(30)
    const data = expectHealthyConfig(dockerConfig)
    expect(data.auths['keep.example.com']).to.deep.equal({auth: 'a2VlcDpt'})
  })

  it('Ctrl-C while waiting for a busy lock ends the wait at once and leaves nothing behind', async () => {
    const dockerConfig = prefilled()
    const holder = startLogin(registries[0].host, dockerConfig, {REGSHAPE_TEST_SAVE_PAUSE_MS: '4000'})
    await waitFor(() => temporariesOf(dockerConfig, holder.pid).length > 0, 15_000)
    const waiter = startLogin(registries[1].host, dockerConfig)
    // The waiter's half-built lock directory shows it is waiting.
    await waitFor(() => readdirSync(dockerConfig).some((name) => name.startsWith(`config.json.lock.${waiter.pid}.`)), 15_000)
    const interruptedAt = Date.now()
    process.kill(waiter.pid, 'SIGINT')
    const waited = await waiter.done
    expect(waited.signal).to.equal('SIGINT')
    expect(Date.now() - interruptedAt).to.be.lessThan(1500)
    expect(readdirSync(dockerConfig).filter((name) => name.includes(String(waiter.pid)))).to.deep.equal([])
    expect((await holder.done).code).to.equal(0)
    const data = expectHealthyConfig(dockerConfig)
    expect(Object.keys(data.auths).sort()).to.deep.equal(['keep.example.com', registries[0].host].sort())
  })

  it('a regular file at config.json.lock fails at once, naming it', async () => {
    const dockerConfig = prefilled()
    writeFileSync(join(dockerConfig, 'config.json.lock'), '')
    const started = Date.now()
    const result = await runCli(['auth', 'logout', '-r', 'keep.example.com'], {env: {DOCKER_CONFIG: dockerConfig}})
    // Startup of the CLI included; a lock waited for would take about 30 s.
    expect(Date.now() - started).to.be.lessThan(3000)
    expect(result.code).to.equal(1)
    const config = join(dockerConfig, 'config.json')
    expect(result.stderr).to.equal(`Error: Could not remove credentials: Docker config ${config} cannot be locked: ${config}.lock is in the way (it is not a directory); remove it\n`)
    expect(JSON.parse(readFileSync(config, 'utf8')).auths).to.have.property('keep.example.com')
  })

  it('a read-only config directory, as an unprivileged user, fails at once with "permission denied"', () => {
    const dockerConfig = prefilled()
    chownSync(dockerConfig, 65_534, 65_534)
    chownSync(join(dockerConfig, 'config.json'), 65_534, 65_534)
    chmodSync(dockerConfig, 0o500)
    const home = tempHome()
    chownSync(home, 65_534, 65_534)
    const started = Date.now()
    const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, RUN_JS, 'auth', 'logout', '-r', 'keep.example.com'], {
      encoding: 'utf8',
      env: {DOCKER_CONFIG: dockerConfig, HOME: home, PATH: process.env.PATH},
      timeout: 60_000,
    })
    expect(Date.now() - started).to.be.lessThan(3000)
    expect(result.status, result.stderr).to.equal(1)
    const config = join(dockerConfig, 'config.json')
    expect(result.stderr).to.equal(`Error: Could not remove credentials: Docker config ${config} cannot be locked (${config}.lock): permission denied\n`)
    expect(JSON.parse(readFileSync(config, 'utf8')).auths).to.have.property('keep.example.com')
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
