import {MASK, isSecretName, scrubSecrets} from '../util/secrets.js'

/**
 * Masks secrets in what telemetry shows of an HTTP exchange. Applied once, in the transport, so no
 * command or renderer ever holds an unmasked header, URL or body: what is a secret by its place
 * (Authorization, a token field, a signature parameter) is masked here, and what a server echoes
 * anywhere else (a header, an error body) is scrubbed of every secret the run holds.
 */

export {MASK} from '../util/secrets.js'

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization'])
const COOKIE_HEADERS = new Set(['cookie', 'set-cookie'])
/** Headers that hold a URL: a redirect to a pre-signed URL carries its signature in the query. */
const URL_HEADERS = new Set(['location', 'content-location'])

/** `Basic dXNlcjpwYXNz` → `Basic ***`: the scheme word helps debugging, the value never appears. */
export function redactHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase()
  if (COOKIE_HEADERS.has(lower)) return MASK
  if (URL_HEADERS.has(lower)) return redactLocation(value)
  if (!SECRET_HEADERS.has(lower)) return scrubSecrets(value)
  const scheme = /^([A-Za-z][A-Za-z0-9-]*)\s+\S/.exec(value)
  return scheme ? `${scheme[1]} ${MASK}` : MASK
}

/** A Location, absolute or relative (`/v2/…?sig=…`): its secret parameters masked, never the whole. */
function redactLocation(value: string): string {
  return URL.canParse(value) ? redactUrl(value) : scrubSecrets(value)
}

export function redactHeaders<T extends string | string[]>(headers: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [
      name,
      (Array.isArray(value) ? value.map((v) => redactHeaderValue(name, v)) : redactHeaderValue(name, value)) as T,
    ]),
  )
}

/** Masks userinfo and token-like query parameters. Unparseable input is masked whole. */
export function redactUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return MASK
  }

  if (parsed.username) parsed.username = MASK
  if (parsed.password) parsed.password = MASK
  for (const name of [...parsed.searchParams.keys()]) {
    if (isSecretName(name)) parsed.searchParams.set(name, MASK)
  }

  // URLSearchParams re-encodes the mask; keep it readable. A known secret may stand in the path.
  return scrubSecrets(parsed.toString().replaceAll(encodeURIComponent(MASK), MASK))
}

/** Masks secret fields of a JSON or form body, and known secrets anywhere in it. */
export function redactBody(body: string, contentType: string | undefined): string {
  const type = (contentType ?? '').toLowerCase()
  if (type.includes('json') || /^\s*[[{]/.test(body)) {
    try {
      return scrubSecrets(JSON.stringify(redactJson(JSON.parse(body))))
    } catch {
      if (type.includes('json')) return `<${Buffer.byteLength(body)} bytes of invalid JSON>`
    }
  }

  if (type.includes('x-www-form-urlencoded')) {
    const form = new URLSearchParams(body)
    for (const name of [...form.keys()]) if (isSecretName(name)) form.set(name, MASK)
    return scrubSecrets(form.toString().replaceAll(encodeURIComponent(MASK), MASK))
  }

  return scrubSecrets(body)
}

const MAX_SHOWN_BODY = 2048

/** A body as telemetry may show it: text kinds with secret fields masked and cut short, others as a size. */
export function describeBody(body: Buffer | string, contentType: string | undefined): string {
  const text = typeof body === 'string' ? body : body.toString('utf8')
  const type = (contentType ?? '').toLowerCase()
  const textual = type === '' || type.includes('json') || type.startsWith('text/') || type.includes('x-www-form-urlencoded')
  if (!textual) return `<${Buffer.byteLength(text)} bytes of ${type}>`
  const shown = redactBody(text, contentType)
  return shown.length > MAX_SHOWN_BODY ? `${shown.slice(0, MAX_SHOWN_BODY)}… (${Buffer.byteLength(text)} bytes)` : shown
}

function redactJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => redactJson(item))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([name, inner]) => [name, isSecretName(name) && typeof inner === 'string' ? MASK : redactJson(inner)]),
    )
  }

  return value
}
