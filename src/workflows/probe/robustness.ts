import {randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'

import {Repository} from '../../registry/repository.js'
import {urls} from '../../registry/urls.js'
import {type Level, type Outcome, SPEC, type SpecRef, codeText, digestOf, fail, header, pass, skip} from './case.js'
import type {ProbeCase, ProbeContext} from './context.js'

/**
 * Robustness: the same blob pushed by 10 clients at once, 20 uploads in parallel, a large blob
 * round-tripped (--large-blob-size), and what the registry does under 429.
 */

const robust = (name: string, level: Level, spec: SpecRef, writes: boolean, request: string, expected: string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({area: 'robustness', expected, level, name, request, run, spec, writes})

/** POST then PUT of `bytes`: the status of the PUT (or of the POST, when it opened no session). */
async function upload(context: ProbeContext, bytes: Buffer): Promise<number> {
  const opened = await context.send({headers: {'content-length': '0'}, method: 'POST', operation: 'blob.upload', path: urls.uploads(context.repository)})
  if (opened.status !== 202) return opened.status
  const session = context.sessionPath(opened)
  const digest = digestOf(bytes)
  const put = await context.send({body: bytes, headers: {'content-type': 'application/octet-stream'}, method: 'PUT', operation: 'blob.upload', path: `${session}${session.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`})
  if (put.status === 201) context.createdBlob(digest)
  else await context.cancel(session)
  return put.status
}

/** Every blob must be there and whole: a HEAD with its size, and its bytes hashing to its digest. */
async function intact(context: ProbeContext, bytes: Buffer): Promise<void> {
  const digest = digestOf(bytes)
  const response = await context.send({method: 'GET', operation: 'blob.get', path: urls.blob(context.repository, digest)})
  if (response.status !== 200) fail(`${digest} answers ${response.status}${codeText(response)} after its upload`, response)
  if (digestOf(response.body) !== digest) fail(`${digest} reads back as other bytes`, response)
}

function tally(statuses: number[]): string {
  const counts = new Map<number, number>()
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1)
  return [...counts].map(([status, count]) => `${count}× ${status}`).join(', ')
}

/**
 * The large blob's bytes, made again for each reading from a seed: the same bytes every time,
 * never held whole, whatever --large-blob-size says.
 */
function generated(size: number, seed: Buffer): () => Readable {
  return () => {
    let offset = 0
    let counter = 0
    return new Readable({
      read() {
        if (offset >= size) {
          this.push(null)
          return
        }

        const length = Math.min(1024 * 1024, size - offset)
        // A 1 MiB block from the seed and its number: cheap, and the same on every reading.
        const block = Buffer.allocUnsafe(length)
        const base = Buffer.concat([seed, Buffer.from(String(counter++))])
        for (let at = 0; at < length; at += base.length) base.copy(block, at, 0, Math.min(base.length, length - at))
        block.writeUInt32BE(counter, 0)
        offset += length
        this.push(block)
      },
    })
  }
}

export const ROBUSTNESS: ProbeCase[] = [
  robust('robust-same-blob-concurrent', 'SHOULD', SPEC.push, true, 'the same 64 KiB blob pushed by 10 clients at once (POST then PUT each)', 'every upload 201, and the blob whole', async (context) => {
    const bytes = randomBytes(64 * 1024)
    const statuses = await Promise.all(Array.from({length: 10}, () => upload(context, bytes)))
    if (statuses.some((status) => status !== 201)) fail(`the uploads answered ${tally(statuses)}`)
    await intact(context, bytes)
    return {detail: tally(statuses), verdict: 'pass'}
  }),
  robust('robust-parallel-uploads', 'SHOULD', SPEC.push, true, '20 different 16 KiB blobs uploaded in parallel', 'every upload 201, every blob whole', async (context) => {
    const blobs = Array.from({length: 20}, () => randomBytes(16 * 1024))
    const statuses = await Promise.all(blobs.map((bytes) => upload(context, bytes)))
    if (statuses.some((status) => status !== 201)) fail(`the uploads answered ${tally(statuses)}`)
    await Promise.all(blobs.map((bytes) => intact(context, bytes)))
    return {detail: tally(statuses), verdict: 'pass'}
  }),
  robust('robust-large-blob', 'SHOULD', SPEC.push, true, 'a large blob (--large-blob-size, 64 MiB by default) pushed in one stream, then read back', '201, and the same bytes back', async (context) => {
    const size = context.settings.largeBlobBytes
    const repository = new Repository(context.access, context.repository)
    const read = generated(size, randomBytes(32))
    const started = performance.now()
    const uploaded = await repository.uploadBlob({name: 'the large blob', read, seekable: false, size}, {chunkSize: 0, chunked: false})
    context.createdBlob(uploaded.digest)
    const up = (performance.now() - started) / 1000
    const download = await repository.getBlob(uploaded.digest)
    let received = 0
    for await (const chunk of download.body) received += (chunk as Buffer).length
    if (received !== size) fail(`read back ${received} bytes of ${size}`)
    const down = (performance.now() - started) / 1000 - up
    return {detail: `${(size / 1024 / 1024).toFixed(1)} MiB: up in ${up.toFixed(1)} s, down (digest checked) in ${down.toFixed(1)} s`, got: {status: 201}, verdict: 'pass'}
  }),
  robust('robust-rate-limit', 'SHOULD', SPEC.rateLimit, false, '200 HEADs of a manifest, 20 at a time, until a 429', 'a 429 carries Retry-After', async (context) => {
    const {manifest} = await context.fixture()
    const path = urls.manifest(context.repository, manifest.digest)
    for (let sent = 0; sent < 200; sent += 20) {
      const batch = await Promise.all(Array.from({length: 20}, () => context.send({headers: {accept: manifest.mediaType}, method: 'HEAD', operation: 'manifest.head', path})))
      const limited = batch.find((response) => response.status === 429)
      if (!limited) continue
      const retryAfter = header(limited, 'retry-after')
      if (retryAfter === undefined) fail(`a 429 after ${sent + 20} requests, without Retry-After`, limited)
      if (!/^\d+$/.test(retryAfter) && Number.isNaN(Date.parse(retryAfter))) fail(`a 429 whose Retry-After (${JSON.stringify(retryAfter)}) is neither seconds nor a date`, limited)
      return pass(limited, `429 after ${sent + 20} requests, Retry-After: ${retryAfter}`)
    }

    skip('no 429 in 200 requests: the registry did not limit this rate')
  }),
]
