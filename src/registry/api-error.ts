import {terminalSafe} from '../util/text.js'
import {type ErrorKind, ExitCode, RegshapeError} from '../errors.js'
import {scrubSecrets} from '../util/secrets.js'

/**
 * A registry's answer that is an error: the HTTP status and, when the body is the distribution
 * spec's `{"errors": [{"code", "message", "detail"}]}`, its codes, quoted as `CODE: message`.
 */

export interface OciErrorEntry {
  code: string
  detail?: unknown
  message: string
}

/** What kind of failure it is, for callers that branch on it (not on status numbers). */
export type ApiErrorKind = Extract<ErrorKind, 'denied' | 'not-found' | 'unauthorized' | 'unsupported'> | undefined

const MAX_MESSAGE_LENGTH = 300

export class RegistryApiError extends RegshapeError {
  constructor(
    message: string,
    readonly status: number,
    readonly errors: readonly OciErrorEntry[],
    kind: ErrorKind | undefined,
    options: {about?: string; exitCode?: (typeof ExitCode)[keyof typeof ExitCode]} = {},
  ) {
    super(message, {about: options.about, exitCode: options.exitCode, kind})
  }

  /** The first OCI error code the registry sent, for --json. */
  get code(): string | undefined {
    return this.errors[0]?.code
  }
}

/** The OCI error entries of a body; empty when it is not that JSON. */
export function parseOciErrors(body: Buffer | string): OciErrorEntry[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'))
  } catch {
    return []
  }

  const list = (parsed as {errors?: unknown})?.errors
  if (!Array.isArray(list)) return []
  return list
    .filter((entry): entry is Record<string, unknown> => entry !== null && typeof entry === 'object' && typeof (entry as {code?: unknown}).code === 'string')
    .map((entry) => ({code: entry.code as string, detail: entry.detail, message: typeof entry.message === 'string' ? entry.message : ''}))
}

/**
 * The error for a registry response that failed `what` (e.g. `manifest get example.com/app:v1`).
 * Registry text is shown scrubbed of secrets, with control characters escaped and its length
 * capped: it comes from the network.
 */
export function apiError(what: string, response: {body: Buffer; status: number; statusText?: string}): RegistryApiError {
  const errors = parseOciErrors(response.body)
  const kind = kindOf(response.status, errors)
  const quoted = errors.map((entry) => (entry.message ? `${entry.code}: ${entry.message}` : entry.code)).join('; ')
  const reason = quoted === '' ? `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}` : quoted
  // Scrubbed before it is escaped and cut: a registry may echo credentials, and a secret escaped
  // (a control character in it) or cut in half would no longer be recognised at the output.
  return new RegistryApiError(`${what}: ${cap(terminalSafe(scrubSecrets(reason)))}`, response.status, errors, kind)
}

function kindOf(status: number, errors: readonly OciErrorEntry[]): ApiErrorKind {
  const codes = new Set(errors.map((entry) => entry.code))
  if (status === 401 || codes.has('UNAUTHORIZED')) return 'unauthorized'
  if (status === 403 || codes.has('DENIED')) return 'denied'
  if (status === 404 || [...codes].some((code) => code.endsWith('_UNKNOWN'))) return 'not-found'
  if (status === 405 || codes.has('UNSUPPORTED')) return 'unsupported'
  return undefined
}

function cap(text: string): string {
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}…` : text
}
