import {Readable, Transform, type TransformCallback} from 'node:stream'

import type {HttpMethod, HttpRequest, RequestBody} from '../services/transport/http.js'

/**
 * Break mode's rules: what a rule is, the built-in ones, and how an ordered list of them changes
 * one outgoing request (registry.md §5). Pure: no I/O, no knowledge of registries or commands.
 * The transport calls applyRules() at its one chokepoint, after authentication, for every
 * exchange (registry and token server alike); domain code never sees a rule.
 */

export const TARGETS = ['header', 'body', 'method', 'path', 'query', 'digest', 'content_type', 'auth'] as const
export const ACTIONS = ['replace', 'remove', 'append', 'corrupt', 'skip'] as const
export type BreakTarget = (typeof TARGETS)[number]
export type BreakAction = (typeof ACTIONS)[number]

/** The actions each target takes (the schema checks a rules file against this too). */
export const ACTIONS_FOR: Record<BreakTarget, readonly BreakAction[]> = {
  auth: ['replace', 'remove', 'append', 'corrupt', 'skip'],
  body: ['replace', 'remove', 'append', 'corrupt', 'skip'],
  content_type: ['replace', 'remove', 'append', 'corrupt', 'skip'],
  digest: ['replace', 'remove', 'corrupt', 'skip'],
  header: ['replace', 'remove', 'append', 'corrupt', 'skip'],
  method: ['replace'],
  path: ['replace', 'append', 'corrupt'],
  query: ['replace', 'remove', 'append', 'corrupt', 'skip'],
}

/** Which requests a rule applies to: every field given must match (all requests when empty). */
export interface BreakMatch {
  /** HTTP methods, e.g. ["PUT", "PATCH"]. */
  method?: string[]
  /** Operation labels (`blob.upload`, `manifest.put`, `token`, ...); `*` matches any run of characters. */
  operation?: string[]
  /** A regular expression (JavaScript syntax) tested against the path and query of the URL. */
  path?: string
}

export interface BreakRule {
  action: BreakAction
  /** header and query: which one. path: the text to replace (the whole path when absent). */
  key?: string
  match?: BreakMatch
  /** At most this many requests are changed by the rule (all when absent). */
  limit?: number
  name: string
  /** body append and replace: this many zero bytes instead of (after) `value`. */
  size?: number
  target: BreakTarget
  value?: string
}

/** One change a rule made to one request, as break mode reports it. Never holds a secret. */
export interface Mutation {
  /** What changed, in words: `Content-Type: "application/vnd.oci.image.manifest.v1+json" → "text/plain"`. */
  change: string
  rule: string
  target: BreakTarget
}

/**
 * Headers whose values are, or may be, credentials: a mutation report names them, never shows
 * their values (a rules file may set its own, e.g. X-Registry-Auth).
 */
const CREDENTIAL_HEADER = /^(?:authorization|proxy-authorization|cookie)$|auth|token|secret|key|cookie|session|password/i
/** Query parameters whose values may be credentials (token realms take none, but OAuth2 forms do). */
const SECRET_PARAMS = /token|secret|password|code|sig|signature|credential|key/i

// --- matching -------------------------------------------------------------------------------

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((part) => part.replaceAll(/[$()+.?[\\\]^{|}]/g, '\\$&')).join('.*')}$`)
}

export function matches(rule: BreakRule, request: Pick<HttpRequest, 'method' | 'operation' | 'url'>): boolean {
  const {match} = rule
  if (!match) return true
  if (match.method && !match.method.some((method) => method.toUpperCase() === request.method)) return false
  if (match.operation && !match.operation.some((glob) => globToRegExp(glob).test(request.operation ?? ''))) return false
  if (match.path !== undefined) {
    const url = new URL(request.url)
    if (!new RegExp(match.path).test(`${url.pathname}${url.search}`)) return false
  }

  return true
}

// --- corrupting values ------------------------------------------------------------------------

/**
 * A value one character off: the last character replaced by another of the same kind (a hex digit
 * by another hex digit), so a digest still looks like a digest and a token like a token.
 */
export function corruptText(text: string): string {
  if (text === '') return 'corrupted'
  const last = text.at(-1)!
  const swap = /[0-9a-f]/.test(last) ? (last === '0' ? '1' : '0') : /[A-Za-z]/.test(last) ? (last === 'A' ? 'B' : 'A') : last === '0' ? '1' : '0'
  return `${text.slice(0, -1)}${swap}`
}

function quote(value: string): string {
  return JSON.stringify(value)
}

function shown(name: string, value: string): string {
  if (CREDENTIAL_HEADER.test(name)) {
    const scheme = /^([A-Za-z][\w-]*)\s/.exec(value)
    return scheme ? `"${scheme[1]} ***"` : '"***"'
  }

  return quote(value)
}

function shownParam(name: string, value: string): string {
  return SECRET_PARAMS.test(name) ? '"***"' : quote(value)
}

// --- bodies -----------------------------------------------------------------------------------

/** Flips the lowest bit of the body's first byte: JSON stops parsing, a blob stops matching its digest. */
function corruptBytes(bytes: Buffer): Buffer {
  if (bytes.length === 0) return Buffer.from('corrupted')
  const copy = Buffer.from(bytes)
  copy[0] = copy[0]! ^ 0x01
  return copy
}

function corruptStream(source: Readable): Readable {
  let first = true
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (first && chunk.length > 0) {
        first = false
        callback(null, corruptBytes(chunk))
        return
      }

      callback(null, chunk)
    },
  })
  source.once('error', (error) => transform.destroy(error))
  return source.pipe(transform)
}

function appendStream(source: Readable, extra: Buffer): Readable {
  const transform = new Transform({
    flush(callback: TransformCallback) {
      callback(null, extra)
    },
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, chunk)
    },
  })
  source.once('error', (error) => transform.destroy(error))
  return source.pipe(transform)
}

function bodyBytes(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body
}

function describeLength(request: HttpRequest): string {
  const {body} = request
  if (body === undefined) return 'no body'
  if (typeof body === 'string' || Buffer.isBuffer(body)) return `${bodyBytes(body).length} bytes`
  return request.contentLength === undefined ? 'a streamed body' : `a streamed body of ${request.contentLength} bytes`
}

/** A body transformed lazily: a stream factory stays a factory (retries still work), bytes stay bytes. */
function mapBody(body: RequestBody, onBytes: (bytes: Buffer) => Buffer, onStream: (stream: Readable) => Readable): RequestBody {
  if (typeof body === 'function') return () => onStream(body())
  if (body instanceof Readable) return onStream(body)
  return onBytes(bodyBytes(body))
}

function extraBytes(rule: BreakRule): Buffer {
  return rule.size === undefined ? Buffer.from(rule.value ?? '', 'utf8') : Buffer.concat([Buffer.from(rule.value ?? '', 'utf8'), Buffer.alloc(rule.size)])
}

// --- applying ---------------------------------------------------------------------------------

/** An explicit Content-Length no longer true of a changed body: the transport sets the right one. */
function withoutLength(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return headers
  const copy = {...headers}
  const name = headerName(copy, 'content-length')
  if (name !== undefined) delete copy[name]
  return copy
}

function headerName(headers: Record<string, string>, name: string): string | undefined {
  return Object.keys(headers).find((key) => key.toLowerCase() === name.toLowerCase())
}

/** The digest a request carries: `digest=` in the query, else the last `<alg>:<hex>` segment of the path. */
const PATH_DIGEST = /[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}/g

interface Applied {
  change?: string
  request: HttpRequest
}

function applyHeader(request: HttpRequest, rule: BreakRule, name: string): Applied {
  const headers = {...request.headers}
  const existing = headerName(headers, name)
  const before = existing === undefined ? undefined : headers[existing]!
  const label = existing ?? name
  switch (rule.action) {
    case 'remove':
    case 'skip': {
      if (existing === undefined) return {request}
      delete headers[existing]
      return {change: `${label}: removed`, request: {...request, headers}}
    }

    case 'replace': {
      const value = rule.value ?? ''
      if (existing !== undefined) delete headers[existing]
      headers[label] = value
      return {change: `${label}: ${before === undefined ? 'added' : shown(label, before)} → ${shown(label, value)}`, request: {...request, headers}}
    }

    case 'append': {
      const value = before === undefined ? (rule.value ?? '') : `${before}${rule.value ?? ''}`
      if (existing !== undefined) delete headers[existing]
      headers[label] = value
      return {change: `${label}: ${before === undefined ? 'added' : shown(label, before)} → ${shown(label, value)}`, request: {...request, headers}}
    }

    case 'corrupt': {
      if (before === undefined) return {request}
      const value = corruptText(before)
      headers[label] = value
      return {change: `${label}: corrupted${CREDENTIAL_HEADER.test(label) ? '' : ` ${quote(before)} → ${quote(value)}`}`, request: {...request, headers}}
    }
  }
}

function withUrl(request: HttpRequest, url: URL): HttpRequest {
  const before = new URL(request.url)
  // No rule moves a request to another origin: its credentials are for this one.
  if (url.origin !== before.origin) throw new Error('a break rule may not change the origin of a request')
  return {...request, url: url.toString()}
}

function applyPath(request: HttpRequest, rule: BreakRule): Applied {
  const url = new URL(request.url)
  const before = url.pathname
  let after: string
  if (rule.action === 'append') after = `${before}${rule.value ?? ''}`
  else if (rule.action === 'corrupt') after = corruptText(before.replace(/\/$/, '')) + (before.endsWith('/') ? '/' : '')
  else if (rule.key === undefined) after = rule.value ?? '/'
  else if (before.includes(rule.key)) after = before.replace(rule.key, rule.value ?? '')
  else return {request}
  if (!after.startsWith('/')) after = `/${after}`
  // Parsed as a URL, as got does: dot segments ("/v2/../x") are resolved before sending, so a rule
  // that wants them on the wire spells them percent-encoded ("%2e%2e").
  const changed = new URL(`${url.origin}${after}${url.search}`)
  if (changed.pathname === before) return {request}
  return {change: `path: ${quote(before)} → ${quote(changed.pathname)}`, request: withUrl(request, changed)}
}

function applyQuery(request: HttpRequest, rule: BreakRule): Applied {
  const url = new URL(request.url)
  const key = rule.key!
  const before = url.searchParams.getAll(key)
  switch (rule.action) {
    case 'remove':
    case 'skip': {
      if (before.length === 0) return {request}
      url.searchParams.delete(key)
      return {change: `query ${key}: removed`, request: withUrl(request, url)}
    }

    case 'replace': {
      url.searchParams.set(key, rule.value ?? '')
      return {change: `query ${key}: ${before.length === 0 ? 'added' : shownParam(key, before[0]!)} → ${shownParam(key, rule.value ?? '')}`, request: withUrl(request, url)}
    }

    case 'append': {
      url.searchParams.append(key, rule.value ?? '')
      return {change: `query ${key}: ${shownParam(key, rule.value ?? '')} appended`, request: withUrl(request, url)}
    }

    case 'corrupt': {
      if (before.length === 0) return {request}
      const value = corruptText(before[0]!)
      url.searchParams.set(key, value)
      return {change: `query ${key}: corrupted${SECRET_PARAMS.test(key) ? '' : ` ${quote(before[0]!)} → ${quote(value)}`}`, request: withUrl(request, url)}
    }
  }
}

function applyDigest(request: HttpRequest, rule: BreakRule): Applied {
  const url = new URL(request.url)
  const inQuery = url.searchParams.get('digest')
  if (inQuery !== null) {
    if (rule.action === 'remove' || rule.action === 'skip') {
      url.searchParams.delete('digest')
      return {change: `digest: ${quote(inQuery)} removed from the query`, request: withUrl(request, url)}
    }

    const value = rule.action === 'corrupt' ? corruptText(inQuery) : (rule.value ?? '')
    url.searchParams.set('digest', value)
    return {change: `digest: ${quote(inQuery)} → ${quote(value)}`, request: withUrl(request, url)}
  }

  const found = [...url.pathname.matchAll(PATH_DIGEST)].at(-1)
  if (!found || rule.action === 'remove' || rule.action === 'skip') return {request}
  const before = found[0]
  const value = rule.action === 'corrupt' ? corruptText(before) : (rule.value ?? '')
  const path = `${url.pathname.slice(0, found.index)}${value}${url.pathname.slice(found.index! + before.length)}`
  return {change: `digest: ${quote(before)} → ${quote(value)} in the path`, request: withUrl(request, new URL(`${url.origin}${path}${url.search}`))}
}

function applyBody(request: HttpRequest, rule: BreakRule): Applied {
  const before = describeLength(request)
  switch (rule.action) {
    case 'remove':
    case 'skip': {
      if (request.body === undefined) return {request}
      return {change: `body: ${before} → none`, request: {...request, body: undefined, contentLength: undefined, headers: withoutLength(request.headers)}}
    }

    case 'replace': {
      const bytes = extraBytes(rule)
      return {change: `body: ${before} → ${bytes.length} bytes`, request: {...request, body: bytes, contentLength: undefined, headers: withoutLength(request.headers)}}
    }

    case 'append': {
      const extra = extraBytes(rule)
      if (request.body === undefined) return {change: `body: none → ${extra.length} bytes`, request: {...request, body: extra}}
      const body = mapBody(request.body, (bytes) => Buffer.concat([bytes, extra]), (stream) => appendStream(stream, extra))
      const contentLength = request.contentLength === undefined ? undefined : request.contentLength + extra.length
      return {change: `body: ${extra.length} bytes appended to ${before}`, request: {...request, body, contentLength, headers: withoutLength(request.headers)}}
    }

    case 'corrupt': {
      if (request.body === undefined) return {request}
      return {change: `body: first byte of ${before} flipped`, request: {...request, body: mapBody(request.body, corruptBytes, corruptStream)}}
    }
  }
}

function applyMethod(request: HttpRequest, rule: BreakRule): Applied {
  const method = (rule.value ?? request.method).toUpperCase() as HttpMethod
  if (method === request.method) return {request}
  return {change: `method: ${request.method} → ${method}`, request: {...request, method}}
}

function applyOne(request: HttpRequest, rule: BreakRule): Applied {
  switch (rule.target) {
    case 'auth': {
      return applyHeader(request, rule, 'Authorization')
    }

    case 'body': {
      return applyBody(request, rule)
    }

    case 'content_type': {
      return applyHeader(request, rule, 'Content-Type')
    }

    case 'digest': {
      return applyDigest(request, rule)
    }

    case 'header': {
      return applyHeader(request, rule, rule.key!)
    }

    case 'method': {
      return applyMethod(request, rule)
    }

    case 'path': {
      return applyPath(request, rule)
    }

    case 'query': {
      return applyQuery(request, rule)
    }
  }
}

/**
 * A set of rules for one process: applies them in order to each request, counting how often each
 * one fired (for `limit`).
 */
export class RuleSet {
  private readonly fired = new Map<BreakRule, number>()

  constructor(readonly rules: readonly BreakRule[]) {}

  /** The request as the rules leave it, and what each rule that changed it did. */
  apply(request: HttpRequest): {mutations: Mutation[]; request: HttpRequest} {
    const mutations: Mutation[] = []
    let current = request
    for (const rule of this.rules) {
      const count = this.fired.get(rule) ?? 0
      if (rule.limit !== undefined && count >= rule.limit) continue
      if (!matches(rule, current)) continue
      const {change, request: next} = applyOne(current, rule)
      if (change === undefined) continue
      this.fired.set(rule, count + 1)
      mutations.push({change, rule: rule.name, target: rule.target})
      current = next
    }

    return {mutations, request: current}
  }
}

// --- built-in rules -----------------------------------------------------------------------------

/**
 * A Bearer token that can never be valid: a JWT whose payload expired in 2001 and whose signature
 * is empty. Not a secret: it is printed in the docs.
 */
export const EXPIRED_TOKEN = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"exp":1000000000,"iss":"regshape-break-mode","sub":"expired"}').toString('base64url')}.`

type Overrides = Partial<Pick<BreakRule, 'limit' | 'match' | 'name'>>

/** Upstream's list of built-in rules (architecture.md §5), usable by name from a rules file. */
export const builtinRules = {
  /** Corrupts the request's body: its first byte flipped. */
  corrupt_body: (options: Overrides = {}): BreakRule => ({action: 'corrupt', name: 'corrupt_body', target: 'body', ...options}),
  /** Adds or replaces a header. */
  custom_header: (options: Overrides & {key: string; value: string}): BreakRule => ({action: 'replace', name: 'custom_header', target: 'header', ...options}),
  /** Sends a Bearer token that expired long ago instead of the real Authorization. */
  expired_token: (options: Overrides & {value?: string} = {}): BreakRule => ({
    action: 'replace',
    name: 'expired_token',
    target: 'auth',
    ...options,
    value: `Bearer ${options.value ?? EXPIRED_TOKEN}`,
  }),
  /** Replaces the Content-Type of requests that carry a body. */
  invalid_content_type: (options: Overrides & {value?: string} = {}): BreakRule => ({
    action: 'replace',
    match: {method: ['PATCH', 'POST', 'PUT']},
    name: 'invalid_content_type',
    target: 'content_type',
    value: 'application/x-regshape-invalid',
    ...options,
  }),
  /** Pads the body with zero bytes (1 MiB unless `size` says otherwise). */
  oversized_payload: (options: Overrides & {size?: number} = {}): BreakRule => ({action: 'append', name: 'oversized_payload', target: 'body', ...options, size: options.size ?? 1024 * 1024}),
  /** Sends no Authorization header. */
  skip_auth: (options: Overrides = {}): BreakRule => ({action: 'remove', name: 'skip_auth', target: 'auth', ...options}),
  /** Changes the digest a request carries (the `digest=` query of an upload, or the path's) by one hex digit. */
  wrong_digest: (options: Overrides & {value?: string} = {}): BreakRule => ({action: options.value === undefined ? 'corrupt' : 'replace', name: 'wrong_digest', target: 'digest', ...options}),
  /** Sends another HTTP method. */
  wrong_method: (options: Overrides & {value: string}): BreakRule => ({action: 'replace', name: 'wrong_method', target: 'method', ...options}),
} as const

export type BuiltinRuleName = keyof typeof builtinRules
export const BUILTIN_RULE_NAMES = Object.keys(builtinRules) as BuiltinRuleName[]
