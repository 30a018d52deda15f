/**
 * Run by stream.test.ts in a child process, so that what it measures is this process alone: it
 * reads one blob from a real registry, through stream() (or, with MODE=buffer, through request(),
 * as a control that shows the measure would catch a buffered body), hashes it on the way, and
 * prints {bytes, digest, growth} as JSON, growth being the peak RSS above the level after warm-up.
 *
 * RSS is sampled after a forced GC every 4 MiB: what is measured is memory the process holds, not
 * chunks already dropped that V8 has not collected yet (it lets tens of MiB of dead Buffers pile
 * up before a GC, which says nothing about the code). A body held whole survives any GC.
 */
import {createHash} from 'node:crypto'
import {Writable} from 'node:stream'
import {finished, pipeline} from 'node:stream/promises'

import {parseRegistry} from '../../../src/reference/registry.js'
import {Transport} from '../../../src/transport/transport.js'

const {BLOB_DIGEST, MODE, REGISTRY_HOST, REGISTRY_PASSWORD, REGISTRY_USER, REPOSITORY} = process.env as Record<string, string>
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')
const client = await Transport.create({})
const ref = parseRegistry(REGISTRY_HOST)
const credentials = async () => ({password: REGISTRY_PASSWORD, username: REGISTRY_USER})
const request = {method: 'GET' as const, operation: 'blob.get', path: `/v2/${REPOSITORY}/blobs/${BLOB_DIGEST}`, scope: `repository:${REPOSITORY}:pull`}
// Warm-up: got loaded, the connection open, the challenge known, so none of that counts.
await client.request(ref, {method: 'GET', path: '/v2/'}, credentials)
await finished((await client.stream(ref, {...request, method: 'HEAD'}, credentials)).body.resume())
globalThis.gc?.()
const baseline = process.memoryUsage.rss()
let peak = baseline
const hash = createHash('sha256')
let bytes = 0
const sample = () => {
  globalThis.gc?.()
  const rss = process.memoryUsage.rss()
  if (rss > peak) peak = rss
}

if (MODE === 'buffer') {
  const response = await client.request(ref, {...request, maxBodyBytes: 1024 * 1024 * 1024}, credentials)
  sample()
  hash.update(response.body)
  bytes = response.body.length
} else {
  const response = await client.stream(ref, request, credentials)
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`)
  await pipeline(
    response.body,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        if (Math.floor((bytes + chunk.length) / (4 * 1024 * 1024)) > Math.floor(bytes / (4 * 1024 * 1024))) sample()
        bytes += chunk.length
        callback()
      },
    }),
  )
}

client.close()
process.stdout.write(JSON.stringify({bytes, digest: `sha256:${hash.digest('hex')}`, growth: peak - baseline}))
