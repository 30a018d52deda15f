import {expect} from 'chai'

import {parseRegistry} from '../../../src/reference/registry.js'
import {Transport} from '../../../src/transport/transport.js'
import {type Handler, type HostileServer, startHostile} from '../../helpers/hostile.js'
import {rejection} from './helpers.js'

/**
 * --timeout on a stream (registry.md §1): it bounds connecting, redirects and the wait for the
 * headers, then each wait for the next bytes; it never cuts a transfer that keeps moving. The
 * servers here stand for slow links and dead peers, which distribution never produces on loopback.
 */
describe('transport: --timeout on streamed bodies', () => {
  const clients: Transport[] = []
  const servers: HostileServer[] = []
  async function setup(handler: Handler, timeoutMs = 1000) {
    const server = await startHostile(handler)
    servers.push(server)
    const client = await Transport.create({retries: 0, timeoutMs})
    clients.push(client)
    const open = () => client.stream(parseRegistry(`http://${server.host}`), {method: 'GET', operation: 'blob.get', path: '/v2/a/blobs/sha256:x'}, async () => undefined)
    return {open, server}
  }

  async function drain(body: NodeJS.ReadableStream): Promise<number> {
    let bytes = 0
    for await (const chunk of body) bytes += (chunk as Buffer).length
    return bytes
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    for (const s of servers.splice(0)) await s.close()
  })

  it('lets a slow but steady transfer run longer than --timeout', async () => {
    // A slow link: 16 KiB every 200 ms for about 2.4 s, against a timeout of 1 s.
    const {open} = await setup((_request, response) => {
      response.writeHead(200, {'content-length': String(12 * 16 * 1024), 'content-type': 'application/octet-stream'})
      let sent = 0
      const timer = setInterval(() => {
        response.write(Buffer.alloc(16 * 1024, sent))
        if (++sent === 12) {
          clearInterval(timer)
          response.end()
        }
      }, 200)
    })
    const started = Date.now()
    const response = await open()
    expect(await drain(response.body)).to.equal(12 * 16 * 1024)
    expect(Date.now() - started).to.be.above(2000)
  })

  it('fails a transfer that stalls for --timeout, fast and in one line', async () => {
    // A dead peer: some bytes, then nothing, the connection left open.
    const {open} = await setup((_request, response) => {
      response.writeHead(200, {'content-length': String(10 * 1024 * 1024)})
      response.write(Buffer.alloc(64 * 1024))
    })
    const response = await open()
    const started = Date.now()
    const error = await rejection(drain(response.body))
    expect(Date.now() - started).to.be.below(2500)
    expect(error.message).to.match(/^the transfer from http:\/\/127\.0\.0\.1:\d+\/v2\/a\/blobs\/sha256:x stalled: no data for 1 s \(--timeout\)$/)
  })

  it('does not count a reader that pauses for longer than --timeout as a stall', async () => {
    // The data is all there at once; the reader takes its time (a slow disk, a full pipe).
    const {open} = await setup((_request, response) => {
      response.writeHead(200, {'content-length': String(4 * 1024 * 1024)})
      response.end(Buffer.alloc(4 * 1024 * 1024, 7))
    })
    const response = await open()
    let bytes = 0
    let paused = false
    for await (const chunk of response.body) {
      bytes += (chunk as Buffer).length
      if (!paused) {
        paused = true
        await new Promise((resolvePromise) => setTimeout(resolvePromise, 2000))
      }
    }

    expect(bytes).to.equal(4 * 1024 * 1024)
  })

  it('bounds the wait for the headers with the deadline', async () => {
    // Accepts the request and never answers.
    const {open} = await setup(() => {})
    const started = Date.now()
    const error = await rejection(open())
    expect(Date.now() - started).to.be.below(2500)
    expect(error.message).to.match(/^no answer from http:\/\/127\.0\.0\.1:\d+\/v2\/a\/blobs\/sha256:x within the timeout \(--timeout\)$/)
  })

  it('fails a body cut short of its Content-Length, rather than ending it quietly', async () => {
    // A peer that dies mid-transfer.
    const {open} = await setup((_request, response) => {
      response.writeHead(200, {'content-length': String(1024 * 1024)})
      response.write(Buffer.alloc(256 * 1024))
      setTimeout(() => response.socket?.destroy(), 50)
    })
    const response = await open()
    const error = await rejection(drain(response.body))
    expect(error.message).not.to.include('\n')
    expect(error.message).to.match(/aborted|ECONNRESET|socket hang up|closed/i)
  })
})
