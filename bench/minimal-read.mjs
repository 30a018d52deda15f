#!/usr/bin/env node
// The platform's limit for a registry read: what Node itself needs to do the same work as
// `regshape manifest get`, `regshape tag list` and `regshape blob get -o FILE`, with no framework
// and no dependencies.
//
//   node bench/minimal-read.mjs HOST:PORT manifest REPOSITORY TAG   [--https-first]
//   node bench/minimal-read.mjs HOST:PORT tags     REPOSITORY       [--https-first]
//   node bench/minimal-read.mjs HOST:PORT blob     REPOSITORY DIGEST FILE [--https-first] [--no-verify]
//
// Same credentials: the `auths` entry for HOST:PORT in $DOCKER_CONFIG/config.json (else
// ~/.docker/config.json), read and parsed as regshape does. Same requests: the GET without
// credentials -> 401 Basic challenge -> the same GET with Basic; tags follow `Link` until there is
// none. Same checks: the manifest must hash to the registry's Docker-Content-Digest and is printed
// re-indented by 2 spaces; the blob is hashed as it streams, to a temporary file beside FILE that
// is renamed over FILE once the digest matched. One keep-alive agent per scheme.
// --https-first first tries HTTPS and falls back to HTTP when the server does not speak TLS, as
// regshape does for loopback registries, to price that probe alone. --no-verify skips the blob's
// digest check (nothing else), to price what Node's http and fs streams alone cost next to curl.
import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {readFile, rename, rm} from 'node:fs/promises'
import {Agent, request as httpRequest} from 'node:http'
import {homedir} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'

const argv = process.argv.slice(2)
const httpsFirst = argv.includes('--https-first')
const verify = !argv.includes('--no-verify')
const [host, mode, repository, reference, file] = argv.filter((a) => a !== '--https-first' && a !== '--no-verify')
if (!host || !repository || !['blob', 'manifest', 'tags'].includes(mode) || (mode !== 'tags' && !reference) || (mode === 'blob' && !file)) {
  process.stderr.write('usage: minimal-read.mjs HOST:PORT manifest REPO TAG | tags REPO | blob REPO DIGEST FILE [--no-verify] [--https-first]\n')
  process.exit(2)
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

const agents = {http: new Agent({keepAlive: true})}

/** Resolves with the response, unread, so that a blob can stream. */
function open(url, headers = {}) {
  return new Promise((resolvePromise, reject) => {
    const target = new URL(url)
    const send = target.protocol === 'https:' ? agents.httpsRequest : httpRequest
    const req = send(target, {agent: agents[target.protocol.slice(0, -1)], headers: {'user-agent': 'minimal-read', ...headers}, method: 'GET'})
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.on('response', resolvePromise)
    req.end()
  })
}

async function text(response) {
  const chunks = []
  for await (const chunk of response) chunks.push(chunk)
  return Buffer.concat(chunks)
}

const configPath = process.env.DOCKER_CONFIG ? resolve(process.env.DOCKER_CONFIG, 'config.json') : join(homedir(), '.docker', 'config.json')

async function authorization() {
  const config = JSON.parse(await readFile(configPath, 'utf8'))
  const auth = config.auths?.[host]?.auth
  if (!auth) throw new Error(`no credentials for ${host} in ${configPath}`)
  return `Basic ${auth}`
}

let base = `http://${host}`

/** GET without credentials; on a 401 Basic challenge, the same GET with them (as regshape does). */
async function get(path, headers = {}) {
  const first = await open(`${base}${path}`, headers)
  if (first.statusCode !== 401) return first
  await text(first)
  if (!/^basic\b/i.test(first.headers['www-authenticate'] ?? '')) throw new Error('expected a Basic challenge')
  return open(`${base}${path}`, {...headers, authorization: await authorization()})
}

async function expectOk(response, what) {
  if (response.statusCode === 200) return
  throw new Error(`${what}: HTTP ${response.statusCode} ${(await text(response)).toString('utf8').slice(0, 200)}`)
}

async function manifest() {
  const response = await get(`/v2/${repository}/manifests/${reference}`, {accept: MANIFEST_ACCEPT})
  await expectOk(response, 'manifest')
  const bytes = await text(response)
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  if (digest !== response.headers['docker-content-digest']) throw new Error(`digest mismatch: ${digest}`)
  process.stdout.write(`${JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)}\n`)
}

async function tags() {
  let path = `/v2/${repository}/tags/list`
  const all = []
  for (;;) {
    const response = await get(path)
    await expectOk(response, 'tags')
    all.push(...(JSON.parse((await text(response)).toString('utf8')).tags ?? []))
    const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.headers.link ?? '')
    if (!next) break
    const url = new URL(next[1], `${base}${path}`)
    path = `${url.pathname}${url.search}`
  }

  process.stdout.write(all.map((t) => `${t}\n`).join(''))
}

async function blob() {
  const response = await get(`/v2/${repository}/blobs/${reference}`)
  await expectOk(response, 'blob')
  const target = resolve(file)
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`)
  const hash = createHash('sha256')
  let size = 0
  const digester = new Transform({
    transform(chunk, _encoding, callback) {
      if (verify) hash.update(chunk)
      size += chunk.length
      callback(null, chunk)
    },
  })
  try {
    await pipeline(response, digester, createWriteStream(temporary, {flags: 'wx'}))
    const digest = `sha256:${hash.digest('hex')}`
    if (verify && digest !== reference) throw new Error(`digest mismatch: ${digest}`)
    if (response.headers['content-length'] !== undefined && Number(response.headers['content-length']) !== size) throw new Error('size mismatch')
    await rename(temporary, target)
  } catch (error) {
    await rm(temporary, {force: true})
    throw error
  }

  process.stdout.write(`${JSON.stringify({digest: reference, content_type: response.headers['content-type'] ?? null, size}, null, 2)}\n`)
}

try {
  if (httpsFirst) {
    const https = await import('node:https')
    agents.https = new https.Agent({keepAlive: true})
    agents.httpsRequest = https.request
    try {
      await text(await open(`https://${host}/v2/`))
      base = `https://${host}`
    } catch (error) {
      if (error.code !== 'EPROTO' && error.code !== 'ERR_SSL_WRONG_VERSION_NUMBER') throw error
    }
  }

  await {blob, manifest, tags}[mode]()
} catch (error) {
  process.stderr.write(`Error: ${error.message}\n`)
  process.exitCode = 1
} finally {
  agents.http.destroy()
  agents.https?.destroy()
}
