import {createHash} from 'node:crypto'
import {expect} from 'chai'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import {type AddressInfo, connect, createServer as createNetServer, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseRegistry} from '../../src/reference/registry.js'
import {isInternalAddress, type Resolver} from '../../src/transport/addresses.js'
import {Transport} from '../../src/transport/transport.js'
import {sharedPki} from '../fixtures/pki.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'
import {challenge, type Handler, type HostileServer, startHostile} from '../helpers/hostile.js'

const PASSWORD = 'transport-test-s3cret'
const REFRESH_TOKEN = 'transport-test-refresh-t0ken'
const BASIC = Buffer.from(`alice:${PASSWORD}`).toString('base64')
const servers: Array<{close(): Promise<void>}> = []

async function hostile(handler: Handler, options: {address?: string; tls?: boolean} = {}): Promise<HostileServer> {
  const server = await startHostile(handler, options)
  servers.push(server)
  return server
}

function dockerConfig(): string {
  return mkdtempSync(join(tmpdir(), 'regshape-dc-'))
}

type Secret = 'identity-token' | 'password'

async function login(host: string, secret: Secret, extra: string[] = []): Promise<CliResult> {
  const how = secret === 'password' ? ['-u', 'alice', '--password-stdin'] : ['--identity-token-stdin']
  const timeout = extra.includes('--timeout') ? [] : ['--timeout', '5']
  return runCli(['auth', 'login', '-r', host, ...how, ...timeout, ...extra], {
    env: {DOCKER_CONFIG: dockerConfig()},
    stdin: secret === 'password' ? PASSWORD : REFRESH_TOKEN,
    timeoutMs: 30_000,
  })
}

function expectOneLineFailure(result: CliResult, host: string, reason: RegExp | string): void {
  expect(result.code, result.stderr).to.equal(1)
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).to.have.length(1)
  const prefix = `Error: Login failed for ${host}: `
  expect(lines[0].startsWith(prefix), lines[0]).to.equal(true)
  if (typeof reason === 'string') expect(lines[0].slice(prefix.length)).to.equal(reason)
  else expect(lines[0].slice(prefix.length)).to.match(reason)
  expectNoStackTrace(result)
  expectNoSecrets(result, [PASSWORD, REFRESH_TOKEN, BASIC])
}

/** A registry whose Bearer realm is `realm`, accepting only `Bearer good-token`. */
function bearerRegistry(realm: () => string): Handler {
  return (request, response) => {
    if (request.headers.authorization === 'Bearer good-token') {
      response.writeHead(200)
      response.end('{}')
      return
    }

    response.writeHead(401, {'www-authenticate': `Bearer realm="${realm()}",service="svc"`})
    response.end()
  }
}

/** A token server that hands out `good-token`; it stands for whatever a redirect lands on. */
interface Recorder {
  close(): Promise<void>
  origin: string
  port: number
  seen: Array<{body: string; headers: IncomingMessage['headers']; method: string; url: string}>
}

async function recorder(options: {address?: string} = {}): Promise<Recorder> {
  const seen: Recorder['seen'] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      seen.push({body: Buffer.concat(chunks).toString('utf8'), headers: request.headers, method: request.method ?? '', url: request.url ?? ''})
      response.writeHead(200, {'content-type': 'application/json'})
      response.end('{"token":"good-token","access_token":"good-token"}')
    })
  })
  const address = options.address ?? '127.0.0.1'
  await new Promise<void>((resolvePromise) => server.listen(0, address, resolvePromise))
  const {port} = server.address() as AddressInfo
  const handle = {close: () => closeServer(server), origin: `http://${address}:${port}`, port, seen}
  servers.push(handle)
  return handle
}

function closeServer(server: Server | ReturnType<typeof createNetServer>): Promise<void> {
  ;(server as Server).closeAllConnections?.()
  return new Promise((resolvePromise) => server.close(() => resolvePromise()))
}

/** What a recorder saw must hold none of the secrets, in any part of any request. */
function expectNothingSecret(target: Recorder): void {
  const text = JSON.stringify(target.seen)
  for (const secret of [PASSWORD, REFRESH_TOKEN, BASIC, encodeURIComponent(REFRESH_TOKEN)]) expect(text).not.to.include(secret)
  for (const request of target.seen) expect(request.headers).not.to.have.property('authorization')
}

function redirectTo(status: number, location: () => string): Handler {
  return (_request, response) => {
    response.writeHead(status, {location: location()})
    response.end()
  }
}

describe('hardening: the transport', () => {
  after(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  describe('a secret never follows a redirect to another origin, nor from HTTPS to HTTP', () => {
    for (const status of [307, 308]) {
      it(`a refresh-token POST answered ${status} to another origin is refused, not resent`, async () => {
        const elsewhere = await recorder()
        const realm = await hostile(redirectTo(status, () => `${elsewhere.origin}/token`))
        const registry = await hostile(bearerRegistry(() => `${realm.origin}/token`))
        const result = await login(registry.host, 'identity-token')
        expect(elsewhere.seen).to.have.length(0)
        expectOneLineFailure(
          result,
          registry.host,
          `${realm.host} redirects a POST request to another origin (${elsewhere.origin}); a request body, which may carry credentials, is never resent elsewhere`,
        )
        expect(realm.requests.map((r) => r.method)).to.deep.equal(['POST'])
      })

      it(`a refresh-token POST to an HTTPS realm answered ${status} to http:// is refused`, async () => {
        const plain = await recorder()
        const realm = await hostile(redirectTo(status, () => `http://127.0.0.1:${plain.port}/token`), {tls: true})
        const registry = await hostile(bearerRegistry(() => `${realm.origin}/token`), {tls: true})
        const result = await login(registry.host, 'identity-token', ['--ca-file', sharedPki().caFile])
        expect(plain.seen).to.have.length(0)
        expectOneLineFailure(result, registry.host, /^127\.0\.0\.1:\d+ redirects a POST request to another origin \(http:\/\/127\.0\.0\.1:\d+\); .* never resent elsewhere$/)
      })

      it(`a Basic token GET answered ${status} to another origin, or to http://, arrives there without the password`, async () => {
        const elsewhere = await recorder()
        const realm = await hostile(redirectTo(status, () => `${elsewhere.origin}/token`), {tls: true})
        const registry = await hostile(bearerRegistry(() => `${realm.origin}/token`), {tls: true})
        const result = await login(registry.host, 'password', ['--ca-file', sharedPki().caFile])
        expectNoSecrets(result, [PASSWORD, BASIC])
        expect(realm.requests[0].headers.authorization).to.equal(`Basic ${BASIC}`)
        expect(elsewhere.seen.map((r) => r.method)).to.deep.equal(['GET'])
        expectNothingSecret(elsewhere)
      })
    }
  })

  describe('the internal-address guard on token realms holds for every spelling and every hop', () => {
    // The registry is on 127.0.0.1; 127.0.0.2 stands for another service inside the network.
    const spellings: Array<[string, (port: number) => string]> = [
      ['decimal', (port) => `http://2130706434:${port}/token`],
      ['hexadecimal', (port) => `http://0x7f.2:${port}/token`],
      ['octal', (port) => `http://0177.0.0.2:${port}/token`],
      ['short', (port) => `http://127.2:${port}/token`],
      ['IPv4-mapped IPv6, dotted', (port) => `http://[::ffff:127.0.0.2]:${port}/token`],
      ['IPv4-mapped IPv6, hex', (port) => `http://[::ffff:7f00:2]:${port}/token`],
      ['NAT64', (port) => `http://[64:ff9b::7f00:2]:${port}/token`],
      ['6to4', (port) => `http://[2002:7f00:2::1]:${port}/token`],
      ['IPv6 unique local', (port) => `http://[fd00::2]:${port}/token`],
      ['IPv6 link-local', (port) => `http://[fe80::2]:${port}/token`],
      ['0.0.0.0', (port) => `http://0:${port}/token`],
    ]
    it('classifies addresses as parsed IPs, not as text', () => {
      const internal = ['127.0.0.1', '10.1.2.3', '172.31.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::', '::1', '::ffff:10.0.0.1',
        '::ffff:a00:1', '::7f00:1', '64:ff9b::a9fe:a9fe', '64:ff9b:1::1', '2002:c0a8:101::1', 'fc00::1', 'fdff::1', 'fe80::1%eth0', 'febf::1', 'fec0::1']
      const external = ['8.8.8.8', '172.32.0.1', '192.0.2.1', '100.128.0.1', '2001:db8::1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', 'ff02::1', 'not-an-ip']
      expect(internal.filter((address) => !isInternalAddress(address)), 'should be internal').to.deep.equal([])
      expect(external.filter((address) => isInternalAddress(address)), 'should be external').to.deep.equal([])
    })

    for (const [what, realmUrl] of spellings) {
      it(`refuses a realm spelt ${what}`, async () => {
        const internal = await recorder({address: '127.0.0.2'})
        const realm = new URL(realmUrl(internal.port))
        const registry = await hostile(bearerRegistry(() => realm.toString()))
        const result = await login(registry.host, 'password')
        expect(internal.seen).to.have.length(0)
        expectOneLineFailure(
          result,
          registry.host,
          `the registry's token realm ${realm.host} is a loopback, private or link-local address other than the registry's own host; refusing to use it`,
        )
      })
    }

    it('refuses localhost. (trailing dot) for a registry on another loopback address', async () => {
      const internal = await recorder()
      const registry = await hostile(bearerRegistry(() => `http://localhost.:${internal.port}/token`), {address: '127.0.0.2'})
      const result = await login(registry.host, 'password')
      expect(internal.seen).to.have.length(0)
      expectOneLineFailure(result, registry.host, `the registry's token realm localhost.:${internal.port} is a loopback, private or link-local address other than the registry's own host; refusing to use it`)
    })

    const targets: Array<[string, (port: number) => string]> = [
      ['127.0.0.2', (port) => `http://127.0.0.2:${port}/token`],
      ['a decimal spelling of 127.0.0.2', (port) => `http://2130706434:${port}/token`],
      ['an IPv4-mapped 127.0.0.2', (port) => `http://[::ffff:7f00:2]:${port}/token`],
    ]
    for (const [what, target] of targets) {
      it(`refuses a realm on the registry's own host that redirects to ${what}`, async () => {
        const internal = await recorder({address: '127.0.0.2'})
        const location = new URL(target(internal.port))
        const realm = await hostile(redirectTo(302, () => location.toString()))
        const registry = await hostile(bearerRegistry(() => `${realm.origin}/token`))
        const result = await login(registry.host, 'password')
        expect(internal.seen).to.have.length(0)
        expectOneLineFailure(
          result,
          registry.host,
          `the registry's token realm redirects to ${location.host}, a loopback, private or link-local address other than the registry's own host; refusing to follow it`,
        )
        expect(realm.requests).to.have.length(1)
      })
    }

    describe('names that resolve to internal addresses (DNS stood in for)', () => {
      let clients: Transport[] = []
      afterEach(() => {
        for (const c of clients) c.close()
        clients = []
      })

      async function tryRealm(realmHost: string, resolve: Resolver, port: number): Promise<Error> {
        const registry = await hostile(bearerRegistry(() => `http://${realmHost}:${port}/token`))
        const client = await Transport.create({resolve, timeoutMs: 5000})
        clients.push(client)
        try {
          await client.request(parseRegistry(registry.host), {method: 'GET', path: '/v2/'}, async () => ({password: PASSWORD, username: 'alice'}))
        } catch (error) {
          return error as Error
        }

        throw new Error('the request should have been refused')
      }

      it('refuses a realm name that resolves to another internal address', async () => {
        const internal = await recorder({address: '127.0.0.2'})
        const calls: string[] = []
        const error = await tryRealm('tokens.example', async (name) => {
          calls.push(name)
          return [{address: '127.0.0.2', family: 4}]
        }, internal.port)
        expect(error.message).to.equal(
          `the registry's token realm tokens.example:${internal.port} (127.0.0.2) is a loopback, private or link-local address other than the registry's own host; refusing to use it`,
        )
        expect(calls).to.include('tokens.example')
        expect(internal.seen).to.have.length(0)
      })

      it('refuses a name with any internal address among public ones', async () => {
        const internal = await recorder({address: '127.0.0.2'})
        const error = await tryRealm('tokens.example', async () => [{address: '192.0.2.10', family: 4}, {address: '::ffff:127.0.0.2', family: 6}], internal.port)
        expect(error.message).to.match(/^the registry's token realm tokens\.example:\d+ \(::ffff:127\.0\.0\.2\) is a loopback/)
        expect(internal.seen).to.have.length(0)
      })

      it('resolves once and connects to what it checked, so a second DNS answer (rebinding) never counts', async () => {
        const internal = await recorder({address: '127.0.0.2'})
        const calls: string[] = []
        // First answer: the registry's own address (allowed); any later one: the internal target.
        const error = await tryRealm('rebind.example', async (name) => {
          calls.push(name)
          return [{address: calls.filter((n) => n === name).length === 1 ? '127.0.0.1' : '127.0.0.2', family: 4}]
        }, internal.port)
        expect(calls.filter((name) => name === 'rebind.example')).to.have.length(1)
        // 127.0.0.1 on the internal server's port has nobody listening: refused, not redirected.
        expect(error.message).to.match(/ECONNREFUSED/)
        expect(internal.seen).to.have.length(0)
      })

      it('allows a realm name that resolves to the registry\'s own address', async () => {
        const tokens = await recorder()
        const registry = await hostile(bearerRegistry(() => `http://tokens.example:${tokens.port}/token`))
        const client = await Transport.create({resolve: async () => [{address: '127.0.0.1', family: 4}], timeoutMs: 5000})
        clients.push(client)
        const response = await client.request(parseRegistry(registry.host), {method: 'GET', path: '/v2/'}, async () => ({password: PASSWORD, username: 'alice'}))
        expect(response.status).to.equal(200)
        expect(tokens.seen).to.have.length(1)
      })
    })
  })

  describe('redirects of registry requests: never to link-local or cloud metadata addresses', () => {
    const blob = Buffer.from('a blob in object storage\n')
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`
    const run = (args: string[]) => runCli([...args, '--timeout', '2'], {env: {DOCKER_CONFIG: dockerConfig()}, timeoutMs: 30_000})

    /** A registry that sends every blob GET to `location` (as registries send blobs to object storage). */
    const redirecting = (location: () => string): Handler => (request, response) => {
      if (request.url === '/v2/') {
        response.writeHead(200, {'content-type': 'application/json'})
        response.end('{}')
        return
      }

      response.writeHead(307, {location: location()})
      response.end()
    }

    const metadata: Array<[string, string]> = [
      ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
      ['another link-local address', 'http://169.254.10.1/blob'],
      ['AWS metadata over IPv6', 'http://[fd00:ec2::254]/latest/meta-data/'],
      ['Alibaba Cloud metadata', 'http://100.100.100.200/latest/meta-data/'],
      ['IPv6 link-local', 'http://[fe80::1]/blob'],
      ['the metadata address IPv4-mapped', 'http://[::ffff:a9fe:a9fe]/latest/'],
      ['the metadata address in NAT64', 'http://[64:ff9b::a9fe:a9fe]/latest/'],
    ]
    for (const [what, location] of metadata) {
      it(`blob get refuses a redirect to ${what}, before connecting`, async () => {
        const registry = await hostile(redirecting(() => location))
        const reference = `${registry.host}/r/app@${digest}`
        const result = await run(['blob', 'get', reference])
        expect(result.code, result.stderr).to.equal(1)
        expect(result.stderr).to.equal(`Error: blob get ${reference}: the registry redirects to ${new URL(location).host}, a link-local or cloud metadata address; refusing to follow it\n`)
        expect(registry.requests.filter((request) => request.url !== '/v2/')).to.have.length(1)
      })
    }

    it('refuses link-local storage but follows a redirect to storage on a loopback or private address (on-premises set-ups, tests)', async () => {
      const storage = await hostile((_request, response) => {
        response.writeHead(200, {'content-length': blob.length, 'content-type': 'application/octet-stream'})
        response.end(blob)
      }, {address: '127.0.0.2'})
      let location = 'http://169.254.169.254/bucket/blob'
      const registry = await hostile(redirecting(() => location))
      const refused = await run(['blob', 'get', `${registry.host}/r/app@${digest}`, '-o', '-'])
      expect(refused.stderr).to.match(/redirects to 169\.254\.169\.254, a link-local or cloud metadata address; refusing to follow it\n$/)
      location = `${storage.origin}/bucket/blob`
      const result = await run(['blob', 'get', `${registry.host}/r/app@${digest}`, '-o', '-'])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal(blob.toString('utf8'))
      expect(storage.requests.map((request) => request.url)).to.deep.equal(['/bucket/blob'])
    })

    it('refuses an upload Location on a link-local address', async () => {
      const file = join(dockerConfig(), 'blob')
      writeFileSync(file, blob)
      // a registry that opens upload sessions on the metadata address
      const registry = await hostile((request, response) => {
        if (request.url === '/v2/') {
          response.writeHead(200, {'content-type': 'application/json'})
          response.end('{}')
          return
        }

        response.writeHead(202, {location: 'http://169.254.169.254/latest/api/token', 'content-length': 0})
        response.end()
      })
      const result = await run(['blob', 'upload', `${registry.host}/r/app`, '-f', file])
      expect(result.code, result.stderr).to.equal(1)
      expect(result.stderr.trimEnd().split('\n')).to.have.length(1)
      expect(result.stderr).to.match(/the registry's upload Location 169\.254\.169\.254 is a link-local or cloud metadata address; refusing to use it\n$/)
    })

    it('refuses a redirect to a name that resolves to the metadata address (DNS stood in for)', async () => {
      const registry = await hostile(redirecting(() => 'http://metadata.example/computeMetadata/v1/'))
      const client = await Transport.create({resolve: async () => [{address: '169.254.169.254', family: 4}], timeoutMs: 5000})
      try {
        const error = await client.request(parseRegistry(registry.host), {method: 'GET', operation: 'blob.get', path: `/v2/r/app/blobs/${digest}`}, async () => undefined).then(
          () => undefined,
          (error_: Error) => error_,
        )
        expect(error?.message).to.equal('the registry redirects to metadata.example (169.254.169.254), a link-local or cloud metadata address; refusing to follow it')
      } finally {
        client.close()
      }
    })
  })

  describe('--timeout', () => {
    it('bounds a whole request, redirects included: hops each just under the timeout fail at about the timeout', async () => {
      const registry = await hostile((request, response) => {
        const next = Number(/\d+$/.exec(request.url ?? '')?.[0] ?? 0) + 1
        setTimeout(() => {
          response.writeHead(302, {location: `/v2/hop${next}`})
          response.end()
        }, 800)
      })
      const started = Date.now()
      const result = await login(registry.host, 'password', ['--timeout', '1'])
      const elapsed = Date.now() - started
      expectOneLineFailure(result, registry.host, /^no answer from http:\/\/127\.0\.0\.1:\d+\/v2\/hop1 within the timeout \(--timeout\)$/)
      expect(registry.requests).to.have.length(2)
      // Per-hop timeouts would take 6 hops x 0.8 s; one deadline stops after about 1 s.
      expect(elapsed).to.be.below(3500)
    })

    it('accepts a huge value without a TimeoutOverflowWarning, for requests and helpers alike', async () => {
      const registry = await hostile(challenge('Basic realm="r"'))
      const result = await login(registry.host, 'password', ['--timeout', '1e12'])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).not.to.match(/TimeoutOverflowWarning|Warning/)

      const bin = mkdtempSync(join(tmpdir(), 'regshape-helpers-'))
      writeFileSync(join(bin, 'docker-credential-quick'), '#!/bin/sh\ncat >/dev/null\n[ "$1" = list ] && echo "{}"\nexit 0\n', {mode: 0o755})
      const directory = dockerConfig()
      writeFileSync(join(directory, 'config.json'), JSON.stringify({credHelpers: {'r.example': 'quick'}}))
      const logout = await runCli(['auth', 'logout', '-r', 'r.example', '--timeout', '1e12'], {env: {DOCKER_CONFIG: directory, PATH: `${bin}:${process.env.PATH}`}})
      expect(logout.stderr).not.to.match(/TimeoutOverflowWarning|did not answer/)
      expect(logout.code, logout.stderr).to.be.oneOf([0, 1])
    })

    for (const value of ['1e400', 'Infinity', 'NaN', '0x10', '1e-400', ' 5']) {
      it(`rejects --timeout "${value}" as a usage error (exit 2)`, async () => {
        const result = await runCli(['auth', 'logout', '-r', 'r.example', '--timeout', value])
        expect(result.code).to.equal(2)
        expect(result.stderr).to.equal('Error: --timeout expects a positive number of seconds (see --help)\n')
      })
    }
  })

  describe('a plain-HTTP loopback registry that mishandles a TLS ClientHello', () => {
    /**
     * Plain HTTP behind a listener that, on a first byte of 0x16 (a TLS handshake record), resets
     * the connection or says nothing: the behaviour of some proxies and embedded HTTP servers.
     * Anything else is piped to an ordinary HTTP registry stand-in.
     */
    async function clientHelloHostile(onHello: 'reset' | 'silence'): Promise<{hellos: number; host: string; http: HostileServer}> {
      const http = await hostile(challenge('Basic realm="r"'))
      const state = {hellos: 0, host: '', http}
      const sockets = new Set<Socket>()
      const front = createNetServer((socket) => {
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => {})
        socket.once('data', (first: Buffer) => {
          if (first[0] === 0x16) {
            state.hellos++
            if (onHello === 'reset') socket.resetAndDestroy()
            return
          }

          const back = connect(http.port, '127.0.0.1', () => {
            back.write(first)
            socket.pipe(back).pipe(socket)
          })
          back.on('error', () => socket.destroy())
        })
      })
      await new Promise<void>((resolvePromise) => front.listen(0, '127.0.0.1', resolvePromise))
      state.host = `127.0.0.1:${(front.address() as AddressInfo).port}`
      servers.push({
        close() {
          for (const socket of sockets) socket.destroy()
          return closeServer(front)
        },
      })
      return state
    }

    for (const onHello of ['reset', 'silence'] as const) {
      for (const insecure of [true, false]) {
        it(`falls back to plain HTTP quickly when the ClientHello meets ${onHello}${insecure ? ' (--insecure)' : ' (loopback, no --insecure)'}`, async () => {
          const server = await clientHelloHostile(onHello)
          const started = Date.now()
          const result = await login(server.host, 'password', ['--timeout', '20', ...(insecure ? ['--insecure'] : [])])
          const elapsed = Date.now() - started
          expect(result.code, result.stderr).to.equal(0)
          expect(result.stdout).to.equal('Login succeeded.\n')
          expect(server.hellos).to.equal(1)
          expect(server.http.requests.map((r) => r.url)).to.deep.equal(['/v2/', '/v2/'])
          // The probe waits about 2 s for a handshake, never the 20 s of --timeout.
          expect(elapsed).to.be.below(6000)
        })
      }
    }
  })
})
