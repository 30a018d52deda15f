import {Agent as HttpAgent, type ClientRequest, type IncomingMessage, request as httpRequest} from 'node:http'
import {Agent as HttpsAgent} from 'node:https'
import {BlockList, type Socket, isIP} from 'node:net'
import type {Duplex} from 'node:stream'

import {InputError, NetworkError} from '../errors.js'
import {bareHost} from './addresses.js'
import {rememberCredentials, rememberSecret} from '../util/secrets.js'
import {redactUrl} from './redact.js'

/**
 * Proxies from the environment, read as Go's net/http reads them (golang.org/x/net/http/httpproxy),
 * since the tools regshape sits beside (docker, crane, oras, regctl, skopeo) all do:
 *
 * - HTTPS_PROXY for https URLs, HTTP_PROXY for http URLs; each name in upper case first, then
 *   lower case (the first one set and non-empty wins). HTTP_PROXY is ignored under CGI
 *   (REQUEST_METHOD set), where it is a request header an attacker chose ("httpoxy").
 * - NO_PROXY (then no_proxy): comma-separated; `*` for every host; an IP or a CIDR block; a name,
 *   which also covers its subdomains (`example.com`, `.example.com` for the subdomains alone);
 *   any entry may end in `:port` to cover that port only.
 * - `localhost` and loopback addresses are never proxied: a proxy's loopback is not ours.
 * - A proxy URL without a scheme is http://; user:password in it is sent as Basic
 *   Proxy-Authorization and masked wherever the URL is shown.
 *
 * HTTPS goes through a CONNECT tunnel (TLS end to end, the proxy sees only the host name); plain
 * HTTP is sent to the proxy in absolute form (`GET http://host/v2/`), as Go and curl do, since
 * many proxies allow CONNECT to port 443 only.
 */

export interface ProxySettings {
  http?: URL
  https?: URL
  noProxy: NoProxyRule[]
}

type NoProxyRule =
  | {block: BlockList; kind: 'cidr'; port?: string}
  | {kind: 'all'}
  | {kind: 'ip'; address: string; port?: string}
  | {kind: 'name'; name: string; port?: string; subdomainsOnly: boolean}

/** The proxy settings of an environment; a proxy variable that is not a usable URL is an error. */
export function proxySettingsFromEnv(env: NodeJS.ProcessEnv): ProxySettings {
  const pick = (...names: string[]) => {
    for (const name of names) {
      const value = env[name]?.trim()
      if (value) return {name, value}
    }

    return undefined
  }

  const cgi = Boolean(env.REQUEST_METHOD)
  const http = cgi ? undefined : pick('HTTP_PROXY', 'http_proxy')
  const https = pick('HTTPS_PROXY', 'https_proxy')
  const noProxy = pick('NO_PROXY', 'no_proxy')
  return {
    http: http && parseProxyUrl(http.name, http.value),
    https: https && parseProxyUrl(https.name, https.value),
    noProxy: noProxy ? parseNoProxy(noProxy.value) : [],
  }
}

export function hasProxy(settings: ProxySettings | undefined): boolean {
  return Boolean(settings && (settings.http || settings.https))
}

function parseProxyUrl(name: string, value: string): URL {
  const text = /^[a-z][a-z\d+.-]*:\/\//i.test(value) ? value : `http://${value}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    // The value may hold a password: never echo it, even in part.
    throw new InputError(`${name} is not a valid proxy URL`)
  }

  if (url.protocol !== 'http:') {
    throw new InputError(`${name} names a ${url.protocol.replace(/:$/, '')} proxy (${redactUrl(url.toString())}); regshape speaks to http:// proxies only`)
  }

  if (!url.hostname) throw new InputError(`${name} is not a valid proxy URL: it names no host`)
  // The proxy password as the URL spells it and as it goes out (Basic, decoded): a proxy or a
  // registry behind it may echo either back.
  if (url.password) {
    rememberSecret(url.password)
    rememberCredentials({password: safeDecode(url.password), username: safeDecode(url.username)})
  }

  return url
}

function parseNoProxy(value: string): NoProxyRule[] {
  const rules: NoProxyRule[] = []
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') {
      rules.push({kind: 'all'})
      continue
    }

    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry)
    if (cidr && isIP(cidr[1])) {
      const family = isIP(cidr[1]) === 4 ? 'ipv4' : 'ipv6'
      const block = new BlockList()
      try {
        block.addSubnet(cidr[1], Number(cidr[2]), family)
      } catch {
        continue // a prefix too long for its family matches nothing, as in Go
      }

      rules.push({block, kind: 'cidr'})
      continue
    }

    const {host, port} = splitHostPort(entry)
    if (isIP(host)) {
      rules.push({address: host, kind: 'ip', port})
      continue
    }

    // `.example.com` and `*.example.com` cover the subdomains alone; `example.com` the name too.
    const subdomainsOnly = host.startsWith('.') || host.startsWith('*.')
    const name = host.replace(/^\*?\./, '').replace(/\.$/, '')
    if (name) rules.push({kind: 'name', name, port, subdomainsOnly})
  }

  return rules
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address. */
function splitHostPort(entry: string): {host: string; port?: string} {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
  if (bracketed) return {host: bracketed[1], port: bracketed[2]}
  if (isIP(entry) === 6) return {host: entry}
  const colon = /^(.*):(\d+)$/.exec(entry)
  return colon ? {host: colon[1], port: colon[2]} : {host: entry}
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** The proxy a URL goes through, or undefined to connect directly. */
export function proxyFor(settings: ProxySettings | undefined, target: URL): URL | undefined {
  if (!settings) return undefined
  const proxy = target.protocol === 'https:' ? settings.https : target.protocol === 'http:' ? settings.http : undefined
  if (!proxy) return undefined
  const host = bareHost(target.hostname)
  const port = target.port || (target.protocol === 'https:' ? '443' : '80')
  if (host === 'localhost' || isLoopbackIp(host)) return undefined
  for (const rule of settings.noProxy) if (matches(rule, host, port)) return undefined
  return proxy
}

function isLoopbackIp(host: string): boolean {
  const family = isIP(host)
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6')
}

function matches(rule: NoProxyRule, host: string, port: string): boolean {
  if (rule.kind === 'all') return true
  if (rule.port !== undefined && rule.port !== port) return false
  switch (rule.kind) {
    case 'cidr': {
      const family = isIP(host)
      return family !== 0 && rule.block.check(host, family === 4 ? 'ipv4' : 'ipv6')
    }

    case 'ip': {
      return isIP(host) !== 0 && sameAddress(rule.address, host)
    }

    case 'name': {
      if (host.endsWith(`.${rule.name}`)) return true
      return !rule.subdomainsOnly && host === rule.name
    }
  }
}

function sameAddress(a: string, b: string): boolean {
  const list = new BlockList()
  const family = isIP(a) === 4 ? 'ipv4' : 'ipv6'
  list.addAddress(a, family)
  return list.check(b, isIP(b) === 4 ? 'ipv4' : 'ipv6')
}

/** A proxy as messages show it: scheme, host and port, any credentials masked. */
export function describeProxy(proxy: URL): string {
  return redactUrl(proxy.toString()).replace(/\/$/, '')
}

/** The Proxy-Authorization a proxy URL's user:password makes, if it has them. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`
}

/** A failure between regshape and its proxy, or the proxy's refusal to reach the target. */
export class ProxyError extends NetworkError {
  constructor(
    message: string,
    readonly code: string,
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
  }
}

interface ConnectOptions {
  host?: string
  port?: number | string
  servername?: string
  timeout?: number
}

/**
 * A CONNECT tunnel through `proxy` to `host:port`: the proxy's socket once it answered 200, with
 * anything it sent after its answer put back (it belongs to the TLS stream). TunnelAgent and the
 * wire's bulk reader (./raw-http.ts) both open their HTTPS connections through a proxy this way.
 */
export function openTunnel(proxy: URL, host: string, port: number | string, timeoutMs: number): Promise<Socket> {
  // An IPv6 target is bracketed in the request line, as in a URL's authority.
  const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
  const shown = describeProxy(proxy)
  const headers: Record<string, string> = {host: target}
  const authorization = proxyAuthorization(proxy)
  if (authorization) headers['proxy-authorization'] = authorization
  return new Promise((resolvePromise, rejectPromise) => {
    const connect: ClientRequest = httpRequest({
      agent: false,
      headers,
      host: bareHost(proxy.hostname),
      method: 'CONNECT',
      path: target,
      port: proxy.port || 80,
      setHost: false,
    })
    let settled = false
    const done = (error: Error | null, socket?: Socket) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error) rejectPromise(error)
      else resolvePromise(socket as Socket)
    }

    const timer = setTimeout(() => {
      connect.destroy()
      done(new ProxyError(`proxy ${shown} did not open a tunnel to ${target} in time`, 'ETIMEDOUT'))
    }, timeoutMs)
    connect.once('connect', (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (response.statusCode !== 200) {
        socket.destroy()
        done(new ProxyError(`proxy ${shown} refused a tunnel to ${target}: ${proxyRefusal(response, Boolean(authorization))}`, `PROXY_${response.statusCode}`))
        return
      }

      // Anything the proxy sent after its 200 belongs to the TLS stream.
      if (head.length > 0) socket.unshift(head)
      done(null, socket)
    })
    connect.once('error', (error: NodeJS.ErrnoException) => {
      done(new ProxyError(`cannot reach proxy ${shown}: ${error.code ?? error.message}`, error.code ?? 'EPROXY', {cause: error}))
    })
    connect.end()
  })
}

/**
 * HTTPS through a proxy: each new connection is a CONNECT tunnel to the target, and TLS (with
 * every verification option the request carries: CA, client certificate, servername) runs inside
 * it, between regshape and the registry.
 */
export class TunnelAgent extends HttpsAgent {
  constructor(
    readonly proxy: URL,
    private readonly connectTimeoutMs: number,
  ) {
    super({keepAlive: true})
  }

  // Node's Agent calls createConnection(options, callback) and takes the socket from the callback.
  override createConnection(options: ConnectOptions, callback?: (error: Error | null, socket: Duplex) => void): Duplex | undefined {
    openTunnel(this.proxy, options.host ?? '', options.port ?? 443, this.connectTimeoutMs).then(
      (socket) => {
        let secured: Duplex
        try {
          secured = super.createConnection({...options, socket} as never, undefined as never) as Duplex
        } catch (error) {
          socket.destroy()
          callback?.(error as Error, undefined as never)
          return
        }

        callback?.(null, secured)
      },
      (error: Error) => callback?.(error, undefined as never),
    )
    return undefined
  }
}

/**
 * Plain HTTP through a proxy: the connection is to the proxy, the request line carries the whole
 * URL, and Proxy-Authorization (when the proxy URL has credentials) rides with the request.
 */
export class ForwardAgent extends HttpAgent {
  constructor(readonly proxy: URL) {
    super({keepAlive: true})
  }

  addRequest(request: ClientRequest, options: ConnectOptions & Record<string, unknown>): void {
    const host = request.getHeader('host') ?? `${options.host}:${options.port}`
    request.path = new URL(request.path, `http://${String(host)}`).toString()
    const authorization = proxyAuthorization(this.proxy)
    if (authorization) request.setHeader('proxy-authorization', authorization)
    const proxyHost = bareHost(this.proxy.hostname)
    const proxyPort = Number(this.proxy.port || 80)
    // The pool is keyed by (and connects to) the proxy, not the target.
    // @ts-expect-error addRequest is Node's documented-by-use Agent hook; its typings omit it
    super.addRequest(request, {...options, host: proxyHost, hostname: proxyHost, port: proxyPort})
  }
}

function proxyRefusal(response: IncomingMessage, sentCredentials: boolean): string {
  const status = `${response.statusCode} ${response.statusMessage ?? ''}`.trim()
  if (response.statusCode === 407) {
    return `${status} (${sentCredentials ? 'the proxy rejected the credentials in the proxy URL' : 'the proxy wants credentials: put them in the proxy URL, http://user:password@host:port'})`
  }

  return status
}

/** What a 407 from a forwarding proxy means, for the error. */
export function forwardRefusal(proxy: URL, target: URL): ProxyError {
  const sent = Boolean(proxyAuthorization(proxy))
  return new ProxyError(
    `proxy ${describeProxy(proxy)} refused the request to ${target.host}: 407 Proxy Authentication Required (${sent ? 'the proxy rejected the credentials in the proxy URL' : 'the proxy wants credentials: put them in the proxy URL, http://user:password@host:port'})`,
    'PROXY_407',
  )
}

/** One pair of agents per proxy, kept for the run so connections through it are reused. */
export class ProxyAgents {
  private readonly pairs = new Map<string, {http: ForwardAgent; https: TunnelAgent}>()

  constructor(private readonly connectTimeoutMs: number) {}

  for(proxy: URL): {http: ForwardAgent; https: TunnelAgent} {
    const key = proxy.toString()
    let pair = this.pairs.get(key)
    if (!pair) {
      pair = {http: new ForwardAgent(proxy), https: new TunnelAgent(proxy, this.connectTimeoutMs)}
      this.pairs.set(key, pair)
    }

    return pair
  }

  destroy(): void {
    for (const pair of this.pairs.values()) {
      pair.http.destroy()
      pair.https.destroy()
    }
  }
}

/** decodeURIComponent that keeps a malformed escape (`%zz`) as written rather than throwing. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
