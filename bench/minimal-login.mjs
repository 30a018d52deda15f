#!/usr/bin/env node
// The platform's limit for a registry login: what Node itself needs to do the same work as
// `regshape auth login --password-stdin`, with no framework and no dependencies.
//
//   node bench/minimal-login.mjs HOST:PORT USERNAME [--https-first] < password
//
// Same requests: GET /v2/ -> 401 challenge -> Basic retry, or -> GET realm?service&account with
// Basic credentials -> GET /v2/ with the Bearer token; one keep-alive agent per scheme.
// Same storage: $DOCKER_CONFIG/config.json (else ~/.docker/config.json) is read before any
// password is sent, the base64 `user:password` entry goes into `auths`, and the file is replaced
// atomically (temp file in the same directory, mode 0600, fsync, rename), tab-indented as Docker does.
// It talks plain HTTP straight away; --https-first first tries HTTPS and falls back to HTTP when the
// server does not speak TLS, as regshape does for loopback registries, to price that probe alone.
import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {mkdir, open, readFile, rename} from 'node:fs/promises'
import {Agent, request as httpRequest} from 'node:http'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'

const [host, username, ...rest] = process.argv.slice(2)
if (!host || !username) {
  process.stderr.write('usage: minimal-login.mjs HOST:PORT USERNAME [--https-first] < password\n')
  process.exit(2)
}

const httpsFirst = rest.includes('--https-first')
const agents = {http: new Agent({keepAlive: true})}

function get(url, headers = {}) {
  return new Promise((resolvePromise, reject) => {
    const target = new URL(url)
    const send = target.protocol === 'https:' ? agents.httpsRequest : httpRequest
    const req = send(target, {agent: agents[target.protocol.slice(0, -1)], headers: {'user-agent': 'minimal-login', ...headers}, method: 'GET'})
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolvePromise({body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, status: res.statusCode}))
      res.on('error', reject)
    })
    req.end()
  })
}

function readStdin() {
  return new Promise((resolvePromise, reject) => {
    const chunks = []
    process.stdin.on('data', (c) => chunks.push(c))
    process.stdin.on('end', () => resolvePromise(Buffer.concat(chunks).toString('utf8').replace(/(\r\n|\n|\r)$/, '')))
    process.stdin.on('error', reject)
  })
}

/** `Bearer realm="…",service="…"` -> {scheme: 'bearer', params: {...}}; enough for a registry's challenge. */
function parseChallenge(value) {
  const match = /^(\w+)\s*(.*)$/s.exec(value ?? '')
  if (!match) return undefined
  const params = {}
  for (const [, key, quoted, bare] of match[2].matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) params[key.toLowerCase()] = quoted ?? bare
  return {params, scheme: match[1].toLowerCase()}
}

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`

const configPath = process.env.DOCKER_CONFIG ? resolve(process.env.DOCKER_CONFIG, 'config.json') : join(homedir(), '.docker', 'config.json')

async function main() {
  const password = await readStdin()
  // Read (and parse) the config before a password is sent anywhere, as regshape does.
  let config = {}
  try {
    const text = await readFile(configPath, 'utf8')
    if (text.trim() !== '') config = JSON.parse(text)
  } catch (error) {
    if (error.code !== 'ENOENT') throw error
  }

  let base = `http://${host}`
  let first
  if (httpsFirst) {
    const https = await import('node:https')
    agents.https = new https.Agent({keepAlive: true})
    agents.httpsRequest = https.request
    try {
      first = await get(`https://${host}/v2/`)
      base = `https://${host}`
    } catch (error) {
      if (error.code !== 'EPROTO' && error.code !== 'ERR_SSL_WRONG_VERSION_NUMBER') throw error
    }
  }

  first ??= await get(`${base}/v2/`)
  if (first.status !== 401) throw new Error(`expected a 401 challenge, got ${first.status}`)
  const challenge = parseChallenge(first.headers['www-authenticate'])
  let authorization
  if (challenge?.scheme === 'basic') {
    authorization = basic(username, password)
  } else if (challenge?.scheme === 'bearer') {
    const tokenUrl = new URL(challenge.params.realm)
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service)
    if (challenge.params.scope) tokenUrl.searchParams.append('scope', challenge.params.scope)
    tokenUrl.searchParams.set('account', username)
    const tokenResponse = await get(tokenUrl.toString(), {authorization: basic(username, password)})
    if (tokenResponse.status !== 200) throw new Error(`token server answered ${tokenResponse.status}`)
    const body = JSON.parse(tokenResponse.body)
    authorization = `Bearer ${body.access_token || body.token}`
  } else {
    throw new Error('no Basic or Bearer challenge')
  }

  const second = await get(`${base}/v2/`, {authorization})
  if (second.status !== 200) throw new Error(`login rejected: ${second.status}`)

  config.auths ??= {}
  config.auths[host] = {...config.auths[host], auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}
  const directory = dirname(configPath)
  await mkdir(directory, {mode: 0o700, recursive: true})
  const temporary = join(directory, `.config.json.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  try {
    await handle.writeFile(JSON.stringify(config, null, '\t'), 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }

  await rename(temporary, configPath)
  process.stdout.write('Login succeeded.\n')
}

try {
  await main()
} catch (error) {
  process.stderr.write(`Error: ${error.message}\n`)
  process.exitCode = 1
} finally {
  agents.http.destroy()
  agents.https?.destroy()
}
