import {expect} from 'chai'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {sharedPki} from '../fixtures/pki.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, expectNoStackTrace, runCli} from '../helpers/cli.js'
import {challenge, type Handler, type HostileServer, startHostile} from '../helpers/hostile.js'

const PASSWORD = 'hostile-test-s3cret'
const servers: HostileServer[] = []

async function hostile(handler: Handler, options: {address?: string; tls?: boolean} = {}): Promise<HostileServer> {
  const server = await startHostile(handler, options)
  servers.push(server)
  return server
}

function dockerConfig(): string {
  return mkdtempSync(join(tmpdir(), 'regshape-dc-'))
}

async function login(host: string, extra: string[] = []): Promise<CliResult> {
  const timeout = extra.includes('--timeout') ? [] : ['--timeout', '2']
  return runCli(['auth', 'login', '-r', host, '-u', 'alice', '--password-stdin', ...timeout, ...extra], {
    env: {DOCKER_CONFIG: dockerConfig()},
    stdin: PASSWORD,
    timeoutMs: 20_000,
  })
}

/** The shared verdict: exit 1, exactly one line on stderr, no stack trace, no secret. */
function expectOneLineFailure(result: CliResult, host: string, reason: RegExp | string): void {
  expect(result.code, result.stderr).to.equal(1)
  expect(result.stdout).to.equal('')
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).to.have.length(1)
  const prefix = `Error: Login failed for ${host}: `
  expect(lines[0].startsWith(prefix), lines[0]).to.equal(true)
  if (typeof reason === 'string') expect(lines[0].slice(prefix.length)).to.equal(reason)
  else expect(lines[0].slice(prefix.length)).to.match(reason)
  expectNoStackTrace(result)
  expectNoSecrets(result, [PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64')])
}

/** A registry whose Bearer realm is `realm`, with everything else correct. */
function bearerRegistry(realm: () => string): Handler {
  return (request, response) => {
    if (request.url === '/v2/' && !request.headers.authorization) {
      response.writeHead(401, {'www-authenticate': `Bearer realm="${realm()}",service="svc"`})
      response.end()
      return
    }

    response.writeHead(request.headers.authorization === 'Bearer good-token' ? 200 : 401)
    response.end('{}')
  }
}

describe('hardening: hostile and broken servers', () => {
  after(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })

  describe('malformed challenges', () => {
    const cases: Array<[string, string | string[], RegExp | string]> = [
      ['an unterminated quoted string', 'Bearer realm="https://x.example/token', 'malformed WWW-Authenticate header: unterminated quoted string'],
      ['garbage between parameters', 'Bearer realm="a" service="b"', 'malformed WWW-Authenticate header: expected "," after the parameter realm'],
      ['a Bearer challenge without a realm', 'Bearer service="svc"', "the registry's Bearer challenge names no realm (token server)"],
      ['a realm that is not a URL', 'Bearer realm="not a url",service="svc"', "the registry's Bearer challenge has a realm that is not an http(s) URL"],
      ['a realm with another scheme', 'Bearer realm="file:///etc/passwd"', "the registry's Bearer challenge has a realm that is not an http(s) URL"],
      ['an unknown scheme', 'Negotiate', 'the registry asks for an unsupported authentication scheme (negotiate)'],
      ['several unknown schemes in several headers', ['Digest realm="x", nonce="y"', 'NTLM'], 'the registry asks for an unsupported authentication scheme (digest, ntlm)'],
    ]
    for (const [what, header, reason] of cases) {
      it(`rejects ${what}`, async () => {
        const server = await hostile(challenge(header))
        expectOneLineFailure(await login(server.host), server.host, reason)
      })
    }

    it('rejects a 401 without any challenge', async () => {
      const server = await hostile((_request, response) => {
        response.writeHead(401)
        response.end()
      })
      expectOneLineFailure(await login(server.host), server.host, `http://${server.host}/v2/ answered 401 without a WWW-Authenticate challenge`)
    })
  })

  describe('broken token servers', () => {
    const tokenCases: Array<[string, Handler, RegExp | string]> = [
      [
        'JSON with neither token nor access_token',
        (_request, response) => {
          response.writeHead(200, {'content-type': 'application/json'})
          response.end('{"expires_in": 300}')
        },
        /the token server 127\.0\.0\.1:\d+ answered without a token/,
      ],
      [
        'an HTML error page with status 200',
        (_request, response) => {
          response.writeHead(200, {'content-type': 'text/html'})
          response.end('<html><body>Service Unavailable</body></html>')
        },
        /the token server 127\.0\.0\.1:\d+ answered with something that is not JSON/,
      ],
      [
        'a 500',
        (_request, response) => {
          response.writeHead(500)
          response.end('oops')
        },
        /the token server 127\.0\.0\.1:\d+ answered HTTP 500/,
      ],
      [
        'a truncated body',
        (_request, response) => {
          response.writeHead(200, {'content-length': '1000', 'content-type': 'application/json'})
          response.write('{"token": "abc')
          setTimeout(() => response.socket?.destroy(), 20)
        },
        /^.+$/,
      ],
      [
        'a connection reset',
        (request) => {
          request.socket.destroy()
        },
        /socket hang up|ECONNRESET/,
      ],
      [
        'a body of 2 MiB',
        (_request, response) => {
          response.writeHead(200, {'content-type': 'application/json'})
          response.end(JSON.stringify({padding: 'x'.repeat(2 * 1024 * 1024), token: 'abc'}))
        },
        /response from http:\/\/127\.0\.0\.1:\d+\/token\?.* is larger than 1048576 bytes/,
      ],
      [
        'silence',
        () => {
          /* never answers */
        },
        /no answer from http:\/\/127\.0\.0\.1:\d+\/token\?.* within the timeout \(--timeout\)/,
      ],
    ]
    for (const [what, tokenHandler, reason] of tokenCases) {
      it(`fails in one line on ${what}`, async () => {
        const tokens = await hostile(tokenHandler)
        const registry = await hostile(bearerRegistry(() => `${tokens.origin}/token`))
        const result = await login(registry.host)
        expectOneLineFailure(result, registry.host, reason)
        // A token GET is safe to repeat: a broken connection is retried (--retries, default 3), nothing else is.
        const broken = what === 'a truncated body' || what === 'a connection reset'
        expect(tokens.requests).to.have.length(broken ? 4 : 1)
      })
    }
  })

  describe('where credentials may go', () => {
    it('never sends a token request to a plain-HTTP realm for an HTTPS registry', async () => {
      const tokens = await hostile((_request, response) => response.end('{"token":"good-token"}'))
      const registry = await hostile(bearerRegistry(() => `${tokens.origin}/token`), {tls: true})
      const result = await login(registry.host, ['--ca-file', sharedPki().caFile])
      expectOneLineFailure(result, registry.host, `the registry's token realm ${tokens.origin} is not HTTPS; credentials for an HTTPS registry are never sent over plain HTTP`)
      expect(tokens.requests).to.have.length(0)
    })

    it('refuses a realm on another internal address than the registry\'s own', async () => {
      const tokens = await hostile((_request, response) => response.end('{"token":"good-token"}'), {address: '127.0.0.2'})
      const registry = await hostile(bearerRegistry(() => `${tokens.origin}/token`))
      const result = await login(registry.host)
      expectOneLineFailure(result, registry.host, `the registry's token realm ${tokens.host} is a loopback, private or link-local address other than the registry's own host; refusing to use it`)
      expect(tokens.requests).to.have.length(0)
    })

    it('accepts a realm on the registry\'s own host (the real token registry does this)', async () => {
      const registry = await tokenRegistry()
      const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: {DOCKER_CONFIG: dockerConfig()}, stdin: USERS.alice.password})
      expect(result.code, result.stderr).to.equal(0)
    })

    it('drops Authorization on a redirect to another origin', async () => {
      const elsewhere = await hostile((_request, response) => {
        response.writeHead(200, {'content-type': 'application/json'})
        response.end('{}')
      })
      const registry = await hostile((request, response) => {
        if (!request.headers.authorization) {
          response.writeHead(401, {'www-authenticate': 'Basic realm="r"'})
          response.end()
          return
        }

        response.writeHead(307, {location: `${elsewhere.origin}/v2/`})
        response.end()
      })
      const result = await login(registry.host)
      expect(registry.requests.filter((r) => r.headers.authorization)).to.have.length(1)
      expect(elsewhere.requests).to.have.length(1)
      expect(elsewhere.requests[0].headers).not.to.have.property('authorization')
      expectNoSecrets(result, [PASSWORD])
    })

    it('keeps Authorization on a redirect within the same origin', async () => {
      const registry = await hostile((request, response) => {
        if (!request.headers.authorization) {
          response.writeHead(401, {'www-authenticate': 'Basic realm="r"'})
          response.end()
        } else if (request.url === '/v2/') {
          response.writeHead(301, {location: '/v2/moved'})
          response.end()
        } else {
          response.writeHead(200)
          response.end('{}')
        }
      })
      const result = await login(registry.host)
      expect(result.code, result.stderr).to.equal(0)
      expect(registry.requests.at(-1)).to.deep.include({url: '/v2/moved'})
      expect(registry.requests.at(-1)?.headers.authorization).to.match(/^Basic /)
    })

    it('stops a redirect loop', async () => {
      const registry = await hostile((request, response) => {
        response.writeHead(302, {location: request.url === '/v2/' ? '/v2/a' : '/v2/'})
        response.end()
      })
      expectOneLineFailure(await login(registry.host), registry.host, `too many redirects (more than 5) from http://${registry.host}/v2/`)
      expect(registry.requests.length).to.be.at.most(7)
    })
  })

  describe('silence and resets from the registry itself', () => {
    it('times out on a registry that accepts the connection and never answers', async () => {
      const registry = await hostile(() => {
        /* never answers */
      })
      const started = Date.now()
      const result = await login(registry.host, ['--timeout', '1'])
      expectOneLineFailure(result, registry.host, `no answer from http://${registry.host}/v2/ within the timeout (--timeout)`)
      expect(Date.now() - started).to.be.below(10_000)
    })

    it('reports a reset connection', async () => {
      const registry = await hostile((request) => request.socket.destroy())
      expectOneLineFailure(await login(registry.host), registry.host, /socket hang up|ECONNRESET|does not speak TLS/)
    })

    it('rejects a --timeout that is not a positive number (exit 2)', async () => {
      const result = await runCli(['auth', 'logout', '-r', 'r.example', '--timeout', '-1'])
      expect(result.code).to.equal(2)
      expect(result.stderr).to.equal('Error: --timeout expects a positive number of seconds (see --help)\n')
      const twice = await runCli(['auth', 'logout', '-r', 'r.example', '--timeout', '1', '--timeout', '2'])
      expect(twice.code).to.equal(2)
      expect(twice.stderr).to.equal('Error: Flag --timeout can only be specified once (see --help)\n')
    })
  })
})

describe('hardening: hostile credential helpers', () => {
  const bin = mkdtempSync(join(tmpdir(), 'regshape-helpers-'))
  const scripts: Record<string, string> = {
    // Exits non-zero with its message on stdout, as helpers do.
    failing: '#!/bin/sh\ncat >/dev/null\necho "the keychain is locked"\nexit 3\n',
    // Prints garbage where JSON belongs.
    garbage: '#!/bin/sh\ncat >/dev/null\nif [ "$1" = get ]; then echo "%%% not json %%%"; fi\nexit 0\n',
    // Never answers.
    hanging: '#!/bin/sh\nexec sleep 60\n',
  }
  for (const [name, script] of Object.entries(scripts)) writeFileSync(join(bin, `docker-credential-${name}`), script, {mode: 0o755})

  const env = (helper: string, registry: string) => {
    const directory = dockerConfig()
    writeFileSync(join(directory, 'config.json'), JSON.stringify({credHelpers: {[registry]: helper}}))
    return {DOCKER_CONFIG: directory, PATH: `${bin}:${process.env.PATH}`}
  }

  it('a helper that exits non-zero: its message, one line, exit 1', async () => {
    const registry = await basicRegistry()
    const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {env: env('failing', registry.host), stdin: USERS.alice.password})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.equal('Error: Could not store credentials: docker-credential-failing store failed: the keychain is locked\n')
    const ping = await runCli(['ping', registry.host], {env: env('failing', registry.host)})
    expect(ping.code).to.equal(1)
    expect(ping.stderr).to.equal('Error: docker-credential-failing get failed: the keychain is locked\n')
  })

  it('a helper that prints garbage: described, never echoed', async () => {
    const registry = await basicRegistry()
    const result = await runCli(['auth', 'status', '-r', registry.host], {env: env('garbage', registry.host)})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.match(/^Error: Could not read stored credentials: docker-credential-garbage get returned output that is not JSON \(\d+ bytes\)\n$/)
    expect(result.stderr).not.to.include('%%%')
  })

  it('a helper that hangs: stopped after --timeout', async () => {
    const registry = await basicRegistry()
    const started = Date.now()
    const result = await runCli(['auth', 'logout', '-r', registry.host, '--timeout', '1'], {env: env('hanging', registry.host), timeoutMs: 15_000})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.equal('Error: Could not remove credentials: docker-credential-hanging list did not answer within 1 s (--timeout)\n')
    expect(Date.now() - started).to.be.below(10_000)
  })
})
