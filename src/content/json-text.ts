/**
 * JSON re-indented as text, not re-serialised: every key, its order (integer-like keys included,
 * which JSON.parse would move first), duplicates and the exact spelling of numbers stay as
 * received. Only whitespace between tokens changes. The input must be valid JSON.
 */
export function reindentJson(text: string, indent = 2): string {
  const pad = ' '.repeat(indent)
  let out = ''
  let depth = 0
  let index = 0
  // One string per depth, shared by every line at that depth: a 4 MiB array of small numbers has
  // two million lines, and a fresh padding string for each cost a third of the memory.
  const newlines: string[] = []
  const newline = () => (newlines[depth] ??= `\n${pad.repeat(depth)}`)
  while (index < text.length) {
    const char = text[index]
    if (char === '"') {
      const end = endOfString(text, index)
      out += text.slice(index, end)
      index = end
      continue
    }

    index++
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') continue
    if (char === '{' || char === '[') {
      // An empty object or array stays on one line.
      const next = nextToken(text, index)
      if (text[next] === (char === '{' ? '}' : ']')) {
        out += char + text[next]
        index = next + 1
        continue
      }

      depth++
      out += char + newline()
    } else if (char === '}' || char === ']') {
      depth--
      out += newline() + char
    } else if (char === ',') {
      out += `,${newline()}`
    } else if (char === ':') {
      out += ': '
    } else {
      out += char
    }
  }

  return out
}

/**
 * How deep regshape reads JSON from a registry or a layout. Real manifests and indexes nest about
 * five levels (index, manifests, descriptor, platform, os.features); JSON.stringify recurses, and
 * re-indenting pays the depth on every line, so a body nested 100 000 levels deep (4 MiB allow
 * 2 million) must be refused before either sees it.
 */
export const MAX_JSON_DEPTH = 32

/** Whether JSON text nests objects and arrays more than `limit` levels deep (strings skipped). */
export function nestsDeeperThan(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0
  for (let index = 0; index < text.length; ) {
    const char = text[index]
    if (char === '"') {
      index = endOfString(text, index)
      continue
    }

    if (char === '{' || char === '[') {
      depth++
      if (depth > limit) return true
    } else if (char === '}' || char === ']') {
      depth--
    }

    index++
  }

  return false
}

function endOfString(text: string, start: number): number {
  let index = start + 1
  while (index < text.length) {
    const char = text[index]
    if (char === '\\') index += 2
    else if (char === '"') return index + 1
    else index++
  }

  return text.length
}

function nextToken(text: string, from: number): number {
  let index = from
  while (index < text.length && ' \t\n\r'.includes(text[index])) index++
  return index
}
