import {scrubSecrets} from '../../util/secrets.js'
import {AREAS, AREA_TITLES, type CaseResult, LEVELS, type ProbeReport} from './case.js'

/**
 * The probe's report in the forms a person or a CI reads: JUnit XML and one self-contained HTML
 * page (no script, no request: styles inline). Everything a registry sent may echo credentials,
 * so every text is scrubbed of the run's secrets, as stdout is.
 */

/** What the registry answered, in short: `404 MANIFEST_UNKNOWN`, or `—`. */
export function outcomeText(result: Pick<CaseResult, 'got'>): string {
  if (!result.got) return '—'
  return `${result.got.status}${result.got.code ? ` ${result.got.code}` : ''}`
}

export function verdictText(result: Pick<CaseResult, 'detail' | 'disabled' | 'verdict'>): string {
  if (result.verdict === 'pass') return 'pass'
  if (result.verdict === 'skip') return result.disabled ? 'disabled' : 'skip'
  return 'FAIL'
}

/** Exit 0 only when every MUST case that ran passed. */
export function mustFailures(report: Pick<ProbeReport, 'cases'>): CaseResult[] {
  return report.cases.filter((r) => r.level === 'MUST' && r.verdict === 'fail')
}

function xml(text: string): string {
  // Characters XML 1.0 cannot hold at all are dropped; the five special ones are escaped.
  // eslint-disable-next-line no-control-regex
  return scrubSecrets(text).replaceAll(/[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD]/gu, '').replaceAll(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** JUnit XML: a testsuite per area, a testcase per case (its level and spec in the failure text). */
export function junit(report: ProbeReport, registry: string): string {
  const suites = AREAS.filter((area) => report.cases.some((r) => r.area === area)).map((area) => {
    const cases = report.cases.filter((r) => r.area === area)
    const failed = cases.filter((r) => r.verdict === 'fail').length
    const skipped = cases.filter((r) => r.verdict === 'skip').length
    const lines = cases.map((r) => {
      const attributes = `classname="${xml(`regshape.probe.${registry}.${area}`)}" name="${xml(r.name)}" time="${(r.durationMs / 1000).toFixed(3)}"`
      const text = `[${r.level}] ${r.request}: expected ${r.expected}, got ${outcomeText(r)}${r.detail ? ` (${r.detail})` : ''}; ${r.spec.url}`
      if (r.verdict === 'pass') return `    <testcase ${attributes}/>`
      if (r.verdict === 'skip') return `    <testcase ${attributes}>\n      <skipped message="${xml(r.detail ?? '')}"/>\n    </testcase>`
      return `    <testcase ${attributes}>\n      <failure message="${xml(text)}" type="${r.level}"/>\n    </testcase>`
    })
    return [`  <testsuite name="${xml(`${registry}/${report.repository} ${area}`)}" tests="${cases.length}" failures="${failed}" skipped="${skipped}">`, ...lines, '  </testsuite>']
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="regshape probe" tests="${report.cases.length}" failures="${report.failed}" skipped="${report.skipped}">`,
    ...suites.flat(),
    '</testsuites>',
    '',
  ].join('\n')
}

export function html(text: string): string {
  return scrubSecrets(text).replaceAll(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export const PAGE_STYLE = `
  :root { color-scheme: light; --pass: #1a7f37; --fail: #cf222e; --skip: #6e7781; --line: #d0d7de; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 24px; color: #1f2328; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
  .meta { color: #59636e; margin: 0 0 16px; word-break: break-all; }
  table { border-collapse: collapse; width: 100%; table-layout: fixed; }
  th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
  th { background: #f6f8fa; font-weight: 600; }
  .summary td, .summary th { text-align: center; }
  .verdict { font-weight: 700; white-space: nowrap; }
  .pass .verdict, .n-pass { color: var(--pass); } .fail .verdict, .n-fail { color: var(--fail); } .skip .verdict, .n-skip { color: var(--skip); }
  tr.fail { background: #ffebe9; }
  .level { font-size: 12px; font-weight: 600; border-radius: 10px; padding: 1px 7px; background: #eaeef2; white-space: nowrap; }
  .level-MUST { background: #ffd8b5; }
  code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
  .detail { color: #59636e; display: block; margin-top: 2px; }
  a { color: #0969da; }
  .verdict-banner { font-size: 16px; font-weight: 700; margin: 8px 0 0; }
`

function tallyCells(tally: {failed: number; passed: number; skipped: number} | undefined): string {
  if (!tally) return '<td>—</td><td>—</td><td>—</td>'
  return `<td class="n-pass">${tally.passed}</td><td class="n-fail">${tally.failed}</td><td class="n-skip">${tally.skipped}</td>`
}

/** One self-contained page: the summary, then each area's cases with request, expected, got and the spec link. */
export function htmlReport(report: ProbeReport, registry: string): string {
  const failedMust = mustFailures(report).length
  const areas = AREAS.filter((area) => report.areas[area])
  const summaryRows = [
    ...LEVELS.filter((level) => report.levels[level]).map((level) => `<tr><th>${level}</th>${tallyCells(report.levels[level])}</tr>`),
    `<tr><th>all</th>${tallyCells(report)}</tr>`,
  ]
  const areaRows = areas.map((area) => `<tr><th><a href="#${area}">${AREA_TITLES[area]}</a></th>${tallyCells(report.areas[area])}</tr>`)
  const sections = areas.map((area) => {
    const rows = report.cases
      .filter((r) => r.area === area)
      .map(
        (r) =>
          `<tr class="${r.verdict}" id="case-${html(r.name)}"><td><code>${html(r.name)}</code>${r.plugin ? `<span class="detail">from ${html(r.plugin)}</span>` : ''}</td>` +
          `<td><span class="level level-${r.level}">${r.level}</span></td><td>${html(r.request)}</td><td>${html(r.expected)}</td><td>${html(outcomeText(r))}</td>` +
          `<td><span class="verdict">${verdictText(r)}</span>${r.detail ? `<span class="detail">${html(r.detail)}</span>` : ''}</td>` +
          `<td><a href="${html(r.spec.url)}">${html(r.spec.section)}</a></td></tr>`,
      )
    return `<h2 id="${area}">${AREA_TITLES[area]}</h2>
<table class="cases"><colgroup><col style="width:16%"><col style="width:7%"><col style="width:22%"><col style="width:16%"><col style="width:10%"><col style="width:16%"><col style="width:13%"></colgroup>
<tr><th>case</th><th>level</th><th>request</th><th>expected</th><th>got</th><th>verdict</th><th>spec</th></tr>
${rows.join('\n')}
</table>`
  })
  const left = report.cleanup.left.length > 0 ? `<h2>Not removed</h2><ul>${report.cleanup.left.map((item) => `<li><code>${html(item.what)}</code>: ${html(item.problem)}</li>`).join('')}</ul>` : ''
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>regshape probe: ${html(registry)}/${html(report.repository)}</title>
<style>${PAGE_STYLE}</style></head>
<body>
<h1>regshape probe: ${html(registry)}/${html(report.repository)}</h1>
<p class="meta">${report.cases.length} cases${report.readOnly ? ', read-only' : ''}, ${(report.durationMs / 1000).toFixed(1)} s; cleaned up ${report.cleanup.removed.length} item(s)${report.cleanup.left.length > 0 ? `, ${report.cleanup.left.length} left` : ''}</p>
<p class="verdict-banner ${failedMust === 0 ? 'n-pass' : 'n-fail'}">${failedMust === 0 ? 'Every MUST case that ran passed.' : `${failedMust} MUST case(s) failed.`}</p>
<h2>Summary</h2>
<table class="summary"><tr><th></th><th>passed</th><th>failed</th><th>skipped</th></tr>
${summaryRows.join('\n')}
${areaRows.join('\n')}
</table>
${sections.join('\n')}
${left}
</body></html>
`
}
