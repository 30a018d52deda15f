/**
 * Every secret this run of regshape has held, whatever its source: --password, a password read
 * from stdin or the prompt, config.json's `auth`, `identitytoken` and `registrytoken`, a helper's
 * Secret, the proxy URL's password, and the tokens token servers hand out. Text that regshape did
 * not write itself (a registry's error message or headers, a helper's error output, a `set -x`
 * trace) may echo any of them, in any of the encodings they travel in, so every output is
 * scrubbed of all of them, not just of the one the current call handled. The same pass masks
 * what is a secret by its place alone, known or not: the values of signature and credential
 * parameters in URLs (pre-signed object storage URLs) and the userinfo of a URL.
 */

export const MASK = '***'

const secrets = new Set<string>()
/** The known secrets' pattern, rebuilt when a secret is learnt. */
let matcher: null | RegExp | undefined

/**
 * Shorter secrets are not scrubbed as plain text: masking every "a" of a message protects nothing
 * (a one- or two-character secret is no secret) and would make every error unreadable.
 */
const MIN_PLAIN_LENGTH = 3
/** A base64 fragment this short occurs by chance in any base64 text. */
const MIN_BASE64_LENGTH = 6

export function rememberSecret(secret: string | undefined): void {
  if (!secret || secrets.has(secret)) return
  secrets.add(secret)
  matcher = undefined
}

/**
 * The secrets of a set of credentials, and the `user:password` pair they are sent as: its base64
 * form is the Basic Authorization value a registry may echo, which the password's own base64
 * fragments cover only in part.
 */
export function rememberCredentials(credentials: undefined | {identityToken?: string; password?: string; registryToken?: string; username?: string}): void {
  if (!credentials) return
  const {identityToken, password, registryToken, username} = credentials
  rememberSecret(password)
  rememberSecret(identityToken)
  rememberSecret(registryToken)
  if (username && password) rememberSecret(`${username}:${password}`)
}

/** `text` with every known secret, in every form we know, and every secret URL part, masked. */
export function scrubSecrets(text: string): string {
  if (text === '') return text
  const known = knownForms()
  let scrubbed = known ? text.replace(known, MASK) : text
  // Each pattern of a secret's place runs only where its anchor occurs: plain searches for
  // `://` and `=`, which a long text without URLs (a tag list) passes at memchr speed.
  if (scrubbed.includes('://')) scrubbed = scrubbed.replace(URL_USERINFO, (_match, userinfo: string) => `://${userinfo.includes(':') ? `${MASK}:${MASK}` : MASK}@`)
  if (hasEquals(scrubbed)) scrubbed = scrubbed.replace(SECRET_PARAMETER, (_match, start: string, name: string, equals: string) => `${start}${name}${equals}${MASK}`)
  return scrubbed
}

/**
 * A JSON value with every string in it scrubbed; keys are left alone (a secret that happens to
 * spell a key must not break the shape). One search over all the strings first: a large result
 * (100 000 tags) with nothing to mask is returned as it is, without a pass per string.
 */
export function scrubValues<T>(value: T): T {
  const strings: string[] = []
  collectStrings(value, strings)
  return needsScrubbing(strings.join('\0')) ? (scrubEach(value) as T) : value
}

/** Whether a name (a JSON field, a query parameter, a form field) holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME_ONLY.test(name)
}

// --- secrets by their place --------------------------------------------------------------------

/** Letters of either case, without the `i` flag, which would also fold the secrets' own letters. */
const anyCase = (word: string) => word.replaceAll(/[a-z]/g, (letter) => `[${letter}${letter.toUpperCase()}]`)
/** Bounded, so a hostile text (`&passwordpassword…`, megabytes of it) costs linear time, never quadratic. */
const NAME_CHARS = '[\\w.-]{0,64}'
/**
 * Secret names: tokens of every kind (access_token, refresh_token, X-Amz-Security-Token),
 * signatures (S3 and GCS X-…-Signature, CloudFront Signature, Azure SAS sig) and what signs them
 * (X-Amz-Credential, X-Goog-Credential, CloudFront Policy and Key-Pair-Id), passwords and
 * secrets, API keys.
 */
const SECRET_NAME = [
  `${NAME_CHARS}(?:${['token', 'signature', 'credential'].map(anyCase).join('|')})`,
  `${NAME_CHARS}(?:${['password', 'passwd', 'secret'].map(anyCase).join('|')})${NAME_CHARS}`,
  ...['sig', 'policy', 'key-pair-id', 'apikey', 'api_key', 'api-key'].map(anyCase),
].join('|')
const SECRET_NAME_ONLY = new RegExp(`^(?:${SECRET_NAME})$`)
/** A query parameter starts after `?`, `&`, `;` (`&amp;`), or their URL- and JSON-escaped forms. */
const PARAMETER_START = '[?&;]|%3[fF]|%26|\\\\u0026'
const PARAMETER_EQUALS = '=|%3[dD]'
/** A value runs to the next parameter, fragment, quote, space or escape. */
const PARAMETER_VALUE = '(?:(?!%26|%23)[^&#\\s"\'<>\\\\\\x00])+'
const SECRET_PARAMETER = new RegExp(`(${PARAMETER_START})(${SECRET_NAME})(${PARAMETER_EQUALS})${PARAMETER_VALUE}`, 'g')
/** `https://user:password@host`: the userinfo of a URL quoted in text. */
const URL_USERINFO = /:\/\/([^\s/?#@"'<>\\]+)@/g

function hasEquals(text: string): boolean {
  return text.includes('=') || text.includes('%3D') || text.includes('%3d')
}

function needsScrubbing(text: string): boolean {
  const known = knownForms()
  return (
    (known !== undefined && text.search(known) !== -1) ||
    (text.includes('://') && text.search(URL_USERINFO) !== -1) ||
    (hasEquals(text) && text.search(SECRET_PARAMETER) !== -1)
  )
}

/** Every form of every known secret, as one pattern of literals (which the regexp engine scans fast); none without secrets. */
function knownForms(): RegExp | undefined {
  if (matcher === undefined) {
    // Longest first: a secret's whole base64 form goes before the fragments it contains.
    const forms = [...new Set([...secrets].flatMap((secret) => formsOf(secret)))].sort((a, b) => b.length - a.length)
    // No forms (no secrets, or only ones too short to mask): no pattern, which would match everywhere.
    matcher = forms.length === 0 ? null : new RegExp(forms.map((form) => form.replaceAll(/[$()*+.?[\\\]^{|}]/g, '\\$&')).join('|'), 'g')
  }

  return matcher ?? undefined
}

function collectStrings(value: unknown, into: string[]): void {
  if (typeof value === 'string') into.push(value)
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into)
  else if (value !== null && typeof value === 'object') for (const inner of Object.values(value)) collectStrings(inner, into)
}

function scrubEach(value: unknown): unknown {
  if (typeof value === 'string') return scrubSecrets(value)
  if (Array.isArray(value)) return value.map((item) => scrubEach(item))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, scrubEach(inner)]))
  return value
}

// --- known secrets, in the forms they travel in ------------------------------------------------

function formsOf(secret: string): string[] {
  // The secret as it travels: raw, inside JSON (the helper payload), URL- and form-encoded.
  const plain = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), new URLSearchParams({s: secret}).toString().slice(2)])
  const found = new Set<string>()
  for (const form of plain) {
    if (secret.length >= MIN_PLAIN_LENGTH) found.add(form)
    // Whole: `user:password` encoded is the Basic Authorization value, padding and all.
    const whole = Buffer.from(form, 'utf8')
    if (whole.length * 4 >= MIN_BASE64_LENGTH * 3) found.add(whole.toString('base64')).add(whole.toString('base64url'))
    for (const fragment of base64Fragments(form)) found.add(fragment)
  }

  found.delete('')
  return [...found]
}

/**
 * In `base64(user:secret)`, or in any longer base64 text (a whole payload encoded), the secret's
 * own characters depend on where it starts modulo 3 bytes: for each of the three offsets, the
 * characters that come from the secret's bits alone, in both base64 alphabets.
 */
function base64Fragments(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8')
  const fragments: string[] = []
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64').replace(/=+$/, '')
    const fragment = encoded.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6))
    if (fragment.length >= MIN_BASE64_LENGTH) fragments.push(fragment, fragment.replaceAll('+', '-').replaceAll('/', '_'))
  }

  return fragments
}
