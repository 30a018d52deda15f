/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import {expect} from 'chai'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, openRegistry, USERS} from '../fixtures/servers.js'
import {averageColour, withBrowser} from '../helpers/chromium.js'
import {expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * The probe's reports for people: the --html page, opened in a real headless chromium (Debian's,
 * test/helpers/chromium.ts) and looked at (every case shown, failures in red, nothing fetched,
 * nothing wider than the window), and `probe compare`, the matrix of several registries' reports.
 */

interface Report {
  cases: Array<{area: string; name: string; verdict: string}>
  failed: number
}

describe('probe reports', function () {
  this.timeout(120_000)
  let basic: RegistryHandle
  let open: RegistryHandle
  let work: string
  let basicReport: string
  let openReport: string
  let page: string

  before(async () => {
    ;[basic, open] = await Promise.all([basicRegistry(), openRegistry()])
    work = mkdtempSync(join(tmpdir(), 'regshape-probe-report-'))
    const config = join(work, 'docker')
    const pair = Buffer.from(`${USERS.alice.username}:${USERS.alice.password}`).toString('base64')
    mkdirSync(config)
    writeFileSync(join(config, 'config.json'), JSON.stringify({auths: {[basic.host]: {auth: pair}}}))
    const env = {DOCKER_CONFIG: config}
    page = join(work, 'probe.html')
    const areas = ['--area', 'pull', '--area', 'push', '--area', 'auth', '--area', 'management']
    const [first, second] = await Promise.all([
      runCli(['probe', `${basic.host}/probe/report`, '--json', '--html', page, ...areas], {env, timeoutMs: 90_000}),
      runCli(['probe', `${open.host}/probe/report`, '--json', ...areas], {env, timeoutMs: 90_000}),
    ])
    basicReport = join(work, 'basic.json')
    openReport = join(work, 'open.json')
    writeFileSync(basicReport, first.stdout)
    writeFileSync(openReport, second.stdout)
  })

  it('--html is one self-contained page a real browser shows whole: every case, failures in red, no request, no console error, no overflow', async () => {
    const report = JSON.parse(readFileSync(basicReport, 'utf8')) as Report
    expect(report.failed).to.be.greaterThan(0)
    const html = readFileSync(page, 'utf8')
    expect(html).not.to.match(/<script|<link |src=|@import|url\(/)
    await withBrowser(async (context) => {
      const tab = await context.newPage()
      const requests: string[] = []
      const errors: string[] = []
      tab.on('request', (request) => requests.push(request.url()))
      tab.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
      await tab.goto(pathToFileURL(page).href)
      expect(requests).to.deep.equal([pathToFileURL(page).href])
      expect(errors).to.deep.equal([])
      const shown = await tab.evaluate(() => ({
        rows: [...document.querySelectorAll('tr[id^="case-"]')].map((row) => [row.id.slice(5), row.className, (row as HTMLElement).offsetHeight > 0]),
        scrollWidth: document.documentElement.scrollWidth,
        specLinks: [...document.querySelectorAll('tr[id^="case-"] a')].every((a) => (a as HTMLAnchorElement).href.startsWith('https://')),
        title: document.title,
        width: window.innerWidth,
      }))
      expect(shown.rows).to.deep.equal(report.cases.map((c) => [c.name, c.verdict, true]))
      expect(shown.scrollWidth, 'wider than the window').to.be.at.most(shown.width)
      expect(shown.specLinks).to.equal(true)
      expect(shown.title).to.equal(`regshape probe: ${basic.host}/probe/report`)

      // Looked at: a failed case's row is red, a passed one is not.
      const failed = report.cases.find((c) => c.verdict === 'fail')!
      const passed = report.cases.find((c) => c.verdict === 'pass')!
      const [red, green, blue] = averageColour(await tab.locator(`#case-${failed.name}`).screenshot())
      expect(red, `a failed row is ${[red, green, blue]}`).to.be.greaterThan(green + 10)
      const [r, g, b] = averageColour(await tab.locator(`#case-${passed.name}`).screenshot())
      expect(Math.abs(r - g), `a passed row is ${[r, g, b]}`).to.be.below(25)
      const full = await tab.screenshot({fullPage: true})
      expect(full.readUInt32BE(16)).to.equal(1280)
      expect(full.readUInt32BE(20)).to.be.greaterThan(800)
    })
  })

  it('probe compare: the matrix of several reports, in markdown and as an HTML page', async () => {
    const matrixPage = join(work, 'matrix.html')
    const result = await runCli(['probe', 'compare', basicReport, openReport, '--html', matrixPage])
    expect(result.code, result.stderr).to.equal(0)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).to.equal(`| case | level | ${basic.host} | ${open.host} |`)
    expect(lines).to.include('| **Auth** | |  |  |')
    expect(lines).to.include('| `auth-challenge` | MUST | pass | skip |')
    expect(lines).to.include('| `management-delete-tag` | MAY | disabled | disabled |')
    expect(lines).to.include('| `blob-chunk-out-of-order` | MUST | **fail** | **fail** |')
    expect(lines.at(-1)).to.match(/^\| \*\*MUST passed\*\* \| \| \d+\/\d+ \| \d+\/\d+ \|$/)
    const json = await runCli(['probe', 'compare', basicReport, openReport, '--json'])
    const matrix = JSON.parse(json.stdout) as {columns: string[]; rows: Array<{cells: string[]; name: string}>}
    expect(matrix.columns).to.deep.equal([basic.host, open.host])
    expect(matrix.rows.find((row) => row.name === 'auth-challenge')!.cells).to.deep.equal(['pass', 'skip'])
    await withBrowser(async (context) => {
      const tab = await context.newPage()
      await tab.goto(pathToFileURL(matrixPage).href)
      const cells = await tab.evaluate(() => document.querySelectorAll('table.matrix td .verdict').length)
      expect(cells).to.equal(matrix.rows.length * 2)
    })
  })

  it('probe compare: fewer than two reports, a missing file, or one that is not a report is exit 2, one line', async () => {
    const notJson = join(work, 'not.json')
    writeFileSync(notJson, 'hello')
    const notReport = join(work, 'other.json')
    writeFileSync(notReport, '{"cases": [{"name": "x"}]}')
    const cases: Array<[string[], string]> = [
      [[basicReport], 'Error: probe compare needs two or more reports (regshape probe --json > FILE)\n'],
      [[basicReport, join(work, 'missing.json')], `Error: cannot read ${join(work, 'missing.json')}: ENOENT\n`],
      [[basicReport, notJson], `Error: ${notJson}: not JSON\n`],
      [[basicReport, notReport], `Error: ${notReport}: case 1 lacks a name, verdict, area or level (a report of an older probe?)\n`],
      [[basicReport, '/dev/zero'], 'Error: cannot read /dev/zero: '],
    ]
    for (const [files, message] of cases) {
      const result = await runCli(['probe', 'compare', ...files])
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr.startsWith(message), result.stderr).to.equal(true)
      expect(result.stderr.split('\n')).to.have.length(2)
      expectNoStackTrace(result)
    }
  })
})
