/**
 * Masks secrets in what telemetry shows of an HTTP exchange. Applied once, in the transport, so no
 * command or renderer ever holds an unmasked header, URL or body.
 */

export const MASK = '***'

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization'])
const COOKIE_HEADERS = new Set(['cookie', 'set-cookie'])
/** Names whose values are secrets, in JSON bodies, form bodies and query strings alike. */
const SECRET_FIELDS = new Set([
  'access_token',
  'client_secret',
  'id_token',
  'identitytoken',
  'password',
  'refresh_token',
  'registrytoken',
  'secret',
  'token',
])

/** `Basic dXNlcjpwYXNz` → `Basic ***`: the scheme word helps debugging, the value never appears. */
export function redactHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase()
  if (COOKIE_HEADERS.has(lower)) return MASK
  if (!SECRET_HEADERS.has(lower)) return value
  const scheme = /^([A-Za-z][A-Za-z0-9-]*)\s+\S/.exec(value)
  return scheme ? `${scheme[1]} ${MASK}` : MASK
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
    if (isSecretField(name)) parsed.searchParams.set(name, MASK)
  }

  // URLSearchParams re-encodes the mask; keep it readable.
  return parsed.toString().replaceAll(encodeURIComponent(MASK), MASK)
}

/** Masks secret fields of a JSON or form body; other text is returned as is. */
export function redactBody(body: string, contentType: string | undefined): string {
  const type = (contentType ?? '').toLowerCase()
  if (type.includes('json') || /^\s*[[{]/.test(body)) {
    try {
      return JSON.stringify(redactJson(JSON.parse(body)))
    } catch {
      if (type.includes('json')) return `<${Buffer.byteLength(body)} bytes of invalid JSON>`
    }
  }

  if (type.includes('x-www-form-urlencoded')) {
    const form = new URLSearchParams(body)
    for (const name of [...form.keys()]) if (isSecretField(name)) form.set(name, MASK)
    return form.toString().replaceAll(encodeURIComponent(MASK), MASK)
  }

  return body
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
      Object.entries(value).map(([name, inner]) => [name, isSecretField(name) && typeof inner === 'string' ? MASK : redactJson(inner)]),
    )
  }

  return value
}

function isSecretField(name: string): boolean {
  const lower = name.toLowerCase()
  return SECRET_FIELDS.has(lower) || lower.endsWith('_token') || lower.endsWith('token') || lower.includes('password') || lower.includes('secret')
}
