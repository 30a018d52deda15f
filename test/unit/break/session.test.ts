import {expect} from 'chai'

import {BreakSession} from '../../../src/break/session.js'
import {RuleSet} from '../../../src/break/rules.js'
import {rememberSecret} from '../../../src/util/secrets.js'

/**
 * Break mode's report (src/break/session.ts), as a line and as a JSON event: what it shows of the
 * URL of a changed request. Pure: the requests are never sent (the wire is test/unit/transport/
 * break-mode.test.ts's, the real registry test/commands/break-mode.test.ts's).
 */

describe('break report: the URL of a changed request', () => {
  const secret = 'Zq9-report-secret-Value'
  rememberSecret(secret)

  it('each line shows at most a fixed part of the path and of the query, cut with an ellipsis, and a secret across the cut is masked whole, wherever the cut falls', () => {
    const lines: string[] = []
    const session = new BreakSession(new RuleSet([]), (line) => lines.push(line))
    // The secret moves one character at a time through the first 1500 of path and query: any cut
    // made before masking would leave its start ("Zq9") on show for some of them.
    for (let at = 0; at < 1500; at++) {
      const path = `/v2/${'p'.repeat(at)}${secret}${'/x'.repeat(1000)}`
      const query = `?a=${'q'.repeat(at)}${secret}&rest=${'y'.repeat(3000)}`
      session.record({mutations: [{change: 'a: changed', rule: 'grow', target: 'query'}], request: {method: 'GET', url: `http://127.0.0.1:5000${path}${query}`}, status: 200})
    }

    expect(lines).to.have.length(1500)
    for (const shown of [...lines, ...session.events.map((event) => event.url)]) {
      expect(shown.length, shown.slice(0, 60)).to.be.below(1700)
      expect(shown).not.to.include('Zq9')
      expect(shown).to.match(/^(break: .*\| GET )?\/v2\/p*(\*\*\*)?[^?]*…\?a=q*(\*\*\*)?\S*…/)
    }
  })

  it('a URL of ordinary length is shown whole', () => {
    const lines: string[] = []
    const session = new BreakSession(new RuleSet([]), (line) => lines.push(line))
    const url = `/v2/team/app/blobs/uploads/0b7e?_state=${'s'.repeat(300)}&digest=sha256:${'a'.repeat(64)}`
    session.record({mutations: [{change: 'digest: corrupted', rule: 'wrong_digest', target: 'digest'}], request: {method: 'PUT', operation: 'blob.upload', url: `http://127.0.0.1:5000${url}`}, status: 400})
    expect(lines).to.deep.equal([`break: wrong_digest: digest: corrupted | PUT ${url} (blob.upload) → 400`])
    expect(session.events[0]!.url).to.equal(url)
  })
})
