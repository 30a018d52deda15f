import {Readable, Transform, type TransformCallback} from 'node:stream'

import type {HttpMethod, HttpRequest, RequestBody} from '../transport/http.js'

/**
 * Break mode's rules: what a rule is, the built-in ones, and how an ordered list of them changes
 * one outgoing request (registry.md §5). Pure: no I/O, no knowledge of registries or commands.
 * The transport calls RuleSet.apply() (through BreakSession, its BreakStage) at its one
 * chokepoint, after authentication, for every exchange (registry and token server alike); domain
 * code never sees a rule.
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

/** Whether a rule applies to a request as it stands. */
type Matcher = (request: Draft) => boolean

/** A rule's match compiled once, when the rule set is made, not once per rule for every request. */
function compileMatch(match: BreakMatch | undefined): Matcher {
  if (!match) return () => true
  const methods = match.method && new Set(match.method.map((method) => method.toUpperCase()))
  const operations = match.operation?.map((glob) => globToRegExp(glob))
  const path = match.path === undefined ? undefined : new RegExp(match.path)
  return (request) =>
    (!methods || methods.has(request.method)) &&
    (!operations || operations.some((operation) => operation.test(request.operation ?? ''))) &&
    (!path || path.test(`${request.url.pathname}${request.url.search}`))
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

function describeLength(request: Pick<HttpRequest, 'body' | 'contentLength'>): string {
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

/**
 * A request as the rules change it, in place: the headers indexed by lower-case name and the URL
 * parsed once. Each rule then costs the same however many came before it; copying the headers and
 * scanning them for a name at every rule made 10,000 rules that add headers take minutes.
 */
class Draft {
  body: RequestBody | undefined
  contentLength: number | undefined
  method: HttpMethod
  readonly operation: string | undefined
  /** By lower-case name. A second spelling of a name already seen (never sent by regshape) is kept apart, untouched. */
  private readonly headers = new Map<string, {name: string; value: string}>()
  private headersChanged = false
  private readonly others: Array<[string, string]> = []
  /**
   * The query, apart from the URL while rules change it: a URL serialises its whole query again at
   * every change of its searchParams, which made 10,000 query rules as many passes over it.
   */
  private params?: URLSearchParams
  private paramsChanged = false
  private whole: URL
  private urlWasChanged = false

  constructor(private readonly original: HttpRequest) {
    this.body = original.body
    this.contentLength = original.contentLength
    this.method = original.method
    this.operation = original.operation
    this.whole = new URL(original.url)
    for (const [name, value] of Object.entries(original.headers ?? {})) {
      if (this.headers.has(name.toLowerCase())) this.others.push([name, value])
      else this.headers.set(name.toLowerCase(), {name, value})
    }
  }

  header(name: string): {name: string; value: string} | undefined {
    return this.headers.get(name.toLowerCase())
  }

  /** Sets a header; `last` moves it to the end, as a header written anew. */
  setHeader(name: string, value: string, last: boolean): void {
    if (last) this.headers.delete(name.toLowerCase())
    this.headers.set(name.toLowerCase(), {name, value})
    this.headersChanged = true
  }

  deleteHeader(name: string): void {
    if (this.headers.delete(name.toLowerCase())) this.headersChanged = true
  }

  /** The URL as the rules have left it so far. */
  get url(): URL {
    if (this.paramsChanged) {
      this.whole.search = this.params!.toString()
      this.paramsChanged = false
    }

    return this.whole
  }

  setUrl(url: URL): void {
    // No rule moves a request to another origin: its credentials are for this one.
    if (url.origin !== this.url.origin) throw new Error('a break rule may not change the origin of a request')
    this.whole = url
    this.params = undefined
    this.urlWasChanged = true
  }

  /** The query parameters, to read; after changing them, call queryChanged(). */
  query(): URLSearchParams {
    this.params ??= new URLSearchParams(this.url.search)
    return this.params
  }

  queryChanged(): void {
    this.paramsChanged = true
    this.urlWasChanged = true
  }

  /** The request as the rules left it: the original object when none changed it. */
  toRequest(): HttpRequest {
    const {original} = this
    const request: HttpRequest = {...original}
    let changed = false
    if (this.body !== original.body) [request.body, changed] = [this.body, true]
    if (this.contentLength !== original.contentLength) [request.contentLength, changed] = [this.contentLength, true]
    if (this.method !== original.method) [request.method, changed] = [this.method, true]
    if (this.urlWasChanged) [request.url, changed] = [this.url.toString(), true]
    if (this.headersChanged) {
      request.headers = Object.fromEntries([...[...this.headers.values()].map(({name, value}) => [name, value]), ...this.others])
      changed = true
    }

    return changed ? request : original
  }
}

/** The digest a request carries: `digest=` in the query, else the last `<alg>:<hex>` segment of the path. */
const PATH_DIGEST = /[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}/g

/** Each target's change to a request, in place; it returns what it changed, or undefined for nothing. */
type Change = string | undefined

function applyHeader(request: Draft, rule: BreakRule, name: string): Change {
  const existing = request.header(name)
  const before = existing?.value
  const label = existing?.name ?? name
  switch (rule.action) {
    case 'remove':
    case 'skip': {
      if (existing === undefined) return undefined
      request.deleteHeader(label)
      return `${label}: removed`
    }

    case 'replace': {
      const value = rule.value ?? ''
      request.setHeader(label, value, true)
      return `${label}: ${before === undefined ? 'added' : shown(label, before)} → ${shown(label, value)}`
    }

    case 'append': {
      const value = before === undefined ? (rule.value ?? '') : `${before}${rule.value ?? ''}`
      request.setHeader(label, value, true)
      return `${label}: ${before === undefined ? 'added' : shown(label, before)} → ${shown(label, value)}`
    }

    case 'corrupt': {
      if (before === undefined) return undefined
      const value = corruptText(before)
      request.setHeader(label, value, false)
      return `${label}: corrupted${CREDENTIAL_HEADER.test(label) ? '' : ` ${quote(before)} → ${quote(value)}`}`
    }
  }
}

function applyPath(request: Draft, rule: BreakRule): Change {
  const {url} = request
  const before = url.pathname
  let after: string
  if (rule.action === 'append') after = `${before}${rule.value ?? ''}`
  else if (rule.action === 'corrupt') after = corruptText(before.replace(/\/$/, '')) + (before.endsWith('/') ? '/' : '')
  else if (rule.key === undefined) after = rule.value ?? '/'
  else if (before.includes(rule.key)) after = before.replace(rule.key, rule.value ?? '')
  else return undefined
  if (!after.startsWith('/')) after = `/${after}`
  // Parsed as a URL, as got does: dot segments ("/v2/../x") are resolved before sending, so a rule
  // that wants them on the wire spells them percent-encoded ("%2e%2e").
  const changed = new URL(`${url.origin}${after}${url.search}`)
  if (changed.pathname === before) return undefined
  request.setUrl(changed)
  return `path: ${quote(before)} → ${quote(changed.pathname)}`
}

function applyQuery(request: Draft, rule: BreakRule): Change {
  const searchParams = request.query()
  const key = rule.key!
  const before = searchParams.getAll(key)
  switch (rule.action) {
    case 'remove':
    case 'skip': {
      if (before.length === 0) return undefined
      searchParams.delete(key)
      request.queryChanged()
      return `query ${key}: removed`
    }

    case 'replace': {
      searchParams.set(key, rule.value ?? '')
      request.queryChanged()
      return `query ${key}: ${before.length === 0 ? 'added' : shownParam(key, before[0]!)} → ${shownParam(key, rule.value ?? '')}`
    }

    case 'append': {
      searchParams.append(key, rule.value ?? '')
      request.queryChanged()
      return `query ${key}: ${shownParam(key, rule.value ?? '')} appended`
    }

    case 'corrupt': {
      if (before.length === 0) return undefined
      const value = corruptText(before[0]!)
      searchParams.set(key, value)
      request.queryChanged()
      return `query ${key}: corrupted${SECRET_PARAMS.test(key) ? '' : ` ${quote(before[0]!)} → ${quote(value)}`}`
    }
  }
}

function applyDigest(request: Draft, rule: BreakRule): Change {
  const searchParams = request.query()
  const inQuery = searchParams.get('digest')
  if (inQuery !== null) {
    if (rule.action === 'remove' || rule.action === 'skip') {
      searchParams.delete('digest')
      request.queryChanged()
      return `digest: ${quote(inQuery)} removed from the query`
    }

    const value = rule.action === 'corrupt' ? corruptText(inQuery) : (rule.value ?? '')
    searchParams.set('digest', value)
    request.queryChanged()
    return `digest: ${quote(inQuery)} → ${quote(value)}`
  }

  const {url} = request
  const found = [...url.pathname.matchAll(PATH_DIGEST)].at(-1)
  if (!found || rule.action === 'remove' || rule.action === 'skip') return undefined
  const before = found[0]
  const value = rule.action === 'corrupt' ? corruptText(before) : (rule.value ?? '')
  const path = `${url.pathname.slice(0, found.index)}${value}${url.pathname.slice(found.index! + before.length)}`
  request.setUrl(new URL(`${url.origin}${path}${url.search}`))
  return `digest: ${quote(before)} → ${quote(value)} in the path`
}

/** A new body: an explicit Content-Length is no longer true of it, the transport sets the right one. */
function setBody(request: Draft, body: RequestBody | undefined, contentLength: number | undefined): void {
  request.body = body
  request.contentLength = contentLength
  request.deleteHeader('content-length')
}

function applyBody(request: Draft, rule: BreakRule): Change {
  const before = describeLength(request)
  switch (rule.action) {
    case 'remove':
    case 'skip': {
      if (request.body === undefined) return undefined
      setBody(request, undefined, undefined)
      return `body: ${before} → none`
    }

    case 'replace': {
      const bytes = extraBytes(rule)
      setBody(request, bytes, undefined)
      return `body: ${before} → ${bytes.length} bytes`
    }

    case 'append': {
      const extra = extraBytes(rule)
      if (request.body === undefined) {
        request.body = extra
        return `body: none → ${extra.length} bytes`
      }

      const body = mapBody(request.body, (bytes) => Buffer.concat([bytes, extra]), (stream) => appendStream(stream, extra))
      setBody(request, body, request.contentLength === undefined ? undefined : request.contentLength + extra.length)
      return `body: ${extra.length} bytes appended to ${before}`
    }

    case 'corrupt': {
      if (request.body === undefined) return undefined
      request.body = mapBody(request.body, corruptBytes, corruptStream)
      return `body: first byte of ${before} flipped`
    }
  }
}

function applyMethod(request: Draft, rule: BreakRule): Change {
  const method = (rule.value ?? request.method).toUpperCase() as HttpMethod
  if (method === request.method) return undefined
  const before = request.method
  request.method = method
  return `method: ${before} → ${method}`
}

function applyOne(request: Draft, rule: BreakRule): Change {
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
 * one fired (for `limit`). The cost of a request is linear in the number of rules.
 */
export class RuleSet {
  private readonly fired = new Map<BreakRule, number>()
  private readonly matchers: readonly Matcher[]

  constructor(readonly rules: readonly BreakRule[]) {
    this.matchers = rules.map((rule) => compileMatch(rule.match))
  }

  /** The request as the rules leave it, and what each rule that changed it did. */
  apply(request: HttpRequest): {mutations: Mutation[]; request: HttpRequest} {
    const mutations: Mutation[] = []
    const draft = new Draft(request)
    for (const [index, rule] of this.rules.entries()) {
      const count = this.fired.get(rule) ?? 0
      if (rule.limit !== undefined && count >= rule.limit) continue
      if (!this.matchers[index]!(draft)) continue
      const change = applyOne(draft, rule)
      if (change === undefined) continue
      this.fired.set(rule, count + 1)
      mutations.push({change, rule: rule.name, target: rule.target})
    }

    return {mutations, request: draft.toRequest()}
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
