import {appendFileSync} from 'node:fs'

import type {BreakStage as TransportBreakStage, HttpRequest} from '../transport/http.js'
import type {Mutation, RuleSet} from './rules.js'

import {terminalSafe} from '../util/text.js'
import {scrubSecrets} from '../util/secrets.js'
import {redactUrl} from '../transport/redact.js'

/**
 * Break mode for one run: the rules, and the report of every request they changed (registry.md
 * §5). The transport sees only BreakStage; what the registry answered comes back through record().
 */

/**
 * What the transport calls, once per exchange (registry and token server), after authentication:
 * the transport's BreakStage (transport/http.ts), with the mutations this module makes.
 */
export interface BreakStage extends TransportBreakStage {
  apply(request: HttpRequest): {mutations: Mutation[]; request: HttpRequest}
  /** The outcome of a request the rules changed: its status and (error) body, or its failure. */
  record(outcome: {body?: Buffer; error?: string; mutations: Mutation[]; request: HttpRequest; status?: number}): void
}

/** One change to one request, and how the registry answered it: an entry of the JSON report. */
export interface BreakEvent {
  change: string
  /** The OCI error code of the answer (`DIGEST_INVALID`), when it had one. */
  code?: string
  error?: string
  method: string
  operation?: string
  rule: string
  status?: number
  target: string
  /** Path and query, secrets masked, each cut after a fixed length (see SHOWN_QUERY_CHARS). */
  url: string
}

export class BreakSession implements BreakStage {
  readonly events: BreakEvent[] = []

  constructor(
    readonly rules: RuleSet,
    private readonly write: (line: string) => void,
  ) {}

  /** Report lines to a file (--log-file), appended, one per change. */
  static toFile(rules: RuleSet, file: string): BreakSession {
    appendFileSync(file, '', {mode: 0o600})
    return new BreakSession(rules, (line) => appendFileSync(file, `${line}\n`))
  }

  apply(request: HttpRequest): {mutations: Mutation[]; request: HttpRequest} {
    return this.rules.apply(request)
  }

  record(outcome: {body?: Buffer; error?: string; mutations: Mutation[]; request: HttpRequest; status?: number}): void {
    const {request} = outcome
    const code = outcome.status !== undefined && outcome.status >= 400 ? ociErrorCode(outcome.body) : undefined
    const url = shownUrl(request.url)
    for (const mutation of outcome.mutations) {
      const event: BreakEvent = {
        change: scrubSecrets(mutation.change),
        code,
        error: outcome.error === undefined ? undefined : scrubSecrets(outcome.error),
        method: request.method,
        operation: request.operation,
        rule: mutation.rule,
        status: outcome.status,
        target: mutation.target,
        url,
      }
      this.events.push(event)
      const answer = event.error === undefined ? `${event.status}${event.code ? ` ${event.code}` : ''}` : `failed: ${event.error}`
      // The line as a whole is scrubbed too: a rule's name or target may quote a secret, and the
      // report may go to a file (--log-file) that outlives the run.
      this.write(terminalSafe(scrubSecrets(`break: ${event.rule}: ${event.change} | ${event.method} ${event.url}${event.operation ? ` (${event.operation})` : ''} → ${answer}`)))
    }
  }
}

/**
 * What one report line (and one JSON event) shows of a URL's path and of its query, in characters.
 * Each change to a request is reported with its URL: rules that grow the query (10,000 appended
 * parameters) would repeat an ever longer URL on each of their lines, a report the square of the
 * rules in size. No URL regshape sends itself comes near (an upload's `_state` and `digest` make a
 * query of a few hundred characters); only what rules added is cut.
 */
const SHOWN_PATH_CHARS = 512
const SHOWN_QUERY_CHARS = 1024

/** Path and query, masked first (so a cut cannot leave half a secret to show), then cut with an ellipsis. */
function shownUrl(url: string): string {
  const redacted = new URL(redactUrl(url))
  // The masked text, split again where its query starts: a path's own '?' would be %3F, a mask has none.
  const masked = scrubSecrets(`${redacted.pathname}${redacted.search}`)
  const queryAt = masked.indexOf('?')
  const path = queryAt === -1 ? masked : masked.slice(0, queryAt)
  const query = queryAt === -1 ? '' : masked.slice(queryAt)
  return `${cut(path, SHOWN_PATH_CHARS)}${cut(query, SHOWN_QUERY_CHARS)}`
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** The first OCI error code of an error body (`{"errors": [{"code": "DIGEST_INVALID", ...}]}`). */
export function ociErrorCode(body: Buffer | undefined): string | undefined {
  if (!body || body.length === 0 || body.length > 1024 * 1024) return undefined
  try {
    const code = (JSON.parse(body.toString('utf8')) as {errors?: Array<{code?: unknown}>}).errors?.[0]?.code
    return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : undefined
  } catch {
    return undefined
  }
}
