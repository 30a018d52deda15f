import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {startRegistry} from '../fixtures/registry.js'
import {basicRegistry, passHelper, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, ROOT, RUN_JS, runCli, tempHome} from '../helpers/cli.js'
import {type HostileServer, startHostile} from '../helpers/hostile.js'

/**
 * Credential helpers that misbehave, and output that must stay trustworthy whatever the config
 * file, a helper or a registry puts in it. The helpers are small shell scripts: they stand for
 * hostile or broken helpers (one that echoes its input, a `set -x` trace, a `get` that prints its
 * answer and fails, one that leaves a child behind, one that hangs), which no real helper is.
 */

const bin = mkdtempSync(join(tmpdir(), 'regshape-helpers-'))
const marker = join(bin, 'ran')
const LEAKED = 'leaked-helper-secret-71'
const scripts: Record<string, string> = {
  // Echoes the store payload (the secret inside) and fails.
  echoing: '#!/bin/sh\ncat\nexit 1\n',
  // A shell helper left with `set -x`: its trace on stderr shows the payload it read.
  tracing: '#!/bin/sh\nset -x\ninput=$(cat)\nexit 1\n',
  // `get` prints its answer, then fails anyway.
  'prints-then-fails': `#!/bin/sh\ncat >/dev/null\necho '{"ServerURL":"x","Username":"u","Secret":"${LEAKED}"}'\necho "backend error" >&2\nexit 1\n`,
  // Answers, exits 0, and leaves a background child holding its stdout.
  'leaves-child': `#!/bin/sh\ncat >/dev/null\nsleep 30 &\necho '{"ServerURL":"x","Username":"carol","Secret":"child-secret-9"}'\nexit 0\n`,
  // Never answers.
  hanging: '#!/bin/sh\nexec sleep 60\n',
  // Quotes the secret it was given (JSON-escaped, as it came), without the field name.
  quoting: '#!/bin/sh\ninput=$(cat)\nrest=${input#*\\"Secret\\":\\"}\nprintf \'cannot store %s\\n\' "${rest%\\"*}"\nexit 1\n',
  // Prints its whole input base64-encoded, as a debugging aid might.
  encoding: '#!/bin/sh\nprintf "bad payload %s" "$(base64 -w0)"\nexit 1\n',
  // Fails with terminal escape sequences in its message (CSI colour, OSC title, C1 CSI, CR).
  escaping: "#!/bin/sh\ncat >/dev/null\nprintf '\\033[31mlocked\\033]0;pwned\\007 \\302\\233J\\rforged\\n'\nexit 1\n",
}
for (const [name, script] of Object.entries(scripts)) writeFileSync(join(bin, `docker-credential-${name}`), script, {mode: 0o755})

const PATH = `${bin}:${process.env.PATH}`
const servers: HostileServer[] = []

function configDir(data: unknown): {directory: string; path: string} {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return {directory, path: join(directory, 'config.json')}
}

/** Runs a shell command line (cwd and ulimit are the point) with the built CLI as `$RUN`. */
function runShell(script: string, env: NodeJS.ProcessEnv, cwd = ROOT, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('/bin/sh', ['-c', script], {
      cwd,
      detached: true,
      env: {HOME: tempHome(), LANG: 'C.UTF-8', PATH, NODE: process.execPath, RUN: RUN_JS, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL')
      reject(new Error(`${script} did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({code, signal, stderr, stdout})
    })
  })
}

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/

/** Nothing a terminal would obey: no ESC, CR or C1 control, and LF only between our own lines. */
function expectTerminalSafe(result: CliResult): void {
  expect(RAW_CONTROL.test(result.stdout), JSON.stringify(result.stdout)).to.equal(false)
  expect(RAW_CONTROL.test(result.stderr), JSON.stringify(result.stderr)).to.equal(false)
}

/**
 * A registry that echoes what it was sent: the Authorization header and the credentials in it
 * (decoded from Basic, or the Bearer token) come back in its error body, in response headers
 * (plain and URL-encoded) and in its reason phrase, as broken registries and debugging proxies
 * do; distribution never echoes anything. With `bearer`, it is its own token realm too, handing
 * out a token and a rotated refresh token for a password or a refresh token, and it echoes the
 * refresh token it handed out beside the Bearer token.
 */
async function echoingRegistry(scheme: 'basic' | 'bearer'): Promise<HostileServer & {issued: string[]}> {
  const issued: string[] = []
  const server = await startHostile((request, response, self) => {
    if (request.url?.startsWith('/token')) {
      const token = `echo-token-${issued.length}-${'t'.repeat(24)}`
      const refresh = `echo-refresh-${issued.length}-${'r'.repeat(24)}`
      issued.push(token, refresh)
      request.resume()
      // The token server echoes what it hands out in a header of the same answer, too.
      response.writeHead(200, {'content-type': 'application/json', 'x-echo-issued': `${token} ${refresh}`})
      response.end(JSON.stringify({access_token: token, expires_in: 300, refresh_token: refresh, token}))
      return
    }

    const authorization = request.headers.authorization
    if (!authorization) {
      const challenge = scheme === 'basic' ? 'Basic realm="echo"' : `Bearer realm="${self.origin}/token",service="echo"`
      response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': challenge})
      response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
      return
    }

    const credentials = authorization.startsWith('Basic ') ? Buffer.from(authorization.slice(6), 'base64').toString('utf8') : authorization.slice(7)
    const echoed = scheme === 'bearer' ? `${credentials} ${issued.at(-1)}` : credentials
    response.writeHead(403, `Denied ${echoed}`, {
      'content-type': 'application/json',
      'x-echo-authorization': authorization,
      'x-echo-credentials': echoed,
      'x-echo-encoded': encodeURIComponent(echoed),
    })
    // Under /cut/, the echo starts just before the 300th character, where regshape cuts a registry's message.
    const message = request.url?.includes('/cut/') ? `${'.'.repeat(275)}${echoed}` : `denied for ${authorization} (${echoed}, ${encodeURIComponent(echoed)})`
    response.end(JSON.stringify({errors: [{code: 'DENIED', detail: {authorization}, message}]}))
  })
  servers.push(server)
  return Object.assign(server, {issued})
}

/** Every output form at once: human, --json, --debug-calls (text and JSON) with --time-methods. */
const OUTPUT_MODES = [[], ['--json'], ['--debug-calls', '--time-methods'], ['--json', '--debug-calls', '--time-methods']]

describe('hardening: credential helpers and trustworthy output', () => {
  after(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  describe('helper names', () => {
    it('refuses a credHelpers or credsStore name that is not a plain word, and never runs what it points to', async () => {
      const registry = await basicRegistry()
      // `docker-credential-x/../evil` resolves to ./evil from the current directory: plant one
      // there, and one in a PATH directory, both next to a docker-credential-x directory.
      const cwd = mkdtempSync(join(tmpdir(), 'regshape-cwd-'))
      const evil = `#!/bin/sh\ntouch ${marker}\necho '{"Username":"u","Secret":"s"}'\n`
      for (const dir of [cwd, bin]) {
        mkdirSync(join(dir, 'docker-credential-x'), {recursive: true})
        writeFileSync(join(dir, 'evil'), evil, {mode: 0o755})
      }

      for (const name of ['x/../evil', '../evil', 'x\\..\\evil', '.']) {
        for (const [config, key] of [
          [{credHelpers: {[registry.host]: name}}, 'a credHelpers entry'],
          [{credsStore: name}, 'credsStore'],
        ] as const) {
          const {directory, path} = configDir(config)
          const env = {DOCKER_CONFIG: directory, NAME: name}
          for (const command of ['login -u alice --password-stdin', 'status', 'logout']) {
            const result = await runShell(`echo "$PW" | exec "$NODE" "$RUN" auth ${command} -r ${registry.host}`, {...env, PW: USERS.alice.password}, cwd)
            expect(result.code, result.stderr).to.equal(1)
            const lines = result.stderr.trimEnd().split('\n')
            expect(lines, result.stderr).to.have.length(1)
            expect(lines[0]).to.include(`refusing to run credential helper "${name}" (set as ${key} in ${path})`)
            expectNoStackTrace(result)
          }
        }
      }

      expect(existsSync(marker), 'the planted helper ran').to.equal(false)
    })
  })

  describe('secrets in helper output', () => {
    const secret = 'store-secret-"q"\\-ünï 42'

    for (const helper of ['echoing', 'tracing']) {
      it(`auth login with a helper that shows its input (${helper}): the secret is masked in the error`, async () => {
        const registry = await basicRegistry()
        const {directory} = configDir({credHelpers: {[registry.host]: helper}})
        // The registry must accept the login for the store to run: alice's real password.
        for (const args of [[], ['--json'], ['--debug-calls']]) {
          const result = await runCli([...args, 'auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
            env: {DOCKER_CONFIG: directory, PATH},
            stdin: USERS.alice.password,
          })
          expect(result.code, result.stderr).to.equal(1)
          expect(result.stdout + result.stderr).to.include(`docker-credential-${helper} store failed`)
          expectNoSecrets(result, [USERS.alice.password])
        }
      })
    }

    it('a secret with quotes, backslashes and UTF-8 is masked in every form a helper shows it', async () => {
      const registry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: secret}}})
      try {
        const login = async (helper: string) => {
          const {directory} = configDir({credHelpers: {[registry.host]: helper}})
          const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: directory, PATH}, stdin: secret})
          expect(result.code, result.stderr).to.equal(1)
          expect(result.stderr.split('\n')).to.have.length(2)
          expectNoSecrets(result, [secret])
          return result.stderr
        }

        // Output with a Secret field is not shown at all.
        for (const helper of ['echoing', 'tracing']) {
          expect(await login(helper)).to.equal(`Error: Could not store credentials: docker-credential-${helper} store failed: exit status 1 (its output holds a Secret field, not shown)\n`)
        }

        // Anything else is shown with the secret masked.
        expect(await login('quoting')).to.equal('Error: Could not store credentials: docker-credential-quoting store failed: cannot store ***\n')
        const payload = JSON.stringify({ServerURL: registry.host, Username: 'alice', Secret: secret})
        const encoded = await login('encoding')
        expect(encoded).to.include('bad payload ')
        expect(encoded).to.include('***')
        expect(encoded).not.to.include(Buffer.from(payload).toString('base64'))
        // What comes before the secret is still there, so the helper really printed the payload.
        expect(encoded).to.include(Buffer.from(payload.slice(0, 30)).toString('base64').slice(0, 36))
      } finally {
        await registry.close()
      }
    })

    it('a get that printed its answer and then failed: auth status never shows that output', async () => {
      const {directory} = configDir({credHelpers: {'a.example': 'prints-then-fails', 'b.example': 'prints-then-fails'}})
      for (const args of [['auth', 'status'], ['--json', 'auth', 'status'], ['auth', 'status', '-r', 'a.example'], ['--json', 'auth', 'status', '-r', 'a.example'], ['auth', 'status', '--verify']]) {
        const result = await runCli(args, {env: {DOCKER_CONFIG: directory, PATH}})
        expect(result.stdout + result.stderr).to.include('docker-credential-prints-then-fails get failed: backend error')
        expectNoSecrets(result, [LEAKED])
        expectNoStackTrace(result)
      }
    })
  })

  it('a helper that exits 0 but leaves a child holding its stdout is done when it exits', async () => {
    const {directory} = configDir({credHelpers: {'c.example': 'leaves-child'}})
    const started = Date.now()
    const result = await runCli(['auth', 'status', '-r', 'c.example', '--timeout', '20'], {env: {DOCKER_CONFIG: directory, PATH}, timeoutMs: 25_000})
    expect(Date.now() - started).to.be.below(5000)
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.include('Credentials: carol\n')
  })

  it('auth status asks a hanging helper for all entries at once: one --timeout, not one per entry', async () => {
    const hosts = ['h1.example', 'h2.example', 'h3.example', 'h4.example', 'h5.example']
    const {directory} = configDir({credHelpers: Object.fromEntries(hosts.map((host) => [host, 'hanging']))})
    const started = Date.now()
    const result = await runCli(['--json', 'auth', 'status', '--timeout', '2'], {env: {DOCKER_CONFIG: directory, PATH}, timeoutMs: 30_000})
    const elapsed = Date.now() - started
    expect(result.code, result.stderr).to.equal(0)
    expect(elapsed, `${elapsed} ms`).to.be.below(6000)
    const {entries} = JSON.parse(result.stdout)
    expect(entries.map((entry: {key: string}) => entry.key)).to.deep.equal(hosts)
    for (const entry of entries) expect(entry.error).to.equal('docker-credential-hanging get did not answer within 2 s (--timeout)')
  })

  it('auth status --verify over 300 entries under ulimit -n 256', async function () {
    this.timeout(180_000)
    const registry = await startRegistry({auth: {kind: 'htpasswd', users: {alice: USERS.alice.password}}})
    try {
      // Legacy spellings of one registry's key, as old tools wrote them: 300 entries to verify.
      const auth = Buffer.from(`alice:${USERS.alice.password}`).toString('base64')
      const auths = Object.fromEntries(Array.from({length: 300}, (_, index) => [`http://${registry.host}/v1/${index}`, {auth}]))
      const {directory} = configDir({auths})
      const result = await runShell('ulimit -n 256 && exec "$NODE" "$RUN" --json auth status --verify', {DOCKER_CONFIG: directory}, ROOT, 170_000)
      expect(result.stderr).not.to.include('EMFILE')
      expect(result.code, result.stderr).to.equal(0)
      const {entries} = JSON.parse(result.stdout)
      expect(entries).to.have.length(300)
      expect(entries.filter((entry: {verification: {result: string}}) => entry.verification.result === 'valid')).to.have.length(300)
    } finally {
      await registry.close()
    }
  })

  describe('credentials a registry echoes back are masked in every output, whatever their source', () => {
    // Characters that every encoding writes differently: URL-encoded, JSON-escaped, base64 of the pair.
    const username = 'echo-user'
    const password = 'Echo pass/42+x&"q"'
    const pair = `${username}:${password}`

    /** The command in every output mode: it fails (403), and the echo shows, masked, in --debug-calls. */
    async function expectMaskedEverywhere(args: string[], env: () => NodeJS.ProcessEnv, secrets: () => string[]): Promise<void> {
      for (const mode of OUTPUT_MODES) {
        const result = await runCli([...mode, ...args], {env: env()})
        expect(result.code, result.stderr).to.equal(1)
        if (mode.includes('--json')) expect(JSON.parse(result.stdout).error).to.include('DENIED')
        else expect(result.stderr).to.match(/^Error: .*DENIED: denied for (Basic|Bearer) \*\*\*/m)
        // Not a vacuous pass: the echoed headers are there, their values masked.
        if (mode.includes('--debug-calls')) expect(result.stderr).to.match(/x-echo-authorization"?: ?\[?"?(Basic|Bearer) \*\*\*/)
        expectNoSecrets(result, secrets())
        expectNoStackTrace(result)
      }
    }

    it('Basic credentials from config.json (auth), in errors, --json and --debug-calls', async () => {
      const registry = await echoingRegistry('basic')
      const {directory} = configDir({auths: {[registry.host]: {auth: Buffer.from(pair).toString('base64')}}})
      await expectMaskedEverywhere(['tag', 'list', `${registry.host}/app`], () => ({DOCKER_CONFIG: directory}), () => [password, pair])
    })

    it('Basic credentials from docker-credential-pass', async function () {
      this.timeout(120_000)
      const registry = await echoingRegistry('basic')
      const pass = await passHelper()
      const stored = await pass.run('store', JSON.stringify({ServerURL: registry.host, Secret: password, Username: username}))
      expect(stored.code, stored.stderr).to.equal(0)
      try {
        const {directory} = configDir({credsStore: 'pass'})
        await expectMaskedEverywhere(['tag', 'list', `${registry.host}/app`], () => ({DOCKER_CONFIG: directory, ...pass.env}), () => [password, pair])
      } finally {
        await pass.run('erase', registry.host)
      }
    })

    it('-u/-p: --debug-calls masks the echoing headers, reason phrase and body too', async () => {
      const registry = await echoingRegistry('basic')
      const {directory} = configDir({})
      await expectMaskedEverywhere(['tag', 'list', `${registry.host}/app`, '-u', username, '-p', password], () => ({DOCKER_CONFIG: directory}), () => [password, pair])
    })

    it('an echo cut short by the cap on a registry\'s message: no part of the password is left', async () => {
      const registry = await echoingRegistry('basic')
      const {directory} = configDir({})
      for (const mode of [[], ['--json']]) {
        const result = await runCli([...mode, 'tag', 'list', `${registry.host}/cut/app`, '-u', username, '-p', password], {env: {DOCKER_CONFIG: directory}})
        expect(result.code, result.stderr).to.equal(1)
        expect(result.stdout + result.stderr).to.include('DENIED: .....')
        // The cut falls seven characters into the password ("DENIED: " and 275 dots before the pair).
        expect(result.stdout + result.stderr).not.to.include(password.slice(0, 7))
      }
    })

    it('a refresh token from config.json, and the token and rotated refresh token the token server hands out', async () => {
      const registry = await echoingRegistry('bearer')
      const identityToken = 'stored-refresh-token-0123456789'
      await expectMaskedEverywhere(
        ['tag', 'list', `${registry.host}/app`],
        () => ({DOCKER_CONFIG: configDir({auths: {[registry.host]: {identitytoken: identityToken}}}).directory}),
        () => [identityToken, ...registry.issued],
      )
      expect(registry.issued.length).to.be.greaterThan(0)
    })

    it('proxy credentials from HTTP_PROXY, echoed by the proxy', async () => {
      // A forward proxy that answers every request itself, echoing the Proxy-Authorization it was
      // given: it stands for a broken or hostile proxy (squid, in proxy.test.ts, never echoes).
      const proxyUser = 'proxy-user'
      const proxyPassword = 'Proxy pass/9+y'
      const proxy = await startHostile((request, response) => {
        const authorization = request.headers['proxy-authorization'] ?? ''
        const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8')
        response.writeHead(403, {'content-type': 'application/json', 'x-echo-authorization': authorization, 'x-echo-credentials': decoded})
        response.end(JSON.stringify({errors: [{code: 'DENIED', message: `denied for ${authorization} (${decoded})`}]}))
      })
      servers.push(proxy)
      const proxyUrl = `http://${proxyUser}:${encodeURIComponent(proxyPassword)}@${proxy.host}`
      // An explicit http:// registry, so the request goes to the proxy in absolute form (loopback never does).
      await expectMaskedEverywhere(['catalog', 'list', 'http://registry.test', '--insecure'], () => ({DOCKER_CONFIG: configDir({}).directory, HTTP_PROXY: proxyUrl}), () => [
        proxyPassword,
        `${proxyUser}:${proxyPassword}`,
      ])
    })
  })

  describe('error output never quotes a secret from the command line', () => {
    const SECRET = 'cmdline-s3cr3t-55'

    it('drops userinfo from the registry of the JSON error object', async () => {
      for (const registry of [`alice:${SECRET}@r.example`, `https://alice:${SECRET}@r.example/x`, `${SECRET}@r.example:5000`]) {
        for (const args of [['auth', 'login', '-r', registry, '-u', 'alice', '--password-stdin'], ['ping', registry], ['auth', 'status', '-r', registry], ['auth', 'logout', `--registry=${registry}`]]) {
          const result = await runCli(['--json', ...args], {stdin: 'pw'})
          expect(result.code, result.stdout).to.equal(1)
          const output = JSON.parse(result.stdout)
          expect(output.status).to.equal('error')
          expect(output.registry).not.to.include('@')
          expectNoSecrets(result, [SECRET])
        }
      }
    })

    it('never echoes the value of a mistyped or unknown flag, long or short, human or --json', async () => {
      const variants = [
        [`--passwod=${SECRET}`],
        ['--passwod', SECRET],
        [`-P${SECRET}`],
        ['-P', SECRET],
        [`-x${SECRET}`],
        [`-Xp${SECRET}`],
        [`--json=${SECRET}`],
        [`--timeout=${SECRET}`],
        ['--timeout', SECRET],
        ['--timeout', `-${SECRET}`],
        ['--timeout', `--${SECRET}`],
        [SECRET],
      ]
      for (const variant of variants) {
        for (const json of [false, true]) {
          const result = await runCli([...(json ? ['--json'] : []), 'auth', 'logout', '-r', 'r.example', ...variant])
          expect(result.code, `${variant.join(' ')}: ${result.stderr}`).to.equal(2)
          // --json=VALUE is --json (on) plus VALUE as a word: the error is then JSON on stdout.
          const message = result.stdout.trim() === '' ? result.stderr : JSON.parse(result.stdout).error
          // A lone word lands in the registry argument, which -r already gave: named, not quoted.
          const lone = variant.length === 1 && (variant[0] === SECRET || variant[0] === `--json=${SECRET}`)
          expect(message).to.match(lone ? /^(Error: )?give the registry once: as the argument or with -r, not both\n?$/ : /\(see --help\)\n?$/)
          expectNoSecrets(result, [SECRET])
        }
      }

      const named = await runCli(['auth', 'logout', '-r', 'r.example', `--passwod=${SECRET}`])
      expect(named.stderr).to.equal('Error: Nonexistent flag: --passwod (see --help)\n')
      const short = await runCli(['auth', 'logout', '-r', 'r.example', `-x${SECRET}`])
      expect(short.stderr).to.equal('Error: Nonexistent flag: -x (see --help)\n')
    })
  })

  describe('control characters never reach the terminal', () => {
    const hostile = ['ansi\u001B[31mred', 'cr\rforged  row', 'lf\nforged.example  /x  eve', 'c1\u009B2J', 'del\u007F', 'bidi\u202Eevil']

    it('auth status escapes config keys and usernames, one row per entry', async () => {
      const auths = Object.fromEntries(hostile.map((text, index) => [`${text}-${index}.example`, {auth: Buffer.from(`${text}:pw-${index}`).toString('base64')}]))
      const {directory} = configDir({auths, credHelpers: {'esc.example': 'escaping'}})
      const result = await runCli(['auth', 'status'], {env: {DOCKER_CONFIG: directory, PATH}})
      expect(result.code, result.stderr).to.equal(0)
      expectTerminalSafe(result)
      expect(result.stdout).not.to.include('\u202E')
      // The header, one row per auths entry, one for the helper entry that failed.
      expect(result.stdout.trimEnd().split('\n')).to.have.length(1 + hostile.length + 1)
      expect(result.stdout).to.include('ansi\\x1b[31mred')
      // The helper's CR is whitespace to the one-line rule: it became a space before escaping.
      expect(result.stdout).to.include('\\x1b[31mlocked\\x1b]0;pwned\\x07 \\x9bJ forged')

      const json = await runCli(['--json', 'auth', 'status'], {env: {DOCKER_CONFIG: directory, PATH}})
      expectTerminalSafe(json)
      expect(JSON.parse(json.stdout).entries.map((entry: {username: string}) => entry.username)).to.include.members(hostile)

      const one = await runCli(['auth', 'status', '-r', 'esc.example'], {env: {DOCKER_CONFIG: directory, PATH}})
      expect(one.code).to.equal(1)
      expectTerminalSafe(one)
      expect(one.stderr.split('\n')).to.have.length(2)
    })

    it('ping escapes what a registry answers (realm, API version) and a username from the config', async () => {
      // A registry answering with C1 controls (sent as latin1 bytes: all HTTP headers allow) in its
      // challenge and version header: it stands for a hostile registry.
      const server = await startHostile((request, response) => {
        const headers = {'docker-distribution-api-version': 'registry/2.0\u009B2J', 'www-authenticate': 'Basic realm="\u009B31mevil\u0085line"'}
        response.writeHead(request.headers.authorization ? 200 : 401, headers)
        response.end('{}')
      })
      servers.push(server)
      const {directory} = configDir({auths: {[server.host]: {auth: Buffer.from('ev\u001B[2Jil\ruser:pw').toString('base64')}}})
      for (const json of [false, true]) {
        const result = await runCli([...(json ? ['--json'] : []), 'ping', server.host], {env: {DOCKER_CONFIG: directory}})
        expect(result.code, result.stderr).to.equal(0)
        expectTerminalSafe(result)
        if (json) expect(JSON.parse(result.stdout).auth.realm).to.equal('\u009B31mevil\u0085line')
        else expect(result.stdout).to.include('Auth:        Basic (realm \\x9b31mevil\\x85line)')
      }
    })

    it('an error from a helper with escape sequences is escaped, on one line', async () => {
      const registry = await basicRegistry()
      const {directory} = configDir({credHelpers: {[registry.host]: 'escaping'}})
      for (const json of [false, true]) {
        const result = await runCli([...(json ? ['--json'] : []), 'ping', registry.host], {env: {DOCKER_CONFIG: directory, PATH}})
        expect(result.code).to.equal(1)
        expectTerminalSafe(result)
        if (json) expect(JSON.parse(result.stdout).error).to.include('\u001B[31mlocked')
        else expect(result.stderr).to.equal('Error: docker-credential-escaping get failed: \\x1b[31mlocked\\x1b]0;pwned\\x07 \\x9bJ forged\n')
      }
    })
  })
})
