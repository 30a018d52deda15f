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
      .map(([key, inner]) => `${JSON.stringify(key)}: ${formatJson(inner)}`)
    return `{${members.join(', ')}}`
  }

  return JSON.stringify(value ?? null)
}
