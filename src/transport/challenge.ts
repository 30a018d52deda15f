import {ProtocolError} from '../errors.js'

/**
 * WWW-Authenticate parsing (RFC 9110 §11.6.1): a header holds one or more challenges, each a scheme
 * followed by either a token68 or comma-separated `name=value` parameters whose values are tokens
 * or quoted strings with backslash escapes. A response may also carry several such headers.
 */

export interface Challenge {
  /** Lower-cased: `basic`, `bearer`, ... */
  scheme: string
  /** Parameter names lower-cased, values unquoted. */
  params: Record<string, string>
  token68?: string
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/

export function parseChallenges(headers: string | string[] | undefined): Challenge[] {
  if (headers === undefined) return []
  const values = Array.isArray(headers) ? headers : [headers]
  return values.flatMap((value) => new ChallengeParser(value).parse())
}

class ChallengeParser {
  private pos = 0

  constructor(private readonly text: string) {}

  parse(): Challenge[] {
    const challenges: Challenge[] = []
    for (;;) {
      this.skip(/[\s,]/)
      if (this.atEnd()) return challenges
      const scheme = this.token()
      if (!scheme) throw this.malformed(`unexpected character ${JSON.stringify(this.text[this.pos])}`)
      const challenge: Challenge = {params: {}, scheme: scheme.toLowerCase()}
      challenges.push(challenge)
      if (!this.skip(/ /) && !this.atEnd() && this.text[this.pos] !== ',') {
        throw this.malformed(`expected a space after the scheme ${scheme}`)
      }

      this.parseParameters(challenge)
    }
  }

  private parseParameters(challenge: Challenge): void {
    const token68 = this.tryToken68()
    if (token68 !== undefined) {
      challenge.token68 = token68
      return
    }

    for (;;) {
      this.skip(/[\s,]/)
      if (this.atEnd()) return
      const start = this.pos
      const name = this.token()
      if (!name) throw this.malformed(`unexpected character ${JSON.stringify(this.text[this.pos])}`)
      this.skip(/[ \t]/)
      if (this.text[this.pos] !== '=') {
        // Not a parameter: the next challenge's scheme.
        this.pos = start
        return
      }

      this.pos++
      this.skip(/[ \t]/)
      const value = this.text[this.pos] === '"' ? this.quotedString() : this.token()
      challenge.params[name.toLowerCase()] = value
      this.skip(/[ \t]/)
      if (!this.atEnd() && this.text[this.pos] !== ',') {
        throw this.malformed(`expected "," after the parameter ${name}`)
      }
    }
  }

  /**
   * A token68 stands alone after the scheme and its space (`Negotiate YIIC...==`); anything followed
   * by `=` and a value is a parameter instead.
   */
  private tryToken68(): string | undefined {
    const start = this.pos
    while (!this.atEnd() && TOKEN68_CHAR.test(this.text[this.pos])) this.pos++
    while (this.pos > start && this.text[this.pos] === '=') this.pos++
    const end = this.pos
    this.skip(/[ \t]/)
    if (end > start && (this.atEnd() || this.text[this.pos] === ',')) return this.text.slice(start, end)
    this.pos = start
    return undefined
  }

  private quotedString(): string {
    this.pos++ // opening quote
    let value = ''
    while (!this.atEnd()) {
      const char = this.text[this.pos++]
      if (char === '"') return value
      if (char === '\\') {
        if (this.atEnd()) break
        value += this.text[this.pos++]
      } else {
        value += char
      }
    }

    throw this.malformed('unterminated quoted string')
  }

  private token(): string {
    const start = this.pos
    while (!this.atEnd() && TCHAR.test(this.text[this.pos])) this.pos++
    return this.text.slice(start, this.pos)
  }

  private skip(pattern: RegExp): boolean {
    const start = this.pos
    while (!this.atEnd() && pattern.test(this.text[this.pos])) this.pos++
    return this.pos > start
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length
  }

  private malformed(reason: string): ProtocolError {
    return new ProtocolError(`malformed WWW-Authenticate header: ${reason}`)
  }
}
