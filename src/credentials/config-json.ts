/**
 * A JSON reader for config.json that sees what JSON.parse hides, and says where a syntax error
 * is without ever quoting the text (config.json holds passwords).
 *
 * Differences from JSON.parse, all on purpose:
 * - objects have no prototype, so keys such as `constructor` or `__proto__` are plain data;
 * - the root object's members come back in order, repeats included, so the caller can apply
 *   Go's rules for repeated keys (see foldTopLevel in docker-config.ts);
 * - errors carry a line and column only;
 * - each member's text, as written, is remembered with its container (rawText), so that what
 *   regshape does not change is written back byte for byte (formatConfigJson): escapes such as
 *   `\u0026` and integers beyond 2^53 survive a rewrite.
 * On any duplicate-free input the value is the one JSON.parse gives (a property test checks it).
 */

/** Go's encoding/json gives up at this depth too (maxNestingDepth); it also keeps the stack safe. */
const MAX_DEPTH = 10_000

export class JsonSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`)
    this.name = 'JsonSyntaxError'
  }
}

export type JsonObject = Record<string, unknown>

export interface ParsedJson {
  value: unknown
  /** The root object's members in document order, repeated keys included; undefined if the root is not an object. */
  rootEntries?: Array<[string, unknown]>
}

export function parseJson(text: string): ParsedJson {
  const parser = new Parser(text)
  parser.skipSpace()
  const rootEntries: Array<[string, unknown]> | undefined = text[parser.at] === '{' ? [] : undefined
  const value = parser.value(0, rootEntries)
  parser.skipSpace()
  if (parser.at < text.length) parser.fail('unexpected data after the top-level value')
  return {rootEntries, value}
}

/** Each parsed object's or array's members, by key or index, as their text was written. */
const rawMembers = new WeakMap<object, Map<string, string>>()

/** The text `container[key]` had in the file, if it came from one. */
export function rawText(container: object, key: number | string): string | undefined {
  return rawMembers.get(container)?.get(String(key))
}

/** `to[toKey]` holds what `from[fromKey]` held: it keeps that member's text as written. */
export function carryRawText(from: object, fromKey: string, to: object, toKey: string): void {
  const raw = rawText(from, fromKey)
  if (raw === undefined) return
  let members = rawMembers.get(to)
  if (!members) rawMembers.set(to, (members = new Map()))
  members.set(toKey, raw)
}

/** A deep copy that keeps the prototype-free objects prototype-free (structuredClone would not), and the text as written. */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) {
    const copy = value.map((item) => cloneJson(item))
    const members = rawMembers.get(value)
    if (members) rawMembers.set(copy, new Map(members))
    return copy as T
  }

  if (value !== null && typeof value === 'object') {
    const copy: JsonObject = Object.create(null)
    for (const [key, item] of Object.entries(value)) copy[key] = cloneJson(item)
    const members = rawMembers.get(value)
    if (members) rawMembers.set(copy, new Map(members))
    return copy as T
  }

  return value
}

/**
 * config.json as docker writes it (Go's json.MarshalIndent with a tab): tab indentation, no
 * trailing newline, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go escapes them. A member whose
 * value is unchanged since it was read is written as the text it had, so entries regshape does not
 * own come back byte for byte, whoever wrote them.
 */
export function formatConfigJson(value: unknown): string {
  return formatValue(value, '')
}

function formatValue(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    const inner = `${indent}\t`
    return `[\n${value.map((item, index) => `${inner}${memberText(value, index, item, inner)}`).join(',\n')}\n${indent}]`
  }

  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined)
    if (entries.length === 0) return '{}'
    const inner = `${indent}\t`
    return `{\n${entries.map(([key, item]) => `${inner}${goString(key)}: ${memberText(value, key, item, inner)}`).join(',\n')}\n${indent}}`
  }

  if (typeof value === 'string') return goString(value)
  return JSON.stringify(value ?? null)
}

function memberText(container: object, key: number | string, item: unknown, indent: string): string {
  const raw = rawText(container, key)
  if (raw !== undefined && sameJson(parseJson(raw).value, item)) return raw
  return formatValue(item, indent)
}

function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, index) => sameJson(item, b[index]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keysA = Object.keys(a)
    const keysB = Object.keys(b)
    return keysA.length === keysB.length && keysA.every((key, index) => key === keysB[index] && sameJson((a as JsonObject)[key], (b as JsonObject)[key]))
  }

  return Object.is(a, b)
}

/** Go's encoding/json string: JSON's escapes plus <, >, & and the two line separators. */
function goString(text: string): string {
  return JSON.stringify(text).replaceAll(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** An empty object without a prototype, for config data. */
export function emptyObject<T extends object = JsonObject>(): T {
  return Object.create(null) as T
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const ESCAPES: Record<string, string> = {'"': '"', '/': '/', '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t'}

class Parser {
  at = 0

  constructor(private readonly text: string) {}

  fail(reason: string, at = this.at): never {
    let line = 1
    let lineStart = 0
    for (let i = 0; i < at && i < this.text.length; i++) {
      if (this.text[i] === '\n') {
        line++
        lineStart = i + 1
      }
    }

    throw new JsonSyntaxError(reason, line, at - lineStart + 1)
  }

  skipSpace(): void {
    const {text} = this
    while (this.at < text.length) {
      const c = text[this.at]
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') break
      this.at++
    }
  }

  value(depth: number, entries?: Array<[string, unknown]>): unknown {
    if (depth > MAX_DEPTH) this.fail('nested too deeply')
    this.skipSpace()
    const c = this.text[this.at]
    switch (c) {
      case '{': {
        return this.object(depth, entries)
      }

      case '[': {
        return this.array(depth)
      }

      case '"': {
        return this.string()
      }

      case 't': {
        return this.literal('true', true)
      }

      case 'f': {
        return this.literal('false', false)
      }

      case 'n': {
        return this.literal('null', null)
      }

      case undefined: {
        return this.fail('unexpected end of input')
      }

      default: {
        if (c === '-' || (c >= '0' && c <= '9')) return this.number()
        return this.fail('unexpected character')
      }
    }
  }

  private object(depth: number, entries?: Array<[string, unknown]>): JsonObject {
    const result: JsonObject = Object.create(null)
    const raw = new Map<string, string>()
    rawMembers.set(result, raw)
    this.at++
    this.skipSpace()
    if (this.text[this.at] === '}') {
      this.at++
      return result
    }

    for (;;) {
      this.skipSpace()
      if (this.text[this.at] !== '"') this.fail(this.at >= this.text.length ? 'unexpected end of input' : 'expected a string key')
      const key = this.string()
      this.skipSpace()
      if (this.text[this.at] !== ':') this.fail(this.at >= this.text.length ? 'unexpected end of input' : "expected ':' after a key")
      this.at++
      this.skipSpace()
      const start = this.at
      const item = this.value(depth + 1)
      // Last one wins and keeps the first one's place, as with JSON.parse.
      result[key] = item
      raw.set(key, this.text.slice(start, this.at))
      entries?.push([key, item])
      this.skipSpace()
      const next = this.text[this.at]
      this.at++
      if (next === '}') return result
      if (next !== ',') this.fail(next === undefined ? 'unexpected end of input' : "expected ',' or '}'", this.at - 1)
    }
  }

  private array(depth: number): unknown[] {
    const result: unknown[] = []
    const raw = new Map<string, string>()
    rawMembers.set(result, raw)
    this.at++
    this.skipSpace()
    if (this.text[this.at] === ']') {
      this.at++
      return result
    }

    for (;;) {
      this.skipSpace()
      const start = this.at
      result.push(this.value(depth + 1))
      raw.set(String(result.length - 1), this.text.slice(start, this.at))
      this.skipSpace()
      const next = this.text[this.at]
      this.at++
      if (next === ']') return result
      if (next !== ',') this.fail(next === undefined ? 'unexpected end of input' : "expected ',' or ']'", this.at - 1)
    }
  }

  private string(): string {
    const {text} = this
    const start = this.at
    this.at++
    let result = ''
    let chunkStart = this.at
    for (;;) {
      if (this.at >= text.length) this.fail('unterminated string', start)
      const code = text.charCodeAt(this.at)
      if (code === 0x22) {
        result += text.slice(chunkStart, this.at)
        this.at++
        return result
      }

      if (code < 0x20) this.fail('control character in a string')
      if (code !== 0x5c) {
        this.at++
        continue
      }

      result += text.slice(chunkStart, this.at)
      const escape = text[this.at + 1]
      if (escape === 'u') {
        const hex = text.slice(this.at + 2, this.at + 6)
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('bad \\u escape in a string')
        result += String.fromCharCode(Number.parseInt(hex, 16))
        this.at += 6
      } else if (escape !== undefined && Object.hasOwn(ESCAPES, escape)) {
        result += ESCAPES[escape]
        this.at += 2
      } else {
        this.fail('bad escape in a string')
      }

      chunkStart = this.at
    }
  }

  private number(): number {
    NUMBER.lastIndex = this.at
    const match = NUMBER.exec(this.text)
    if (!match) return this.fail('bad number')
    this.at += match[0].length
    return Number(match[0])
  }

  private literal<T>(word: string, value: T): T {
    if (this.text.startsWith(word, this.at)) {
      this.at += word.length
      return value
    }

    return this.fail('unexpected character')
  }
}
