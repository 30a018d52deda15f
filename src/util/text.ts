/**
 * JSON exactly as the specification prints it: one line, `", "` between members and `": "` after
 * keys (the layout of Python's json.dumps, which the original regshape used). Scripts parse it like
 * any JSON; people and snapshot tests get the spec's bytes.
 */
export function formatJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => formatJson(item ?? null)).join(', ')}]`
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value)
      .filter(([, inner]) => inner !== undefined)
      .map(([key, inner]) => `${jsonString(key)}: ${formatJson(inner)}`)
    return `{${members.join(', ')}}`
  }

  return typeof value === 'string' ? jsonString(value) : JSON.stringify(value ?? null)
}

/**
 * What JSON.stringify leaves raw but a terminal still obeys: DEL, the C1 controls (U+009B is a
 * one-character CSI), the line and paragraph separators and the bidirectional overrides. Written as
 * \u escapes, the JSON parses to the same string.
 */
const JSON_UNSAFE = /[\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g

function jsonString(text: string): string {
  return JSON.stringify(text).replaceAll(JSON_UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

// eslint-disable-next-line no-control-regex
const TERMINAL_UNSAFE = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g
const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

/**
 * Text regshape did not write (config keys, usernames, helper names and messages, what a registry
 * answered) as a terminal may show it: control characters become visible escapes, so no ESC or C1
 * sequence reaches the terminal and no CR or LF can start a forged line.
 */
export function terminalSafe(text: string): string {
  return text.replaceAll(TERMINAL_UNSAFE, (char) => {
    const code = char.charCodeAt(0)
    return NAMED[char] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)
  })
}

/**
 * JSON text for a terminal without changing what it parses to: characters a terminal obeys can
 * only stand inside strings of valid JSON, where a \u escape means the same character.
 */
export function terminalSafeJson(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replaceAll(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
