/**
 * A counting TCP proxy for the round-trip check: every connection a client opens is recorded
 * with what it carried, then spliced through to the real server unchanged.
 *
 * Why a proxy and not the servers' own logs: the registry's access log only shows parsed HTTP
 * requests, so it cannot show how many TCP connections a client opened, nor a connection that
 * never became HTTP (regshape's HTTPS attempt before it falls back to plain HTTP on loopback).
 */
import {type Server, type Socket, createConnection, createServer} from 'node:net'

export interface ConnectionRecord {
  /** 'tls' when the first byte is a TLS handshake record (0x16), 'http' for a request line, else 'other'. */
  kind: 'http' | 'other' | 'tls'
  /** Request lines seen on this connection, e.g. `GET /v2/ HTTP/1.1` (HTTP only). */
  requests: string[]
  bytesUp: number
  bytesDown: number
}

export interface CountingProxy {
  host: string
  port: number
  connections: ConnectionRecord[]
  /** Position in `connections` for a later `since()`. */
  mark(): number
  since(mark: number): ConnectionRecord[]
  /** Resolves once every connection opened so far has closed (or after `timeoutMs`). */
  settle(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

const REQUEST_LINE = /(?:^|\r\n)((?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ HTTP\/1\.[01])\r\n/g

export async function startCountingProxy(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<CountingProxy> {
  const connections: ConnectionRecord[] = []
  const open = new Set<Socket>()

  const server: Server = createServer((client) => {
    const record: ConnectionRecord = {kind: 'other', requests: [], bytesUp: 0, bytesDown: 0}
    connections.push(record)
    open.add(client)
    const upstream = createConnection({host: upstreamHost, port: upstreamPort})
    let head = ''
    client.on('data', (chunk: Buffer) => {
      if (record.bytesUp === 0) record.kind = chunk[0] === 0x16 ? 'tls' : /^[A-Z]+ /.test(chunk.toString('latin1', 0, 8)) ? 'http' : 'other'
      record.bytesUp += chunk.length
      if (record.kind === 'http') {
        // Requests of a login have no body, so request lines are found by scanning the headers text.
        head += chunk.toString('latin1')
        let match: null | RegExpExecArray
        REQUEST_LINE.lastIndex = 0
        const found: string[] = []
        while ((match = REQUEST_LINE.exec(head)) !== null) found.push(match[1]!)
        record.requests = found
      }

      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      record.bytesDown += chunk.length
      client.write(chunk)
    })
    client.on('end', () => upstream.end())
    upstream.on('end', () => client.end())
    const destroyBoth = () => {
      client.destroy()
      upstream.destroy()
    }

    client.on('error', destroyBoth)
    upstream.on('error', destroyBoth)
    client.on('close', () => {
      upstream.destroy()
      open.delete(client)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as {port: number}).port

  return {
    host: `127.0.0.1:${port}`,
    port,
    connections,
    mark: () => connections.length,
    since: (mark) => connections.slice(mark),
    async settle(timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs
      while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    },
    close() {
      for (const s of open) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
