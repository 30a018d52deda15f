import {type LookupFunction, type Socket, connect as netConnect} from 'node:net'
import {Readable} from 'node:stream'
import {type ConnectionOptions, connect as tlsConnect} from 'node:tls'

import {ProtocolError} from '../errors.js'
import {bareHost} from './addresses.js'
import {openTunnel, proxyAuthorization} from './proxy.js'

/**
 * The wire's bulk reader: a GET whose body streams to the caller (a blob) goes over a net or tls
 * socket of its own, read with `onread` into large buffers, because that is where a blob download
 * spent its time. Through node:http (and got over it) a 1 GiB blob cost 2-4× `curl -o`: 64 KiB
 * reads, an HTTP parser event and several stream hops per read. A socket read into 4 MiB buffers,
 * each read handed on as it is, costs 1.0-1.3× (bench/blob-floor.mjs measures both).
 *
 * It speaks just what such a GET needs: the request line and headers out, then a status line,
 * headers and a body framed by Content-Length, chunked coding or the connection's end. TLS,
 * proxies (CONNECT tunnels, absolute-form forwarding) and the address-checking lookup are the
 * wire stage's settings, applied here as got applies them; redirects, retries, authentication,
 * break mode and telemetry are the stages above, unchanged.
 */

/** Reads of the socket go into buffers of this size (a loopback socket fills much of one per read). */
const READ_BUFFER_BYTES = 4 * 1024 * 1024
/** A new buffer is taken when the current one has less room than this left. */
const MIN_READ_ROOM = 128 * 1024
/**
 * A body read as a stream (a copy's relay into an upload) is handed on in reads of at most this
 * size, from buffers of STREAM_BUFFER_BYTES, and buffered up to STREAM_BUFFER_BYTES: each chunk
 * keeps its whole buffer alive while it waits in the streams behind it (the relay, the upload's
 * counter and hash, the socket), and with 4 MiB reads a copy of 3 blobs at once peaked at about
 * 185 MiB against 112 MiB before the bulk reader (114 MiB with these sizes). A sink (blob get -o,
 * a layout) keeps the large reads: it is done with each before the next.
 */
const STREAM_READ_BYTES = 128 * 1024
const STREAM_BUFFER_BYTES = 512 * 1024
/** Status line and headers together; more is refused (Node's parser allows 16 KiB). */
const MAX_HEAD_BYTES = 64 * 1024
/** Idle keep-alive sockets kept per origin. */
const MAX_IDLE_PER_KEY = 4

export interface RawTls {
  ca?: string[]
  cert?: string
  key?: string
  rejectUnauthorized: boolean
}

export interface RawTarget {
  /** The connection may come from, and go back to, the pool (not for address-guarded URLs). */
  pooled: boolean
  /** An http:// proxy: a CONNECT tunnel for https, absolute-form requests for http. */
  proxy?: URL
  /** What decides where a direct connection goes (the address guard's lookup). */
  lookup?: LookupFunction
  /** For https: what the handshake trusts and presents. */
  tls?: RawTls
  /** What tells pooled connections apart besides the origin and proxy (the TLS settings in use). */
  tlsKey: string
  /** Milliseconds a CONNECT to the proxy may take. */
  tunnelTimeoutMs: number
  url: URL
}

export interface RawHead {
  headers: Record<string, string[]>
  status: number
  statusText: string
}

export interface RawBodyOptions {
  /** Bytes of the body kept (copied) for telemetry. */
  captureBytes: number
  /** The longest wait for the next bytes while the reader wants them. */
  idleMs?: number
  onFinish(result: {bulk: {largest: number; reads: number}; bytes: number; captured: Buffer; error?: Error}): void
  stalled(): Error
}

/** What a body tells its connection: read more, stop reading, or give up. */
interface BodyControl {
  abort(): void
  pause(): void
  resume(): void
}

/**
 * A response body as the bulk reader delivers it: a Readable whose chunks are the socket's reads
 * themselves (slices of large buffers, not copies), or, once `sink()` is called, no stream at all:
 * each read handed to one synchronous function, in one buffer reused for every read.
 */
export class RawBody extends Readable {
  /** Bytes received so far. */
  bytes = 0
  /** Socket reads that carried the body, and the largest: what telemetry shows of the bulk reader. */
  private reads = 0
  private largest = 0
  private readonly captured: Buffer[] = []
  private capturedBytes = 0
  private dropped = false
  private ended = false
  private idleTimer?: NodeJS.Timeout
  private settled = false
  private sinkWrite?: (chunk: Buffer) => void

  constructor(
    private readonly control: BodyControl,
    private readonly options: RawBodyOptions,
  ) {
    super({highWaterMark: STREAM_BUFFER_BYTES})
    // A body nobody reads yet (a 401 kept while a token is fetched) may still fail: that must not
    // take the process down. Readers still see the error.
    this.on('error', () => {})
  }

  /** Whether the body is handed to a sink (then views of a reused buffer, each valid during its call). */
  get sinking(): boolean {
    return this.sinkWrite !== undefined
  }

  /**
   * From now on, every chunk goes to `write`, synchronously, as a view of a buffer the next read
   * reuses: `write` must be done with it when it returns. The end and failures still come as the
   * stream's 'end' and 'error'. Only before anything was read.
   */
  sink(write: (chunk: Buffer) => void): void {
    if (this.sinkWrite) throw new Error('a body is sunk once')
    // What came with the headers (slices of reads, each its own) goes first.
    for (let chunk = this.read() as Buffer | null; chunk !== null; chunk = this.read() as Buffer | null) write(chunk)
    this.sinkWrite = write
    // Flowing with nothing ever pushed: 'end' comes as soon as the end is pushed.
    this.resume()
    this.startIdle()
    this.control.resume()
  }

  /** Marks the body as dropped on purpose: its end, however it comes, is no failure. */
  markDropped(): void {
    this.dropped = true
  }

  /** @internal The connection's bytes for this body. */
  deliver(chunk: Buffer): void {
    if (this.destroyed) return
    this.bytes += chunk.length
    this.reads++
    if (chunk.length > this.largest) this.largest = chunk.length
    if (this.capturedBytes < this.options.captureBytes) {
      const kept = Buffer.from(chunk.subarray(0, this.options.captureBytes - this.capturedBytes))
      this.captured.push(kept)
      this.capturedBytes += kept.length
    }

    this.idleTimer?.refresh()
    if (this.sinkWrite) {
      try {
        this.sinkWrite(chunk)
      } catch (error) {
        this.destroy(error as Error)
      }

      return
    }

    if (!this.push(chunk)) {
      // The reader is full: no clock runs until it asks for more (_read).
      this.control.pause()
      this.clearIdle()
    }
  }

  /** @internal The body ended where its framing said. */
  finish(): void {
    if (this.destroyed || this.ended) return
    this.ended = true
    this.clearIdle()
    this.push(null)
    this.settle()
  }

  /** @internal The connection failed before the body ended. */
  fail(error: Error): void {
    if (!this.ended) this.destroy(error)
  }

  override _read(): void {
    this.startIdle()
    this.control.resume()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdle()
    if (!this.ended) this.control.abort()
    this.settle(error ?? undefined)
    callback(error)
  }

  private startIdle(): void {
    const {idleMs} = this.options
    if (idleMs === undefined || this.ended) return
    if (this.idleTimer) this.idleTimer.refresh()
    else this.idleTimer = setTimeout(() => this.destroy(this.options.stalled()), idleMs)
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }

  private settle(error?: Error): void {
    if (this.settled) return
    this.settled = true
    const captured = Buffer.concat(this.captured)
    this.captured.length = 0
    this.options.onFinish({bulk: {largest: this.largest, reads: this.reads}, bytes: this.bytes, captured, error: this.dropped ? undefined : error})
  }
}

/** How a response's body ends. */
type Framing = {kind: 'chunked'; decoder: ChunkedDecoder} | {kind: 'close'} | {kind: 'length'; remaining: number}

/** One socket of the bulk reader, with the exchange it serves (or none while idle in the pool). */
class RawConnection {
  exchange?: RawExchange
  /** The buffer the next read lands in: a slice of `slab`, or the reused sink buffer. */
  private slab = Buffer.allocUnsafe(0)
  private used = 0
  private sinkBuffer?: Buffer
  /** Whether a request was ever completed on it: a reused socket's early failure is retried once. */
  reused = false
  /** Whether the pool already watches its socket's close. */
  watched = false

  /** Set as soon as the socket exists (the buffer function may be asked for a buffer before). */
  socket!: Socket

  constructor(readonly key: string) {}

  /** The buffer for the next read (onread's buffer function). */
  nextBuffer(): Buffer {
    if (this.exchange?.sinking) {
      this.sinkBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)
      return this.sinkBuffer
    }

    // Reads handed on as they are: each lands after the last in a large buffer, so no read is
    // copied and a reader may keep its chunk.
    if (this.slab.length - this.used < MIN_READ_ROOM) {
      this.slab = Buffer.allocUnsafe(STREAM_BUFFER_BYTES)
      this.used = 0
    }

    return this.slab.subarray(this.used, this.used + STREAM_READ_BYTES)
  }

  /** onread's callback: `length` bytes at the start of `buffer`. */
  onRead(length: number, buffer: Buffer): void {
    if (buffer !== this.sinkBuffer) this.used += length
    const chunk = buffer.subarray(0, length)
    if (this.exchange) this.exchange.onData(chunk)
    // An idle pooled socket must say nothing: whatever it says, it is not reused.
    else this.socket.destroy()
  }
}

/** Keep-alive sockets of the bulk reader, per origin, proxy and TLS settings. */
export class RawPool {
  private readonly idle = new Map<string, RawConnection[]>()
  private closed = false

  take(key: string): RawConnection | undefined {
    const list = this.idle.get(key)
    while (list && list.length > 0) {
      const connection = list.pop() as RawConnection
      if (!connection.socket.destroyed) {
        connection.socket.ref()
        return connection
      }
    }

    return undefined
  }

  give(connection: RawConnection): void {
    const list = this.idle.get(connection.key) ?? []
    if (this.closed || list.length >= MAX_IDLE_PER_KEY || connection.socket.destroyed) {
      connection.socket.destroy()
      return
    }

    connection.exchange = undefined
    connection.reused = true
    // An idle socket never keeps the process alive, and reads on, so that a close is seen.
    connection.socket.unref()
    connection.socket.resume()
    list.push(connection)
    this.idle.set(connection.key, list)
    // One watcher per socket, not one per return to the pool: a socket reused for many blobs (a
    // copy of 22 layers) would otherwise gather a listener each time, past Node's warning at 11.
    if (connection.watched) return
    connection.watched = true
    connection.socket.once('close', () => {
      const idle = this.idle.get(connection.key) ?? []
      const at = idle.indexOf(connection)
      if (at !== -1) idle.splice(at, 1)
    })
  }

  close(): void {
    this.closed = true
    for (const list of this.idle.values()) for (const connection of list) connection.socket.destroy()
    this.idle.clear()
  }
}

export interface RawCallbacks {
  /** The headers as they go out (Host and User-Agent included), for telemetry. */
  sent(headers: Record<string, string>): void
  /** The answer's status and headers; returns the body's options. */
  answered(head: RawHead): RawBodyOptions
  /** The answer, its body still to come. */
  resolved(head: RawHead, body: RawBody): void
  /** A failure before the answer's headers. */
  failed(error: unknown): void
  /** A failure of the body, in the wire's words. */
  bodyError(error: unknown, head: RawHead): Error
}

/**
 * One GET on a bulk-reader connection: sends it, parses the answer's head, then hands its body
 * bytes to a RawBody. A pooled socket that fails before any byte of the answer (the server closed
 * it while idle) is replaced by a fresh one, once.
 */
class RawExchange {
  private head?: RawHead
  private body?: RawBody
  private framing?: Framing
  private pending: Buffer[] = []
  private pendingBytes = 0
  private connection?: RawConnection
  private answeredAny = false
  private done = false
  /** HTTP/1.1 without Connection: close: the socket may serve another request after this one. */
  private reusable = false

  constructor(
    private readonly pool: RawPool,
    private readonly target: RawTarget,
    private readonly request: {headers: Record<string, string>; path: string},
    private readonly callbacks: RawCallbacks,
  ) {}

  get sinking(): boolean {
    return this.body?.sinking ?? false
  }

  async start(): Promise<void> {
    const key = connectionKey(this.target)
    const pooled = this.target.pooled ? this.pool.take(key) : undefined
    try {
      this.attach(pooled ?? (await this.open(key)))
    } catch (error) {
      this.finishWith(error)
    }
  }

  /** Stops reading and drops the socket (the caller gave up before the answer: a deadline). */
  abort(): void {
    this.done = true
    this.connection?.socket.destroy()
  }

  onData(chunk: Buffer): void {
    if (this.done && !this.body) return
    this.answeredAny = true
    if (!this.head) {
      this.readHead(chunk)
      return
    }

    this.readBody(chunk)
  }

  private attach(connection: RawConnection): void {
    if (this.done) {
      connection.socket.destroy()
      return
    }

    this.connection = connection
    connection.exchange = this
    const {socket} = connection
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
    const headers = requestHeaders(this.target, this.request.headers)
    this.callbacks.sent(headers)
    const target = this.target.proxy && this.target.url.protocol === 'http:' ? this.target.url.toString() : this.request.path
    const lines = [`GET ${target} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
    socket.resume()
    socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
  }

  private detach(): void {
    const connection = this.connection
    if (!connection) return
    connection.socket.off('error', this.onError)
    connection.socket.off('close', this.onClose)
    connection.exchange = undefined
    this.connection = undefined
  }

  private readonly onError = (error: Error) => this.lost(error)

  private readonly onClose = () => {
    if (this.framing?.kind === 'close' && this.body) {
      this.complete(false)
      return
    }

    this.lost(Object.assign(new Error(this.head ? 'the connection closed before the body ended' : 'socket hang up'), {code: 'ECONNRESET'}))
  }

  /** The socket failed or closed early. */
  private lost(error: Error): void {
    const connection = this.connection
    this.detach()
    connection?.socket.destroy()
    if (this.done) return
    if (this.body) {
      this.done = true
      this.body.fail(this.callbacks.bodyError(error, this.head as RawHead))
      return
    }

    // A keep-alive socket the server had closed while it sat idle: the request never reached it.
    if (connection?.reused && !this.answeredAny) {
      void this.open(connection.key).then(
        (fresh) => this.attach(fresh),
        (openError: unknown) => this.finishWith(openError),
      )
      return
    }

    this.finishWith(error)
  }

  private finishWith(error: unknown): void {
    if (this.done) return
    this.done = true
    this.callbacks.failed(error)
  }

  private readHead(chunk: Buffer): void {
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    const joined = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes)
    this.pending = [joined]
    const end = joined.indexOf('\r\n\r\n')
    if (end === -1) {
      if (this.pendingBytes > MAX_HEAD_BYTES) this.protocolError(`the answer's headers are longer than ${MAX_HEAD_BYTES} bytes`)
      return
    }

    const rest = joined.subarray(end + 4)
    this.pending = []
    this.pendingBytes = 0
    let head: RawHead & {version: string}
    try {
      head = parseHead(joined.subarray(0, end).toString('latin1'))
    } catch (error) {
      this.protocolError((error as Error).message)
      return
    }

    // Interim answers (100 Continue, 103 Early Hints) come before the real one.
    if (head.status >= 100 && head.status < 200) {
      if (rest.length > 0) this.readHead(rest)
      return
    }

    let framing: Framing
    try {
      framing = framingOf(head)
    } catch (error) {
      this.protocolError((error as Error).message)
      return
    }

    this.head = head
    this.framing = framing
    const options = this.callbacks.answered(head)
    const connection = this.connection as RawConnection
    this.body = new RawBody(
      {
        abort: () => {
          if (this.done) return
          this.done = true
          this.detach()
          connection.socket.destroy()
        },
        pause: () => connection.socket.pause(),
        resume: () => connection.socket.resume(),
      },
      options,
    )
    this.reusable = head.version === '1.1' && !(head.headers.connection ?? []).some((value) => /\bclose\b/i.test(value))
    // No more reads until someone wants the body.
    connection.socket.pause()
    this.callbacks.resolved(head, this.body)
    if (this.done) return
    if (rest.length > 0) this.readBody(rest)
    else if (framing.kind === 'length' && framing.remaining === 0) this.complete(true)
  }

  private readBody(chunk: Buffer): void {
    const framing = this.framing as Framing
    const body = this.body as RawBody
    switch (framing.kind) {
      case 'close': {
        body.deliver(chunk)
        return
      }

      case 'length': {
        if (chunk.length > framing.remaining) {
          // Bytes beyond the announced length: not a next answer, since none was asked for.
          const length = this.head?.headers['content-length']?.[0]
          if (framing.remaining > 0) body.deliver(chunk.subarray(0, framing.remaining))
          framing.remaining = 0
          this.done = true
          const connection = this.connection
          this.detach()
          connection?.socket.destroy()
          body.fail(this.callbacks.bodyError(Object.assign(new Error(`sent more bytes than the Content-Length it announced (${length})`), {code: 'HPE_OVERRUN'}), this.head as RawHead))
          return
        }

        framing.remaining -= chunk.length
        if (chunk.length > 0) body.deliver(chunk)
        if (framing.remaining === 0) this.complete(true)
        return
      }

      case 'chunked': {
        let finished: boolean
        try {
          finished = framing.decoder.write(chunk, (data) => body.deliver(data))
        } catch (error) {
          this.protocolError((error as Error).message)
          return
        }

        if (finished) this.complete(framing.decoder.leftover === 0)
        return
      }
    }
  }

  /** The body ended as framed: it is finished, and a clean socket goes back to the pool. */
  private complete(clean: boolean): void {
    if (this.done) return
    this.done = true
    const connection = this.connection
    this.detach()
    if (connection) {
      if (clean && this.reusable && this.target.pooled) this.pool.give(connection)
      else connection.socket.destroy()
    }

    this.body?.finish()
  }

  private protocolError(message: string): void {
    const error = new ProtocolError(`${this.target.url.host} answered with something that is not HTTP/1.1: ${message}`)
    const connection = this.connection
    this.detach()
    connection?.socket.destroy()
    if (this.body) {
      this.done = true
      this.body.fail(error)
    } else this.finishWith(error)
  }

  /** A new connection: direct, through a CONNECT tunnel, or to a forwarding proxy. */
  private async open(key: string): Promise<RawConnection> {
    const {proxy, url} = this.target
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
    const host = bareHost(url.hostname)
    const connection = new RawConnection(key)
    const onread = {
      buffer: () => connection.nextBuffer(),
      callback: (length: number, buffer: Buffer) => {
        connection.onRead(length, buffer)
        return true
      },
    }
    let socket: Socket
    if (url.protocol === 'https:') {
      const tls = this.target.tls ?? {rejectUnauthorized: true}
      const servername = /^[\d.]+$|:/.test(host) ? undefined : host
      const secure = {ALPNProtocols: ['http/1.1'], ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized, servername}
      if (proxy) {
        // TLS inside the tunnel reads through the tunnel's socket: onread does not apply there,
        // so its reads come as 'data' events.
        const tunnel = await openTunnel(proxy, host, port, this.target.tunnelTimeoutMs)
        socket = tlsConnect({...secure, socket: tunnel})
        socket.on('data', (chunk: Buffer) => connection.onRead(chunk.length, chunk))
      } else {
        // Node reads TLS into `onread` too (documented for tls.connect, missing from its typings).
        socket = tlsConnect({...secure, host, lookup: this.target.lookup, onread, port} as ConnectionOptions)
      }
    } else if (proxy) {
      socket = netConnect({host: bareHost(proxy.hostname), onread, port: Number(proxy.port || 80)})
    } else {
      socket = netConnect({host, lookup: this.target.lookup, onread, port})
    }

    socket.setNoDelay(true)
    connection.socket = socket
    // Until it is attached, a failure is the attempt's (attach adds the exchange's own listener).
    await new Promise<void>((resolvePromise, rejectPromise) => {
      const ready = url.protocol === 'https:' ? 'secureConnect' : 'connect'
      const onError = (error: Error) => rejectPromise(error)
      const onClose = () => rejectPromise(Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'}))
      socket.once('error', onError)
      socket.once('close', onClose)
      socket.once(ready, () => {
        socket.off('error', onError)
        socket.off('close', onClose)
        resolvePromise()
      })
    })
    return connection
  }
}

/**
 * Sends a bodiless GET through the bulk reader. The callbacks hear of the answer, the body and
 * failures; the returned function abandons the attempt (its deadline passed).
 */
export function rawGet(pool: RawPool, target: RawTarget, headers: Record<string, string>, callbacks: RawCallbacks): () => void {
  const {url} = target
  const exchange = new RawExchange(pool, target, {headers, path: `${url.pathname}${url.search}`}, callbacks)
  void exchange.start()
  return () => exchange.abort()
}

/** The request's headers as they go out: Host first, then the caller's, each checked for line breaks. */
function requestHeaders(target: RawTarget, given: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {host: target.url.host}
  for (const [name, value] of Object.entries(given)) {
    const lower = name.toLowerCase()
    if (lower === 'host' || lower === 'content-length' || lower === 'transfer-encoding') continue
    // What node:http refuses too: a header that would end the request or start another.
    if (!/^[!#$%&'*+.^`|~\w-]+$/.test(name)) throw new ProtocolError(`the header name ${JSON.stringify(name)} is not a valid HTTP token`)
    if (/[\r\n\0]/.test(value)) throw new ProtocolError(`the value of header ${name} holds a line break or NUL`)
    headers[lower] = value
  }

  if (target.proxy && target.url.protocol === 'http:') {
    const authorization = proxyAuthorization(target.proxy)
    if (authorization) headers['proxy-authorization'] = authorization
  }

  return headers
}

function connectionKey(target: RawTarget): string {
  return `${target.url.protocol}//${target.url.host}|${target.proxy?.toString() ?? ''}|${target.tlsKey}`
}

function parseHead(text: string): RawHead & {version: string} {
  const lines = text.split('\r\n')
  const status = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '')
  if (!status) throw new Error(`the status line is ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`)
  const headers: Record<string, string[]> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0 || !/^[!#$%&'*+.^`|~\w-]+$/.test(line.slice(0, colon))) throw new Error(`a header line is ${JSON.stringify(line.slice(0, 80))}`)
    const name = line.slice(0, colon).toLowerCase()
    ;(headers[name] ??= []).push(line.slice(colon + 1).trim())
  }

  return {headers, status: Number(status[2]), statusText: status[3] ?? '', version: status[1]}
}

function framingOf(head: RawHead): Framing {
  if ([204, 304].includes(head.status)) return {kind: 'length', remaining: 0}
  const encoding = head.headers['transfer-encoding']
  if (encoding) {
    const codings = encoding.join(',').split(',').map((coding) => coding.trim().toLowerCase()).filter(Boolean)
    if (codings.at(-1) !== 'chunked') return {kind: 'close'}
    if (codings.length > 1) throw new Error(`Transfer-Encoding ${encoding.join(', ')} is not one regshape reads`)
    return {decoder: new ChunkedDecoder(), kind: 'chunked'}
  }

  const lengths = head.headers['content-length']
  if (lengths) {
    const values = new Set(lengths.flatMap((value) => value.split(',')).map((value) => value.trim()))
    const [value] = values
    if (values.size !== 1 || !/^\d{1,15}$/.test(value)) throw new Error(`Content-Length ${lengths.join(', ')} is not one length`)
    return {kind: 'length', remaining: Number(value)}
  }

  return {kind: 'close'}
}

/** chunked transfer coding (RFC 9112 §7.1): the data of each chunk handed on as slices of the reads. */
class ChunkedDecoder {
  /** Bytes after the final chunk's trailers, in the read that ended it. */
  leftover = 0
  private line = ''
  private remaining = 0
  private state: 'data' | 'data-end' | 'size' | 'trailer' = 'size'

  /** Returns true once the last chunk and its trailers were read. */
  write(chunk: Buffer, deliver: (data: Buffer) => void): boolean {
    let at = 0
    while (at < chunk.length) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, chunk.length - at)
        deliver(chunk.subarray(at, at + take))
        at += take
        this.remaining -= take
        if (this.remaining === 0) this.state = 'data-end'
        continue
      }

      const newline = chunk.indexOf(10, at)
      const end = newline === -1 ? chunk.length : newline + 1
      this.line += chunk.subarray(at, end).toString('latin1')
      at = end
      if (this.line.length > 4096) throw new Error('a chunk line is longer than 4096 bytes')
      if (newline === -1) break
      const line = this.line.replace(/\r?\n$/, '')
      this.line = ''
      if (this.state === 'data-end') {
        if (line !== '') throw new Error('a chunk does not end where its size said')
        this.state = 'size'
      } else if (this.state === 'size') {
        const size = /^([\da-f]{1,12})(?:;.*)?$/i.exec(line.trim())
        if (!size) throw new Error(`a chunk size is ${JSON.stringify(line.slice(0, 40))}`)
        this.remaining = Number.parseInt(size[1], 16)
        this.state = this.remaining === 0 ? 'trailer' : 'data'
      } else if (line === '') {
        this.leftover = chunk.length - at
        return true
      }
    }

    return false
  }
}
