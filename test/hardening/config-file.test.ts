import {expect} from 'chai'
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {LockError, acquireLock} from '../../src/util/lock.js'
import {CredentialStore} from '../../src/credentials/credential-store.js'
import {DockerConfigFile, MAX_CONFIG_BYTES, encodeAuth} from '../../src/credentials/docker-config.js'
import {parseRegistry} from '../../src/reference/registry.js'
import {basicRegistry, passHelper, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'

const {alice} = USERS

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'regshape-cfgfile-'))
}

function configText(text: string): {directory: string; path: string} {
  const directory = tempDir()
  const path = join(directory, 'config.json')
  writeFileSync(path, text, {mode: 0o600})
  return {directory, path}
}

/** A failure must be one line on stderr, exit 1, no stack trace. */
function expectOneLineFailure(result: CliResult, ...parts: string[]): void {
  expect(result.code, result.stderr).to.equal(1)
  expect(result.stderr.trimEnd().split('\n'), result.stderr).to.have.length(1)
  for (const part of parts) expect(result.stderr).to.include(part)
  expectNoStackTrace(result)
}

function login(registry: string, dockerConfig: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(['auth', 'login', '-r', registry, '-u', alice.username, '--password-stdin', '--docker-config', dockerConfig], {
    env,
    stdin: alice.password,
    timeoutMs: 20_000,
  })
}

describe('hardening: config.json that is not a regular file', function () {
  this.timeout(120_000)

  it('a FIFO is refused at once by login, logout and status, and stays a FIFO', async () => {
    const registry = await basicRegistry()
    const fifo = join(tempDir(), 'config.json')
    execFileSync('mkfifo', [fifo])
    // Without a writer, reading a FIFO would wait forever; the CLI must answer within its timeout.
    for (const result of [
      await login(registry.host, fifo),
      await runCli(['auth', 'logout', '-r', registry.host, '--docker-config', fifo], {timeoutMs: 10_000}),
      await runCli(['auth', 'status', '--docker-config', fifo], {timeoutMs: 10_000}),
    ]) {
      expectOneLineFailure(result, `Docker config ${fifo} is a FIFO, not a regular file`)
    }

    expect(lstatSync(fifo).isFIFO()).to.equal(true)
  })

  it('character devices (a /dev/zero and a /dev/null of our own) are neither read without bound nor replaced', async () => {
    const registry = await basicRegistry()
    const directory = tempDir()
    // Our own device nodes, so a failure can never replace the machine's /dev/null.
    const zero = join(directory, 'zero')
    const devNull = join(directory, 'null')
    execFileSync('mknod', ['-m', '666', zero, 'c', '1', '5'])
    execFileSync('mknod', ['-m', '666', devNull, 'c', '1', '3'])
    for (const device of [zero, devNull]) {
      const result = await login(registry.host, device)
      expectOneLineFailure(result, `Docker config ${device} is a character device, not a regular file`)
      expectNoSecrets(result, [alice.password])
      expect(lstatSync(device).isCharacterDevice(), device).to.equal(true)
    }
  })

  it('the real /dev/null is refused by logout and status too (nothing to write there)', async () => {
    for (const args of [
      ['auth', 'logout', '-r', 'registry.example.com', '--docker-config', '/dev/null'],
      ['auth', 'status', '--docker-config', '/dev/null'],
    ]) {
      expectOneLineFailure(await runCli(args, {timeoutMs: 10_000}), 'Docker config /dev/null is a character device, not a regular file')
    }

    expect(lstatSync('/dev/null').isCharacterDevice()).to.equal(true)
  })

  it(`a config larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB is refused with one line and left alone`, async () => {
    const registry = await basicRegistry()
    // Valid JSON, so only the size can be the reason.
    const {path} = configText(JSON.stringify({auths: {}, padding: 'x'.repeat(MAX_CONFIG_BYTES)}))
    const before = statSync(path)
    const result = await login(registry.host, path)
    expectOneLineFailure(result, `Docker config ${path} is larger than 8 MiB; regshape will not read it`)
    const after = statSync(path)
    expect([after.ino, after.size, after.mtimeMs]).to.deep.equal([before.ino, before.size, before.mtimeMs])
  })

  it('a symlink to a regular file is fine', async () => {
    const registry = await basicRegistry()
    const directory = tempDir()
    writeFileSync(join(directory, 'real.json'), '{}')
    execFileSync('ln', ['-s', 'real.json', join(directory, 'config.json')])
    const result = await login(registry.host, join(directory, 'config.json'))
    expect(result.code, result.stderr).to.equal(0)
    expect(lstatSync(join(directory, 'config.json')).isSymbolicLink()).to.equal(true)
    expect(JSON.parse(readFileSync(join(directory, 'real.json'), 'utf8')).auths).to.have.property(registry.host)
  })
})

describe("hardening: containers' auth.json that is not a regular file, or too large", function () {
  this.timeout(60_000)

  /** `auth status` reads every credential source, containers' auth.json last; Docker's config is empty. */
  function statusWith(authFile: string): Promise<CliResult> {
    return runCli(['auth', 'status'], {env: {DOCKER_CONFIG: configText('{}').directory, REGISTRY_AUTH_FILE: authFile}, timeoutMs: 15_000})
  }

  it('a FIFO is refused at once, never waited on, and stays a FIFO', async () => {
    const fifo = join(tempDir(), 'auth.json')
    execFileSync('mkfifo', [fifo])
    // Without a writer, opening a FIFO to read it waits for ever: the CLI must answer within its timeout.
    expectOneLineFailure(await statusWith(fifo), `the containers auth file ${fifo} is a FIFO, not a regular file; regshape will not read it`)
    expect(lstatSync(fifo).isFIFO()).to.equal(true)
  })

  it('a character device (our own /dev/zero) is not read without end; a directory is named as one', async () => {
    const directory = tempDir()
    const zero = join(directory, 'zero')
    execFileSync('mknod', ['-m', '666', zero, 'c', '1', '5'])
    expectOneLineFailure(await statusWith(zero), `the containers auth file ${zero} is a character device, not a regular file; regshape will not read it`)
    expectOneLineFailure(await statusWith(directory), `the containers auth file ${directory} is a directory, not a file`)
  })

  it(`a file larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB is refused with one line, as config.json is`, async () => {
    // Valid JSON, so only the size can be the reason.
    const {path} = configText(JSON.stringify({auths: {}, padding: 'x'.repeat(MAX_CONFIG_BYTES)}))
    expectOneLineFailure(await statusWith(path), `the containers auth file ${path} is larger than 8 MiB; regshape will not read it`)
  })
})

describe('hardening: config.json syntax errors never quote the file', () => {
  // The broken part is the secret itself (a password pasted without quotes), the worst case.
  const SECRET = 'hunter2-Zq9xSecret'
  const broken = `{\n\t"auths": {\n\t\t"registry.example.com": {\n\t\t\t"auth": "${encodeAuth('alice', 'other-secret')}",\n\t\t\t"password": ${SECRET}\n\t\t}\n\t}\n}`

  for (const args of [
    ['auth', 'logout', '-r', 'registry.example.com'],
    ['auth', 'status'],
    ['auth', 'status', '-r', 'registry.example.com'],
  ]) {
    it(`regshape ${args.join(' ')} names line and column only, and leaves the file untouched`, async () => {
      const {path} = configText(broken)
      const result = await runCli([...args, '--docker-config', path])
      expectOneLineFailure(result, `Docker config ${path} is not valid JSON (unexpected character at line 5, column 16)`)
      expectNoSecrets(result, [SECRET, 'hunter2', 'other-secret', encodeAuth('alice', 'other-secret')])
      expect(readFileSync(path, 'utf8')).to.equal(broken)
    })
  }
})

describe('hardening: config.json as Docker\'s decoder reads it (repeats and nulls)', function () {
  this.timeout(60_000)

  it('two "auths" objects merge and null sections read as empty: status lists what docker sees, a login keeps it all', async () => {
    const registry = await basicRegistry()
    const text = `{
	"auths": {"first.example.com": {"auth": "${encodeAuth('f', 'first-pw')}"}, "twice.example.com": {"auth": "${encodeAuth('old', 'old-pw')}"}},
	"credHelpers": null,
	"psFormat": "table",
	"auths": {"second.example.com": {"auth": "${encodeAuth('s', 'second-pw')}"}, "twice.example.com": {"auth": "${encodeAuth('new', 'new-pw')}"}},
	"credsStore": null
}`
    const {path} = configText(text)
    const status = await runCli(['--json', 'auth', 'status', '--docker-config', path])
    expect(status.code, status.stderr).to.equal(0)
    const rows = JSON.parse(status.stdout).entries.map((entry: any) => [entry.key, entry.username])
    expect(rows).to.deep.equal([
      ['first.example.com', 'f'],
      ['second.example.com', 's'],
      ['twice.example.com', 'new'],
    ])

    const result = await login(registry.host, path)
    expect(result.code, result.stderr).to.equal(0)
    const written = JSON.parse(readFileSync(path, 'utf8'))
    expect(Object.keys(written.auths)).to.deep.equal(['first.example.com', 'twice.example.com', 'second.example.com', registry.host])
    expect(Buffer.from(written.auths['twice.example.com'].auth, 'base64').toString()).to.equal('new:new-pw')
    expect(written.credHelpers).to.deep.equal({})
    expect(written.psFormat).to.equal('table')

    const logout = await runCli(['auth', 'logout', '-r', 'first.example.com', '--docker-config', path])
    expect(logout.code, logout.stderr).to.equal(0)
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).auths)).to.deep.equal(['twice.example.com', 'second.example.com', registry.host])
  })

  it('"auths": null then an object: the null empties what came before, as in Go', async () => {
    const {path} = configText(`{"auths": {"gone.example.com": {"auth": "${encodeAuth('g', 'g')}"}}, "auths": null, "auths": {"kept.example.com": {}}}`)
    const {data} = await new DockerConfigFile(path).load()
    expect(Object.keys(data.auths ?? {})).to.deep.equal(['kept.example.com'])
  })

  it('keys match docker\'s fields case-insensitively, as Go matches them: "Auths" and "auths" are one section', async () => {
    const registry = await basicRegistry()
    const {path} = configText(`{"Auths": {"upper.example.com": {"auth": "${encodeAuth('u', 'upper-pw')}"}}, "auths": {"lower.example.com": {"auth": "${encodeAuth('l', 'lower-pw')}"}}, "CREDHELPERS": {"${registry.host}": ""}, "CredsStore": "nonexistent"}`)
    const status = await runCli(['--json', 'auth', 'status', '--docker-config', path])
    expect(status.code, status.stderr).to.equal(0)
    // '*' is the CredsStore helper that could not be asked: it is read as credsStore too.
    expect(JSON.parse(status.stdout).entries.map((entry: any) => entry.key)).to.deep.equal(['*', 'lower.example.com', 'upper.example.com'])
    // credHelpers[host] = "" (spelled CREDHELPERS) keeps this registry out of the CredsStore helper.
    const result = await login(registry.host, path)
    expect(result.code, result.stderr).to.equal(0)
    const written = JSON.parse(readFileSync(path, 'utf8'))
    expect(Object.keys(written)).to.deep.equal(['auths', 'credHelpers', 'credsStore'])
    expect(Object.keys(written.auths)).to.deep.equal(['upper.example.com', 'lower.example.com', registry.host])
  })

  it('an entry\'s fields match case-insensitively too: "Auth" is read, and a login replaces it', async () => {
    const {path} = configText(`{"auths": {"r.example.com": {"Auth": "${encodeAuth('old', 'old-pw')}", "Email": "e@x", "custom": 1}}}`)
    const store = new CredentialStore(new DockerConfigFile(path))
    expect((await store.get(parseRegistry('r.example.com'))).credentials).to.deep.equal({password: 'old-pw', username: 'old'})
    await store.store(parseRegistry('r.example.com'), {password: 'new-pw', username: 'new'})
    expect(JSON.parse(readFileSync(path, 'utf8')).auths['r.example.com']).to.deep.equal({auth: encodeAuth('new', 'new-pw'), custom: 1})
  })

  it('"credsStore": null leaves an earlier credsStore in force; a null credHelpers value is docker\'s ""', async () => {
    const {path} = configText('{"credsStore": "pass", "credsStore": null, "credHelpers": {"r.example.com": null}, "auths": {"r.example.com": null}}')
    const {data} = await new DockerConfigFile(path).load()
    expect(data.credsStore).to.equal('pass')
    expect(data.credHelpers).to.deep.equal({'r.example.com': ''})
    expect(data.auths).to.deep.equal({'r.example.com': {}})
  })
})

describe('hardening: credHelpers[R] = "" keeps R in the file (docker\'s opt-out)', function () {
  this.timeout(120_000)

  it('with the real docker-credential-pass as credsStore, a login lands in auths and pass is untouched', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const before = await pass.list()
    const {directory, path} = configText(JSON.stringify({credHelpers: {[registry.host]: ''}, credsStore: 'pass'}))
    const result = await runCli(['auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin'], {
      env: {DOCKER_CONFIG: directory, ...pass.env},
      stdin: alice.password,
    })
    expect(result.code, result.stderr).to.equal(0)
    const written = JSON.parse(readFileSync(path, 'utf8'))
    expect(Buffer.from(written.auths[registry.host].auth, 'base64').toString()).to.equal(`alice:${alice.password}`)
    expect(await pass.list()).to.deep.equal(before)

    const status = await runCli(['--json', 'auth', 'status', '-r', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
    expect(status.code, status.stderr).to.equal(0)
    expect(JSON.parse(status.stdout)).to.deep.include({source: {key: registry.host, kind: 'file', path}, username: 'alice'})

    const listed = await runCli(['--json', 'auth', 'status'], {env: {DOCKER_CONFIG: directory, ...pass.env}})
    expect(listed.code, listed.stderr).to.equal(0)
    const row = JSON.parse(listed.stdout).entries.find((entry: any) => entry.key === registry.host)
    expect(row).to.deep.include({in_use: true})
    expect(row.store.kind).to.equal('file')

    const logout = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: directory, ...pass.env}})
    expect(logout.code, logout.stderr).to.equal(0)
    expect(JSON.parse(readFileSync(path, 'utf8')).auths).to.deep.equal({})
    expect(await pass.list()).to.deep.equal(before)
  })
})

describe('hardening: registry names that are Object.prototype property names', () => {
  const NAMES = ['constructor', 'toString:5000', 'hasOwnProperty', 'valueOf', '__proto__']
  const auths = Object.fromEntries(NAMES.map((name, index) => [name, {auth: encodeAuth(`user${index}`, `pw-${index}`)}]))
  // JSON.stringify writes `__proto__` as the plain key it is here (Object.fromEntries defines it).
  const text = JSON.stringify({auths, credHelpers: {'helped.example.com': 'nonexistent'}, ['__proto__']: {kept: true}}, null, '\t')

  it('status lists each as an ordinary entry from the file', async () => {
    const {path} = configText(text)
    const result = await runCli(['--json', 'auth', 'status', '--docker-config', path])
    expect(result.code, result.stderr).to.equal(0)
    const rows = JSON.parse(result.stdout).entries.map((entry: any) => [entry.key, entry.store.kind, entry.username])
    expect(rows).to.deep.include.members([
      ['constructor', 'file', 'user0'],
      ['toString:5000', 'file', 'user1'],
      ['hasOwnProperty', 'file', 'user2'],
      ['valueOf', 'file', 'user3'],
    ])
    for (const name of ['constructor', 'toString:5000', 'hasOwnProperty']) {
      const one = await runCli(['--json', 'auth', 'status', '-r', name, '--docker-config', path])
      expect(one.code, one.stderr).to.equal(0)
      expect(JSON.parse(one.stdout).source).to.deep.equal({key: name, kind: 'file', path})
    }
  })

  it('logout erases exactly that entry and keeps the rest, __proto__ keys included', async () => {
    const {path} = configText(text)
    for (const name of ['constructor', 'toString:5000', 'hasOwnProperty']) {
      const result = await runCli(['auth', 'logout', '-r', name, '--docker-config', path])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`Removing login credentials for ${name}.\n`)
    }

    const left = readFileSync(path, 'utf8')
    const data = JSON.parse(left)
    expect(Object.keys(data.auths)).to.deep.equal(['valueOf', '__proto__'])
    expect(Object.keys(data)).to.deep.equal(['auths', 'credHelpers', '__proto__'])
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).to.deep.equal({kept: true})
  })

  it('login stores under such a name in the file, and under __proto__ in a config that has one', async () => {
    const {path} = configText(text)
    const store = new CredentialStore(new DockerConfigFile(path))
    for (const name of ['constructor', 'toString:5000']) {
      const location = await store.store(parseRegistry(name), {password: `new-${name}`, username: 'zed'})
      expect(location).to.deep.equal({kind: 'file', path})
      const found = await store.get(parseRegistry(name))
      expect(found.credentials).to.deep.equal({password: `new-${name}`, username: 'zed'})
    }

    const data = JSON.parse(readFileSync(path, 'utf8'))
    expect(Object.keys(data.auths)).to.deep.equal(NAMES)
    expect(Object.getOwnPropertyDescriptor(data.auths, '__proto__')?.value).to.deep.equal(Object.getOwnPropertyDescriptor(auths, '__proto__')?.value)
  })
})

describe('hardening: config.json.lock owners', function () {
  this.timeout(30_000)

  /** An owner file as regshape writes it, for a process of our choosing. */
  function lockOwnedBy(pid: number, host = hostname()): string {
    const lockPath = join(tempDir(), 'config.json.lock')
    mkdirSync(lockPath)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    writeFileSync(join(lockPath, 'owner'), JSON.stringify({host, nonce: 'someone-else', pid, start}))
    return lockPath
  }

  it('a stopped owner keeps its lock for as long as it lives; once it has exited, the lock is taken at once', async () => {
    const owner = spawn('sleep', ['60'], {stdio: 'ignore'})
    try {
      const lockPath = lockOwnedBy(owner.pid as number)
      owner.kill('SIGSTOP')
      const started = Date.now()
      // Polled by the wait: give up after 4 s, longer than any mtime-based stale threshold.
      const waited = await acquireLock(lockPath, () => Date.now() - started > 4000).then(
        () => 'acquired',
        (error) => (error instanceof LockError ? error.problem.kind : String(error)),
      )
      expect(waited).to.equal('interrupted')
      expect(JSON.parse(readFileSync(join(lockPath, 'owner'), 'utf8')).nonce).to.equal('someone-else')

      owner.kill('SIGKILL')
      await new Promise((resolvePromise) => owner.once('exit', resolvePromise))
      const taken = Date.now()
      const lock = await acquireLock(lockPath)
      expect(Date.now() - taken).to.be.lessThan(1000)
      expect(await lock.stillHeld()).to.equal(true)
      await lock.release()
      expect(existsSync(lockPath)).to.equal(false)
      expect(readdirSync(join(lockPath, '..'))).to.deep.equal([])
    } finally {
      owner.kill('SIGKILL')
    }
  })

  it('a fresh lock from another host is waited for, not judged by a pid that means nothing here', async () => {
    const lockPath = lockOwnedBy(process.pid, 'some-other-host')
    const started = Date.now()
    const waited = await acquireLock(lockPath, () => Date.now() - started > 1500).catch((error) => error)
    expect(waited).to.be.instanceOf(LockError)
    expect(waited.problem.kind).to.equal('interrupted')
  })
})
