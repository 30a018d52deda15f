import {AREAS, AREA_TITLES, type Area, LEVELS, type Level} from './case.js'
import {PAGE_STYLE, html} from './report.js'

/**
 * `regshape probe compare`: several registries' `probe --json` reports side by side, one row per
 * case and one column per registry: the compatibility table people ask registry vendors for.
 */

export interface ComparedReport {
  /** The column's heading: the registry the report names (and the file, when two name the same). */
  label: string
  verdicts: Map<string, string>
}

export interface Matrix {
  columns: string[]
  rows: Array<{area: Area; cells: string[]; level: Level; name: string}>
}

interface ReportCase {
  area: Area
  disabled?: boolean
  level: Level
  name: string
  verdict: string
}

/** Why a parsed file is not a probe report, or undefined. */
export function notAReport(value: unknown): string | undefined {
  const report = value as {cases?: unknown; registry?: unknown}
  if (value === null || typeof value !== 'object' || !Array.isArray(report.cases)) return 'not a `regshape probe --json` report (no "cases" list)'
  for (const [index, entry] of (report.cases as unknown[]).entries()) {
    const c = entry as Partial<ReportCase>
    if (typeof c?.name !== 'string' || !['fail', 'pass', 'skip'].includes(c.verdict as string) || !AREAS.includes(c.area as Area) || !LEVELS.includes(c.level as Level)) {
      return `case ${index + 1} lacks a name, verdict, area or level (a report of an older probe?)`
    }
  }

  return undefined
}

export function compare(reports: Array<{file: string; report: {cases: ReportCase[]; registry?: string; repository?: string}}>): Matrix {
  const names = reports.map(({report}) => report.registry ?? '?')
  const columns = reports.map(({file, report}, index) => (names.indexOf(names[index]!) === names.lastIndexOf(names[index]!) ? (report.registry ?? file) : `${report.registry ?? '?'} (${file})`))
  const rows = new Map<string, {area: Area; cells: string[]; level: Level; name: string}>()
  for (const [column, {report}] of reports.entries()) {
    for (const c of report.cases) {
      const row = rows.get(c.name) ?? {area: c.area, cells: reports.map(() => '—'), level: c.level, name: c.name}
      row.cells[column] = c.verdict === 'skip' && c.disabled ? 'disabled' : c.verdict
      rows.set(c.name, row)
    }
  }

  const order = [...rows.values()].sort((a, b) => AREAS.indexOf(a.area) - AREAS.indexOf(b.area))
  return {columns, rows: order}
}

const SYMBOL: Record<string, string> = {disabled: 'disabled', fail: '**fail**', pass: 'pass', skip: 'skip', '—': '—'}

export function markdown(matrix: Matrix): string {
  const escape = (text: string) => text.replaceAll('|', String.raw`\|`)
  const lines = [`| case | level | ${matrix.columns.map((c) => escape(c)).join(' | ')} |`, `|---|---|${matrix.columns.map(() => '---').join('|')}|`]
  for (const area of AREAS) {
    const rows = matrix.rows.filter((row) => row.area === area)
    if (rows.length === 0) continue
    lines.push(`| **${AREA_TITLES[area]}** | | ${matrix.columns.map(() => '').join(' | ')} |`)
    for (const row of rows) lines.push(`| \`${row.name}\` | ${row.level} | ${row.cells.map((cell) => SYMBOL[cell] ?? cell).join(' | ')} |`)
  }

  const totals = matrix.columns.map((_, column) => {
    const musts = matrix.rows.filter((row) => row.level === 'MUST' && row.cells[column] !== '—' && row.cells[column] !== 'skip' && row.cells[column] !== 'disabled')
    return `${musts.filter((row) => row.cells[column] === 'pass').length}/${musts.length}`
  })
  lines.push(`| **MUST passed** | | ${totals.join(' | ')} |`)
  return lines.join('\n')
}

export function htmlMatrix(matrix: Matrix): string {
  const head = `<tr><th>case</th><th>level</th>${matrix.columns.map((c) => `<th>${html(c)}</th>`).join('')}</tr>`
  const body = AREAS.flatMap((area) => {
    const rows = matrix.rows.filter((row) => row.area === area)
    if (rows.length === 0) return []
    return [
      `<tr><th colspan="${matrix.columns.length + 2}">${AREA_TITLES[area]}</th></tr>`,
      ...rows.map((row) => `<tr><td><code>${html(row.name)}</code></td><td><span class="level level-${row.level}">${row.level}</span></td>${row.cells.map((cell) => `<td class="${cell === 'disabled' ? 'skip' : cell}"><span class="verdict">${html(cell)}</span></td>`).join('')}</tr>`),
    ]
  })
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>regshape probe: compatibility matrix</title>
<style>${PAGE_STYLE}</style></head>
<body>
<h1>regshape probe: compatibility matrix</h1>
<p class="meta">${matrix.rows.length} cases, ${matrix.columns.length} registries</p>
<table class="matrix">
${head}
${body.join('\n')}
</table>
</body></html>
`
}
