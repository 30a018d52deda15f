import {MASK} from './transport/redact.js'

/**
 * Every secret this run of regshape has held: the --password flag, what went to a credential
 * helper on `store`, what came back on `get`. Text that regshape did not write itself (a helper's
 * error output, a `set -x` trace) may echo any of them, in any of the encodings they travel in, so
 * such text is scrubbed of all of them, not just of the one the current call handled.
 */

const secrets = new Set<string>()
let forms: string[] | undefined

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
  forms = undefined
}

/** `text` with every known secret, in every form we know, replaced by the mask. */
export function scrubSecrets(text: string): string {
  if (secrets.size === 0 || text === '') return text
  forms ??= [...secrets].flatMap((secret) => formsOf(secret)).sort((a, b) => b.length - a.length)
  let scrubbed = text
  for (const form of forms) if (scrubbed.includes(form)) scrubbed = scrubbed.replaceAll(form, MASK)
  return scrubbed
}

/** Whether `text` holds any known secret in any known form. */
export function holdsSecret(text: string): boolean {
  return scrubSecrets(text) !== text
}

function formsOf(secret: string): string[] {
  // The secret as it travels: raw, inside JSON (the helper payload), URL- and form-encoded.
  const plain = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), new URLSearchParams({s: secret}).toString().slice(2)])
  const found = new Set<string>()
  for (const form of plain) {
    if (secret.length >= MIN_PLAIN_LENGTH) found.add(form)
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
