import {expect} from 'chai'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {basicRegistry, basicTlsRegistry, passHelper, tokenTlsRegistry, USERS} from '../fixtures/servers.js'
import {type CliResult, expectNoSecrets, runCli} from '../helpers/cli.js'
import {startHostile} from '../helpers/hostile.js'

const {alice, bob} = USERS
const TELEMETRY = ['--time-methods', '--time-scenarios', '--debug-calls']

function configWith(data: unknown): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
  writeFileSync(join(directory, 'config.json'), JSON.stringify(data))
  return directory
}

interface ScenarioStep {
  ms: number
  name: string
  ok: boolean
  steps: ScenarioStep[]
}

type Event = Record<string, any> & {type: string}

/** The JSON-lines events on stderr; every stderr line that starts with `{` must be one. */
function eventsOf(result: CliResult): Event[] {
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Event)
}

function expectPlausible(ms: unknown): void {
  expect(ms).to.be.a('number')
  expect(ms as number).to.be.at.least(0).and.below(30_000)
}

function flatten(step: ScenarioStep, depth = 0): string[] {
  expectPlausible(step.ms)
  const childTotal = step.steps.reduce((sum, child) => sum + child.ms, 0)
  // Children run inside their parent: together they cannot take longer than it (allow rounding).
  expect(childTotal, `steps of ${step.name}`).to.be.at.most(step.ms + 0.5)
  return [`${'  '.repeat(depth)}${step.name}`, ...step.steps.flatMap((child) => flatten(child, depth + 1))]
}

/** Runs one path twice, text and --json, and returns both, after the checks every path shares. */
async function runBoth(args: string[], options: () => {env: NodeJS.ProcessEnv; stdin?: string}, secrets: () => string[]) {
  const text = await runCli([...args, ...TELEMETRY], options())
  const json = await runCli(['--json', ...args, ...TELEMETRY], options())
  for (const result of [text, json]) expectNoSecrets(result, secrets())
  // stdout under --json is exactly one JSON document; telemetry stays on stderr.
  expect(() => JSON.parse(json.stdout), json.stdout).not.to.throw()
  expect(json.stdout.trim().split('\n')).to.have.length(1)
  for (const line of json.stderr.split('\n').filter(Boolean)) {
    if (line.startsWith('WARNING!') || line.startsWith('Error:')) continue
    expect(() => JSON.parse(line), `stderr line is not JSON: ${line}`).not.to.throw()
  }

  return {events: eventsOf(json), json, text}
}

function scenarioOf(events: Event[]): ScenarioStep {
  const scenarios = events.filter((event) => event.type === 'scenario')
  expect(scenarios).to.have.length(1)
  return scenarios[0] as unknown as ScenarioStep
}

function httpCalls(events: Event[]): string[] {
  return events.filter((event) => event.type === 'http').map((event) => `${event.method} ${new URL(event.url).pathname} ${event.status}`)
}

describe('telemetry: --time-methods, --time-scenarios, --debug-calls', () => {
  it('Basic login: ping, challenge, credentials, retry, persist; Authorization masked', async () => {
    const registry = await basicTlsRegistry()
    const {events, json, text} = await runBoth(
      ['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '-u', 'alice', '--password-stdin'],
      () => ({env: {DOCKER_CONFIG: configWith({})}, stdin: alice.password}),
      () => [alice.password, Buffer.from(`alice:${alice.password}`).toString('base64')],
    )
    expect(json.code).to.equal(0)
    expect(httpCalls(events)).to.deep.equal(['GET /v2/ 401', 'GET /v2/ 200'])
    const [unauthenticated, authenticated] = events.filter((event) => event.type === 'http')
    expect(unauthenticated.request_headers).not.to.have.property('authorization')
    expect(authenticated.request_headers.authorization).to.equal('Basic ***')
    expect(authenticated.request_headers.host).to.equal(registry.host)
    expect(authenticated.url).to.equal(`https://${registry.host}/v2/`)
    expect(authenticated.bytes_received).to.equal(2)
    expectPlausible(authenticated.ms)
    expect(events.filter((event) => event.type === 'method').map((event) => event.name)).to.deep.equal([
      'config read',
      `tls probe ${registry.host}`,
      'registry GET /v2/',
      'config read',
      'config write',
    ])
    for (const event of events.filter((e) => e.type === 'method')) expectPlausible(event.ms)
    const scenario = scenarioOf(events)
    expect(scenario.name).to.equal('auth login')
    expect(flatten(scenario)).to.deep.equal([
      'auth login',
      '  resolve input',
      '  verify',
      '    start http client',
      '    ping',
      '    challenge',
      '    credentials',
      '    retry',
      '  persist',
      '    select store',
      '    save',
    ])
    // The same in text form: curl -v-like blocks, method lines, an indented tree.
    expect(text.stderr).to.include(`* GET https://${registry.host}/v2/\n`)
    expect(text.stderr).to.include('> authorization: Basic ***\n')
    expect(text.stderr).to.include('< HTTP 401 Unauthorized\n')
    expect(text.stderr).to.include(`< www-authenticate: Basic realm="${registry.realm}"\n`)
    expect(text.stderr).to.match(/^\[method\] registry GET \/v2\/ \d+\.\d ms$/m)
    expect(text.stderr).to.match(/^\[scenario\] auth login \d+\.\d ms\n\[scenario\] {3}resolve input \d+\.\d ms$/m)
    expect(text.stdout).to.equal('Login succeeded.\n')
  })

  it('Bearer login: the token server call is shown, its tokens masked', async () => {
    const registry = await tokenTlsRegistry()
    const {events, json} = await runBoth(
      ['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '-u', bob.username, '--password-stdin'],
      () => ({env: {DOCKER_CONFIG: configWith({})}, stdin: bob.password}),
      () => [bob.password, Buffer.from(`bob:${bob.password}`).toString('base64'), ...registry.tokenServer.issuedTokens],
    )
    expect(json.code).to.equal(0)
    expect(httpCalls(events)).to.deep.equal(['GET /v2/ 401', 'GET /token 200', 'GET /v2/ 200'])
    const token = events.filter((event) => event.type === 'http')[1]
    expect(token.url).to.match(/[?&]account=bob(&|$)/)
    expect(token.url).to.include(`service=${registry.tokenServer.service}`)
    expect(token.request_headers.authorization).to.equal('Basic ***')
    const body = JSON.parse(token.response_body)
    expect(body.token).to.equal('***')
    expect(body.access_token).to.equal('***')
    expect(body.expires_in).to.be.a('number')
    expect(events.filter((event) => event.type === 'method').map((event) => event.name)).to.include.members([`token ${new URL(registry.tokenServer.url).host}`])
    expect(flatten(scenarioOf(events)).filter((line) => line.startsWith('    ')).slice(0, 5)).to.deep.equal([
      '    start http client',
      '    ping',
      '    challenge',
      '    token',
      '    retry',
    ])
  })

  it('anonymous Bearer (ping with nothing stored): an anonymous token, no credentials sent', async () => {
    const registry = await tokenTlsRegistry()
    const {events, json} = await runBoth(['ping', registry.host, '--ca-file', registry.caFile], () => ({env: {DOCKER_CONFIG: configWith({})}}), () => [
      ...registry.tokenServer.issuedTokens,
    ])
    expect(json.code).to.equal(0)
    expect(httpCalls(events)).to.deep.equal(['GET /v2/ 401', 'GET /token 200', 'GET /v2/ 200'])
    expect(events.filter((event) => event.type === 'http')[1].request_headers).not.to.have.property('authorization')
    expect(scenarioOf(events).name).to.equal('ping')
  })

  it('refresh token: the POST form is shown with the refresh token masked', async () => {
    const registry = await tokenTlsRegistry()
    const refreshToken = registry.tokenServer.mintRefreshToken('alice')
    const {events, json} = await runBoth(['ping', registry.host, '--ca-file', registry.caFile], () => ({env: {DOCKER_CONFIG: configWith({auths: {[registry.host]: {identitytoken: refreshToken}}})}}), () => [
      refreshToken,
      ...registry.tokenServer.issuedTokens,
    ])
    expect(json.code).to.equal(0)
    const [grant] = events.filter((event) => event.type === 'http' && event.method === 'POST')
    expect(grant.request_body).to.include('grant_type=refresh_token').and.include('refresh_token=***').and.include('client_id=regshape')
    expect(grant.request_headers['content-type']).to.equal('application/x-www-form-urlencoded')
  })

  it('credential helper: its calls are shown with the Secret masked', async () => {
    const registry = await basicRegistry()
    const pass = await passHelper()
    const directory = configWith({credsStore: 'pass'})
    try {
      const {events, json, text} = await runBoth(
        ['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'],
        () => ({env: {DOCKER_CONFIG: directory, ...pass.env}, stdin: alice.password}),
        () => [alice.password, Buffer.from(`alice:${alice.password}`).toString('base64')],
      )
      expect(json.code).to.equal(0)
      const helperCalls = events.filter((event) => event.type === 'helper')
      expect(helperCalls.map((event) => `${event.helper} ${event.action} ${event.exit_code}`)).to.deep.equal(['pass store 0'])
      expect(JSON.parse(helperCalls[0].input)).to.deep.equal({Secret: '***', ServerURL: registry.host, Username: 'alice'})
      expect(events.filter((event) => event.type === 'method').map((event) => event.name)).to.include('helper pass store')
      expect(text.stderr).to.include(`* docker-credential-pass store < {"ServerURL":"${registry.host}","Username":"alice","Secret":"***"}`)

      const logout = await runCli(['--json', 'auth', 'logout', '-r', registry.host, ...TELEMETRY], {env: {DOCKER_CONFIG: directory, ...pass.env}})
      const logoutEvents = eventsOf(logout)
      expect(flatten(scenarioOf(logoutEvents))).to.deep.equal(['auth logout', '  load config', '  select store', '  erase', '  save'])
      expect(logoutEvents.filter((event) => event.type === 'helper').map((event) => event.action)).to.deep.equal(['list', 'erase'])
    } finally {
      await pass.run('erase', registry.host)
    }
  })

  it('failed login: the steps end failed, the error is the last line, secrets stay hidden', async () => {
    const registry = await basicTlsRegistry()
    const {events, json, text} = await runBoth(
      ['auth', 'login', '-r', registry.host, '--ca-file', registry.caFile, '-u', 'alice', '--password-stdin'],
      () => ({env: {DOCKER_CONFIG: configWith({})}, stdin: 'a-wrong-password'}),
      () => ['a-wrong-password', Buffer.from('alice:a-wrong-password').toString('base64')],
    )
    expect(json.code).to.equal(1)
    expect(JSON.parse(json.stdout)).to.deep.include({error: `Login failed for ${registry.host}: authentication rejected`, status: 'error'})
    expect(httpCalls(events)).to.deep.equal(['GET /v2/ 401', 'GET /v2/ 401'])
    const scenario = scenarioOf(events)
    expect(scenario.ok).to.equal(false)
    expect(scenario.steps.map((step) => `${step.name} ${step.ok}`)).to.deep.equal(['resolve input true', 'verify false'])
    expect(text.code).to.equal(1)
    expect(text.stderr.trimEnd().split('\n').at(-1)).to.equal(`Error: Login failed for ${registry.host}: authentication rejected`)
  })

  it('a redirect to a pre-signed URL: its signature and credential parameters are masked, in Location, the URL and error text', async () => {
    // What object storage puts in a pre-signed URL (S3, Azure SAS, GCS, CloudFront), and generic names.
    const signed: Record<string, string> = {
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIAECHOEXAMPLE7/20240101/us-east-1/s3/aws4_request',
      'X-Amz-Security-Token': 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN',
      'X-Amz-Signature': 'a'.repeat(16) + '0123456789abcdef'.repeat(3),
      sig: 'azureSASsig+value/42=',
      Signature: 'cloudfrontSIGNATURE~value-77',
      'Key-Pair-Id': 'K2JCJMDEHXQW5FEXAMPLE',
      Policy: 'eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHMifV19',
      'x-goog-signature': 'goog5ignature0123456789',
      'X-Goog-Credential': 'gcs-sa@project.iam.gserviceaccount.com/20240101/auto/storage/goog4_request',
      ACCESS_TOKEN: 'generic-access-token-value-31',
    }
    const hidden = Object.entries(signed)
      .filter(([name]) => name !== 'X-Amz-Algorithm')
      .map(([, value]) => value)
    const query = new URLSearchParams(signed).toString()
    const digest = `sha256:${'d'.repeat(64)}`
    // An anonymous registry whose blobs live behind pre-signed URLs (as registries on S3 or GCS
    // answer a blob GET), on its own origin here; the storage refuses the signature and quotes the
    // URL in its error page, and the registry quotes it in a manifest error. distribution serves
    // blobs itself unless configured with a storage redirect, which needs real object storage.
    const server = await startHostile((request, response, self) => {
      if (request.url === '/v2/') {
        response.writeHead(200, {'content-type': 'application/json'})
        response.end('{}')
      } else if (request.url === `/v2/app/blobs/${digest}`) {
        response.writeHead(307, {location: `/storage/app/blob?${query}`})
        response.end()
      } else if (request.url?.startsWith('/storage/')) {
        response.writeHead(403, {'content-type': 'text/plain'})
        response.end(`Request has expired: ${self.origin}${request.url}`)
      } else {
        response.writeHead(500, {'content-type': 'application/json'})
        response.end(JSON.stringify({errors: [{code: 'UNKNOWN', message: `could not read ${self.origin}/storage/app/manifest?${query}`}]}))
      }
    })
    try {
      const env = () => ({env: {DOCKER_CONFIG: configWith({})}})
      const {events, json, text} = await runBoth(['blob', 'get', `${server.host}/app@${digest}`, '-o', '/dev/null'], env, () => hidden)
      expect(json.code).to.equal(1)
      const masked = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Security-Token=***&X-Amz-Signature=***&sig=***&Signature=***&Key-Pair-Id=***&Policy=***&x-goog-signature=***&X-Goog-Credential=***&ACCESS_TOKEN=***'
      expect(text.stderr).to.include(`< location: /storage/app/blob?${masked}\n`)
      expect(text.stderr).to.include(`* GET http://${server.host}/storage/app/blob?${masked}\n`)
      expect(text.stderr).to.include(`< (body) Request has expired: http://${server.host}/storage/app/blob?${masked}\n`)
      const hops = events.filter((event) => event.type === 'http')
      expect(hops.map((event) => event.status)).to.deep.equal([307, 403])
      expect(hops[0].response_headers.location).to.deep.equal([`/storage/app/blob?${masked}`])
      expect(hops[1].url).to.equal(`http://${server.host}/storage/app/blob?${masked}`)

      // The registry's message is cut short in the error (api-error.ts); what is left is masked.
      const quoted = `could not read http://${server.host}/storage/app/manifest?${masked.slice(0, masked.indexOf('&sig='))}`
      const error = await runBoth(['manifest', 'get', `${server.host}/app:latest`], env, () => hidden)
      expect(JSON.parse(error.json.stdout).error).to.include(quoted)
      expect(error.text.stderr).to.include(quoted)
    } finally {
      await server.close()
    }
  })

  it('telemetry code is not even loaded without the flags', async () => {
    const probe = (extra: string[]) =>
      runCli(['auth', 'logout', '-r', 'registry.example.com', ...extra], {env: {DOCKER_CONFIG: configWith({}), NODE_DEBUG: 'module'}})
    // the production build carries the telemetry in a file of its own (scripts/bundle.mjs)
    const loaded = (result: CliResult) => result.stderr.split('\n').filter((line) => /^MODULE \d+: load ".*\/dist\/bundle\/telemetry\.cjs"/.test(line))
    expect(loaded(await probe([]))).to.deep.equal([])
    expect(loaded(await probe(['--time-methods']))).to.have.length.above(0)
  })
})
