import {expect} from 'chai'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {basicRegistry, basicTlsRegistry, openRegistry, tokenRegistry, tokenTlsRegistry, USERS} from '../fixtures/servers.js'
import {freePort} from '../fixtures/ports.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, RUN_JS, runCli, tempHome} from '../helpers/cli.js'
import {runOnPty, runShellOnPty} from '../helpers/pty.js'

const {alice, bob, reader} = USERS
const LOGIN_SUCCEEDED = 'Login succeeded.\n'
const PASSWORD_WARNING = 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n'

function configDir(): string {
  return mkdtempSync(join(tmpdir(), 'regshape-dc-'))
}

function readConfig(directory: string): Record<string, any> {
  return JSON.parse(readFileSync(join(directory, 'config.json'), 'utf8'))
}

function decodeAuth(entry: {auth: string}): string {
  return Buffer.from(entry.auth, 'base64').toString('utf8')
}

/** Secrets of one run in all the forms a leak could take, the stored base64 pair included. */
function secretsOf(username: string, password: string): string[] {
  return [password, Buffer.from(`${username}:${password}`).toString('base64')]
}

function expectLoginSucceeded(result: CliResult): void {
  expect(result.stderr, 'stderr').not.to.match(/^Error/m)
  expect(result.code, result.stderr).to.equal(0)
  expect(result.stdout).to.equal(LOGIN_SUCCEEDED)
  expectNoStackTrace(result)
}

/** A directory with a `regshape` executable, so examples run exactly as the spec writes them. */
function binDirWithRegshape(): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-bin-'))
  writeFileSync(join(directory, 'regshape'), `#!/bin/sh\nexec "${process.execPath}" "${RUN_JS}" "$@"\n`, {mode: 0o755})
  return directory
}

describe('regshape auth login', () => {
  describe('the specification\'s examples, verbatim', () => {
    it('regshape auth login -r <registry> prompts for username and a hidden password on a terminal', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runOnPty(
        ['auth', 'login', '-r', registry.host],
        [
          {expect: `Username for ${registry.host}:`, send: `${alice.username}\r`},
          {expect: `Password for ${registry.host}:`, send: `${alice.password}\r`},
        ],
        {DOCKER_CONFIG: dockerConfig, HOME: tempHome()},
      )
      expect(result.failure).to.equal(null)
      expect(result.code, result.transcript).to.equal(0)
      expect(result.transcript).to.include('Login succeeded.')
      expect(result.transcript, 'the password is echoed').not.to.include(alice.password)
      expect(result.transcript).not.to.include('WARNING')
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`${alice.username}:${alice.password}`)
    })

    it('offers the username already stored for the registry, as docker does: Enter takes it', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      mkdirSync(dockerConfig, {recursive: true})
      writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({auths: {[registry.host]: {auth: Buffer.from(`${alice.username}:an-old-password`).toString('base64')}}}))
      const result = await runOnPty(
        ['auth', 'login', '-r', registry.host],
        [
          {expect: `Username for ${registry.host} (${alice.username}):`, send: '\r'},
          {expect: `Password for ${registry.host}:`, send: `${alice.password}\r`},
        ],
        {DOCKER_CONFIG: dockerConfig, HOME: tempHome()},
      )
      expect(result.failure, result.transcript).to.equal(null)
      expect(result.code, result.transcript).to.equal(0)
      expect(result.transcript).not.to.include('an-old-password')
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`${alice.username}:${alice.password}`)
    })

    it('regshape auth login -r <registry> -u alice -p s3cr3t', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '-p', 's3cr3t'], {env: {DOCKER_CONFIG: dockerConfig}})
      expectLoginSucceeded(result)
      expect(result.stderr).to.equal(PASSWORD_WARNING)
      expectNoSecrets(result, secretsOf('alice', 's3cr3t'))
      expect(readConfig(dockerConfig)).to.deep.equal({auths: {[registry.host]: {auth: Buffer.from('alice:s3cr3t').toString('base64')}}})
    })

    it('echo "$MY_TOKEN" | regshape auth login -r <registry> -u alice --password-stdin', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const bin = binDirWithRegshape()
      const {spawn} = await import('node:child_process')
      const result = await new Promise<CliResult>((resolvePromise) => {
        const child = spawn('sh', ['-c', `echo "$MY_TOKEN" | regshape auth login -r ${registry.host} -u alice --password-stdin`], {
          detached: true,
          env: {DOCKER_CONFIG: dockerConfig, HOME: tempHome(), MY_TOKEN: alice.password, PATH: `${bin}:${process.env.PATH}`},
        })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (chunk) => (stdout += chunk))
        child.stderr.on('data', (chunk) => (stderr += chunk))
        child.on('close', (code, signal) => resolvePromise({code, signal, stderr, stdout}))
      })
      expectLoginSucceeded(result)
      expect(result.stderr).to.equal('')
      expectNoSecrets(result, secretsOf('alice', alice.password))
      // echo's newline was stripped: the stored password is exactly the token.
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`alice:${alice.password}`)
    })

    it('regshape --json auth login -r <registry> -u alice -p s3cr3t', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['--json', 'auth', 'login', '-r', registry.host, '-u', 'alice', '-p', 's3cr3t'], {env: {DOCKER_CONFIG: configDir()}})
      expect(result.code).to.equal(0)
      expect(result.stdout).to.equal(`{"status": "success", "registry": "${registry.host}"}\n`)
      expect(JSON.parse(result.stdout)).to.deep.equal({registry: registry.host, status: 'success'})
      expect(result.stderr).to.equal(PASSWORD_WARNING)
      expectNoSecrets(result, secretsOf('alice', 's3cr3t'))
    })

    it('regshape auth login -r <registry> --time-scenarios --debug-calls (prompting on a terminal)', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runOnPty(
        ['auth', 'login', '-r', registry.host, '--time-scenarios', '--debug-calls'],
        [
          {expect: 'Username for', send: `${bob.username}\r`},
          {expect: 'Password for', send: `${bob.password}\r`},
        ],
        {DOCKER_CONFIG: dockerConfig, HOME: tempHome()},
      )
      expect(result.code, result.transcript).to.equal(0)
      expect(result.transcript).to.include('Login succeeded.')
      expect(result.transcript).not.to.include(bob.password)
      expect(result.transcript).not.to.include(Buffer.from(`bob:${bob.password}`).toString('base64'))
    })
  })

  describe('Basic registry (htpasswd)', () => {
    it('rejects a wrong password with the spec\'s message and exit 1, storing nothing', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: 'not-the-password\n',
      })
      expect(result.code).to.equal(1)
      expect(result.stdout).to.equal('')
      expect(result.stderr).to.equal(`Error: Login failed for ${registry.host}: authentication rejected\n`)
      expectNoSecrets(result, secretsOf('alice', 'not-the-password'))
      expect(() => statSync(join(dockerConfig, 'config.json'))).to.throw(/ENOENT/)
    })

    it('reports a wrong password as JSON under --json', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['--json', 'auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'wrong-password',
      })
      expect(result.code).to.equal(1)
      expect(result.stdout).to.equal(
        `{"status": "error", "registry": "${registry.host}", "error": "Login failed for ${registry.host}: authentication rejected"}\n`,
      )
      expect(result.stderr).to.equal('')
    })

    it('stores a password with a colon, spaces, quotes and UTF-8 exactly (from stdin, CRLF stripped)', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', bob.username, '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: `${bob.password}\r\n`,
      })
      expectLoginSucceeded(result)
      expectNoSecrets(result, secretsOf(bob.username, bob.password))
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`bob:${bob.password}`)
    })

    it('accepts the same password through -p as one argument', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', bob.username, '-p', bob.password], {env: {DOCKER_CONFIG: configDir()}})
      expectLoginSucceeded(result)
      expectNoSecrets(result, secretsOf(bob.username, bob.password))
    })

    it('keeps every byte of the password but one line ending: a trailing space matters', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: `${alice.password} \n`,
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.include('authentication rejected')
    })

    it('accepts the global flags after the command too', async () => {
      const registry = await basicRegistry()
      const dockerConfig = join(configDir(), 'custom.json')
      const result = await runCli(['auth', 'login', '-r', registry.host, '--json', '--docker-config', dockerConfig, '-u', 'alice', '--password-stdin'], {
        stdin: alice.password,
      })
      expect(result.code, result.stdout + result.stderr).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal({registry: registry.host, status: 'success'})
      expect(JSON.parse(readFileSync(dockerConfig, 'utf8')).auths[registry.host].auth).to.equal(Buffer.from(`alice:${alice.password}`).toString('base64'))
    })
  })

  describe('Bearer registry (token server)', () => {
    it('logs in through the token server, sending the password only to the realm', async () => {
      const registry = await tokenRegistry()
      const dockerConfig = configDir()
      const before = registry.tokenServer.requests.length
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: `${alice.password}\n`,
      })
      expectLoginSucceeded(result)
      expectNoSecrets(result, [...secretsOf('alice', alice.password), ...registry.tokenServer.issuedTokens])
      const tokenRequests = registry.tokenServer.requests.slice(before)
      expect(tokenRequests).to.have.length(1)
      expect(tokenRequests[0]).to.include({authorization: 'basic', method: 'GET', status: 200, user: 'alice'})
      expect(tokenRequests[0].query.account).to.deep.equal(['alice'])
      expect(tokenRequests[0].query.service).to.deep.equal([registry.tokenServer.service])
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`alice:${alice.password}`)
    })

    it('rejects a wrong password (the token server says 401)', async () => {
      const registry = await tokenRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: 'wrong-password\n',
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: Login failed for ${registry.host}: authentication rejected\n`)
      expect(result.stdout).to.equal('')
      expectNoSecrets(result, secretsOf('alice', 'wrong-password'))
      expect(() => statSync(join(dockerConfig, 'config.json'))).to.throw(/ENOENT/)
    })

    it('handles the special-character password through the token server', async () => {
      const registry = await tokenRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', bob.username, '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: bob.password,
      })
      expectLoginSucceeded(result)
      expectNoSecrets(result, [...secretsOf(bob.username, bob.password), ...registry.tokenServer.issuedTokens])
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`bob:${bob.password}`)
    })

    it('logs in a read-only user: login checks the credentials, not push rights', async () => {
      const registry = await tokenRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', reader.username, '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: reader.password,
      })
      expectLoginSucceeded(result)
    })
  })

  describe('TLS', () => {
    it('fails with a readable certificate error when the CA is not trusted', async () => {
      const registry = await basicTlsRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig, NODE_EXTRA_CA_CERTS: undefined},
        stdin: alice.password,
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.match(new RegExp(`^Error: Login failed for ${registry.host}: TLS: .*certificate.* \\(use --ca-file .*\\)\\n$`))
      expectNoStackTrace(result)
      expectNoSecrets(result, secretsOf('alice', alice.password))
      expect(() => statSync(join(dockerConfig, 'config.json'))).to.throw(/ENOENT/)
    })

    it('succeeds with --ca-file on Basic', async () => {
      const registry = await basicTlsRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: alice.password,
      })
      expectLoginSucceeded(result)
    })

    it('succeeds with --ca-file on Bearer, the token server on HTTPS too', async () => {
      const registry = await tokenTlsRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '-u', bob.username, '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: bob.password,
      })
      expectLoginSucceeded(result)
      expectNoSecrets(result, [...secretsOf(bob.username, bob.password), ...registry.tokenServer.issuedTokens])
    })

    it('succeeds with --insecure without the CA', async () => {
      const registry = await tokenTlsRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--insecure', '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: alice.password,
      })
      expectLoginSucceeded(result)
    })

    it('rejects a wrong password over TLS', async () => {
      const registry = await basicTlsRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'wrong-password',
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: Login failed for ${registry.host}: authentication rejected\n`)
    })

    it('reports an unreadable --ca-file in one line', async () => {
      const registry = await basicTlsRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--ca-file', '/nonexistent/ca.pem', '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: alice.password,
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal('Error: cannot read --ca-file /nonexistent/ca.pem: ENOENT\n')
    })
  })

  describe('unreachable and unusual registries', () => {
    it('prints the connection error and exits 1', async () => {
      const port = await freePort()
      const result = await runCli(['auth', 'login', '-r', `127.0.0.1:${port}`, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'some-password',
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: Login failed for 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`)
      expectNoSecrets(result, ['some-password'])
    })

    it('reports an unresolvable host', async () => {
      const result = await runCli(['--json', 'auth', 'login', '-r', 'registry.invalid', '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'some-password',
      })
      expect(result.code).to.equal(1)
      const output = JSON.parse(result.stdout)
      expect(output).to.include({registry: 'registry.invalid', status: 'error'})
      expect(output.error).to.match(/^Login failed for registry.invalid: getaddrinfo (ENOTFOUND|EAI_AGAIN) registry.invalid$/)
    })

    it('stores but warns when the registry never asks for credentials', async () => {
      const registry = await openRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: 'anything-goes',
      })
      expect(result.code).to.equal(0)
      expect(result.stdout).to.equal(LOGIN_SUCCEEDED)
      expect(result.stderr).to.equal(
        `WARNING! ${registry.host} did not ask for credentials, so they could not be verified. They were stored anyway.\n`,
      )
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal('alice:anything-goes')
    })

    it('says "verified": false under --json when the registry never asks', async () => {
      const registry = await openRegistry()
      const result = await runCli(['--json', 'auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'anything-goes',
      })
      expect(result.code).to.equal(0)
      expect(result.stdout).to.equal(`{"status": "success", "registry": "${registry.host}", "verified": false}\n`)
      expect(result.stderr).to.include('did not ask for credentials')
    })
  })

  describe('a scheme written in the registry name', () => {
    it('http:// talks plain HTTP at once to a loopback registry, and the key stays the bare host', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runCli(['--json', 'auth', 'login', '-r', `http://${registry.host}`, '-u', 'alice', '--password-stdin', '--debug-calls'], {
        env: {DOCKER_CONFIG: dockerConfig},
        stdin: alice.password,
      })
      expect(result.code, result.stderr).to.equal(0)
      const calls = result.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
      // No HTTPS probe first: exactly the two requests of a Basic login.
      expect(calls.map((call) => `${call.method} ${call.url} ${call.status}`)).to.deep.equal([
        `GET http://${registry.host}/v2/ 401`,
        `GET http://${registry.host}/v2/ 200`,
      ])
      expect(Object.keys(readConfig(dockerConfig).auths)).to.deep.equal([registry.host])
    })

    it('https:// never falls back to plain HTTP', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', `https://${registry.host}`, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: configDir()}, stdin: alice.password})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(`Error: Login failed for https://${registry.host}: ${registry.host} does not speak TLS (EPROTO)\n`)
    })

    it('http:// to a registry elsewhere needs --insecure', async () => {
      const result = await runCli(['auth', 'login', '-r', 'http://registry.example.com', '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: configDir()}, stdin: 'pw-secret'})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal('Error: plain HTTP to registry.example.com needs --insecure: credentials would cross the network unencrypted\n')
    })
  })

  describe('input', () => {
    it('refuses --password together with --password-stdin (exit 2), without echoing the password', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '-p', 'hunter2-secret', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'x',
      })
      expect(result.code).to.equal(2)
      expect(result.stderr).to.equal(`${PASSWORD_WARNING}Error: --password and --password-stdin cannot be used together\n`)
      expectNoSecrets(result, ['hunter2-secret'])
    })

    it('fails at once, without hanging, when a password is needed and there is no terminal', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice'], {env: {DOCKER_CONFIG: configDir()}, timeoutMs: 10_000})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal(
        'Error: cannot prompt for credentials: standard input is not a terminal (pass --username with --password-stdin)\n',
      )
    })

    it('fails at once when --password-stdin has no username and there is no terminal', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: 'pw',
        timeoutMs: 10_000,
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal('Error: --password-stdin needs --username when there is no terminal to prompt on\n')
    })

    it('asks for the username on the terminal when the password is piped in', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const pwFile = join(configDir(), 'pw')
      writeFileSync(pwFile, `${alice.password}\n`)
      const result = await runShellOnPty(
        `cat '${pwFile}' | regshape auth login -r ${registry.host} --password-stdin`,
        [{expect: `Username for ${registry.host}:`, send: 'alice\r'}],
        {DOCKER_CONFIG: dockerConfig, HOME: tempHome(), PATH: `${binDirWithRegshape()}:${process.env.PATH}`},
      )
      expect(result.failure).to.equal(null)
      expect(result.code, result.transcript).to.equal(0)
      expect(result.transcript).to.include('Login succeeded.')
      expect(result.transcript).not.to.include(alice.password)
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`alice:${alice.password}`)
    })

    it('reads a password typed on a terminal stdin until Ctrl-D, with a hint', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const result = await runOnPty(
        ['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'],
        [{expect: 'end it with Ctrl-D', send: `${alice.password}\n\u0004`}],
        {DOCKER_CONFIG: dockerConfig, HOME: tempHome()},
      )
      expect(result.failure).to.equal(null)
      expect(result.code, result.transcript).to.equal(0)
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`alice:${alice.password}`)
    })

    it('rejects an empty password from stdin', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: configDir()},
        stdin: '\n',
      })
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal('Error: password is empty\n')
    })

    it('rejects an empty username', async () => {
      const registry = await basicRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', '', '--password-stdin'], {env: {DOCKER_CONFIG: configDir()}, stdin: 'pw'})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.equal('Error: username is empty\n')
    })

    it('requires the registry (exit 2, one line)', async () => {
      const result = await runCli(['auth', 'login', '-u', 'alice', '--password-stdin'], {stdin: 'pw'})
      expect(result.code).to.equal(2)
      expect(result.stderr).to.equal('Error: name the registry: regshape auth login <registry> (or -r <registry>)\n')
    })

    it('never takes piped stdin (the password, with --password-stdin) for the registry argument', async () => {
      for (const args of [['auth', 'login', '-u', 'alice', '--password-stdin'], ['ping'], ['auth', 'logout']]) {
        const result = await runCli(args, {env: {DOCKER_CONFIG: configDir()}, stdin: 'hunter2-secret\n'})
        expect(result.code, result.stderr).to.equal(2)
        expect(result.stderr).to.match(/^Error: name the registry: /)
        expectNoSecrets(result, ['hunter2-secret'])
      }
    })

    it('takes the registry as an argument too, and `regshape login` / `regshape logout` as docker spells them', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const login = await runCli(['login', registry.host, '-u', alice.username, '--password-stdin'], {env: {DOCKER_CONFIG: dockerConfig}, stdin: alice.password})
      expectLoginSucceeded(login)
      expect(decodeAuth(readConfig(dockerConfig).auths[registry.host])).to.equal(`${alice.username}:${alice.password}`)
      const both = await runCli(['auth', 'login', registry.host, '-r', registry.host, '-u', alice.username, '--password-stdin'], {env: {DOCKER_CONFIG: dockerConfig}, stdin: alice.password})
      expect([both.code, both.stderr]).to.deep.equal([2, 'Error: give the registry once: as the argument or with -r, not both\n'])
      const logout = await runCli(['logout', registry.host], {env: {DOCKER_CONFIG: dockerConfig}})
      expect([logout.code, logout.stdout]).to.deep.equal([0, `Removing login credentials for ${registry.host}.\n`])
      const neither = await runCli(['auth', 'logout'], {env: {DOCKER_CONFIG: dockerConfig}})
      expect([neither.code, neither.stderr]).to.deep.equal([2, 'Error: name the registry: regshape auth logout <registry> (or -r <registry>)\n'])
    })

    it('never echoes a misplaced argument, which may be a password', async () => {
      const result = await runCli(['auth', 'login', '-r', 'r.example', '--pasword', 'hunter2-secret'])
      expect(result.code).to.equal(2)
      expect(result.stderr.split('\n')).to.have.length(2)
      expectNoSecrets(result, ['hunter2-secret'])
    })

    for (const [name, message] of [
      ['', 'registry name is empty'],
      ['bad name', 'invalid registry name "bad name": it contains whitespace'],
      ['https://alice:hunter2-secret@registry.example.com', 'invalid registry name: it contains credentials (user:password@); use --username and --password-stdin instead'],
    ]) {
      it(`rejects the registry name ${JSON.stringify(name)} with exit 1`, async () => {
        const result = await runCli(['auth', 'login', '-r', name, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: configDir()}, stdin: 'pw-secret'})
        expect(result.code).to.equal(1)
        expect(result.stderr).to.equal(`Error: ${message}\n`)
        expectNoSecrets(result, ['hunter2-secret', 'pw-secret'])
      })
    }
  })

  describe('the config file', () => {
    it('keeps other entries and unknown keys through login and logout', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const original = {
        HttpHeaders: {'User-Agent': 'x'},
        auths: {'other.example.com': {auth: Buffer.from('carol:pw').toString('base64')}},
        currentContext: 'default',
        experimentalThing: {keep: [1, 2, 3]},
      }
      writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify(original, null, 2))
      const login = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: dockerConfig}, stdin: alice.password})
      expectLoginSucceeded(login)
      expect(readConfig(dockerConfig)).to.deep.equal({
        ...original,
        auths: {...original.auths, [registry.host]: {auth: Buffer.from(`alice:${alice.password}`).toString('base64')}},
      })
      const logout = await runCli(['auth', 'logout', '-r', registry.host], {env: {DOCKER_CONFIG: dockerConfig}})
      expect(logout.code).to.equal(0)
      expect(readConfig(dockerConfig)).to.deep.equal(original)
    })

    it('reports a malformed config.json, sends nothing and leaves the file byte-for-byte', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      const broken = '{"auths": {"x": {"auth": "eDp5"}}, oops}\n'
      const path = join(dockerConfig, 'config.json')
      writeFileSync(path, broken)
      chmodSync(path, 0o640)
      const before = registry.requestLog().length
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: dockerConfig}, stdin: alice.password})
      expect(result.code).to.equal(1)
      expect(result.stderr).to.match(new RegExp(`^Error: Docker config ${path} is not valid JSON \\(.+\\); fix or move it, regshape will not overwrite it\\n$`))
      expect(readFileSync(path, 'utf8')).to.equal(broken)
      expect(statSync(path).mode & 0o777).to.equal(0o640)
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 200))
      expect(registry.requestLog().length, 'requests sent to the registry').to.equal(before)
    })

    it('writes config.json with mode 0600 in a 0700 directory it creates', async () => {
      const registry = await basicRegistry()
      const home = tempHome()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {HOME: home}, stdin: alice.password})
      expectLoginSucceeded(result)
      expect(statSync(join(home, '.docker', 'config.json')).mode & 0o777).to.equal(0o600)
      expect(statSync(join(home, '.docker')).mode & 0o777).to.equal(0o700)
    })

    it('uses --docker-config over $DOCKER_CONFIG', async () => {
      const registry = await basicRegistry()
      const envDir = configDir()
      const flagFile = join(configDir(), 'elsewhere.json')
      const result = await runCli(['auth', 'login', '-r', registry.host, '--docker-config', flagFile, '-u', 'alice', '--password-stdin'], {
        env: {DOCKER_CONFIG: envDir},
        stdin: alice.password,
      })
      expectLoginSucceeded(result)
      expect(JSON.parse(readFileSync(flagFile, 'utf8')).auths).to.have.property(registry.host)
      expect(() => statSync(join(envDir, 'config.json'))).to.throw(/ENOENT/)
    })

    it('replaces an earlier login and a legacy https:// entry stays readable', async () => {
      const registry = await basicRegistry()
      const dockerConfig = configDir()
      mkdirSync(dockerConfig, {recursive: true})
      const legacy = {auth: Buffer.from('legacy:pw').toString('base64')}
      writeFileSync(
        join(dockerConfig, 'config.json'),
        JSON.stringify({auths: {[registry.host]: {auth: Buffer.from('old:pw').toString('base64'), identitytoken: 'stale'}, [`https://${registry.host}`]: legacy}}),
      )
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: dockerConfig}, stdin: alice.password})
      expectLoginSucceeded(result)
      const {auths} = readConfig(dockerConfig)
      expect(auths[registry.host]).to.deep.equal({auth: Buffer.from(`alice:${alice.password}`).toString('base64')})
      // The legacy spelling is another tool's entry: kept as it was, and still listed.
      expect(auths[`https://${registry.host}`]).to.deep.equal(legacy)
      const status = await runCli(['--json', 'auth', 'status'], {env: {DOCKER_CONFIG: dockerConfig}})
      const entries = (JSON.parse(status.stdout) as {entries: Array<{in_use: boolean; key: string; username: string}>}).entries
      const listed = entries.filter((entry) => entry.key === `https://${registry.host}`)
      expect(listed.map((entry) => [entry.in_use, entry.username])).to.deep.equal([[false, 'legacy']])
    })
  })
})
