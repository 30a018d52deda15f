import {expect} from 'chai'
import {hostname} from 'node:os'

import {layoutMessages} from '../../../src/layout/errors.js'
import {type BusyLock, describeBusyLock} from '../../../src/util/lock.js'

/**
 * The layout's "busy" message (src/layout/errors.ts) says which limit of the lock's wait was hit,
 * in config.json's words. The stalled case runs for real in test/commands/layout.test.ts (a stopped
 * holder, 30 s); the other limit takes 2 minutes of a live holder, so its words are checked here.
 */

describe('layout messages: a busy lock', () => {
  const path = '/work/layout'
  const lockPath = `${path}/index.json.lock`
  const busy = (problem: Omit<BusyLock, 'kind'>) => layoutMessages.busy(path, lockPath, describeBusyLock({kind: 'busy', ...problem}))

  it('a live holder that kept it too long, one on another host, and a lock with no owner to name', () => {
    expect(busy({forMs: 120_400, owner: {host: hostname(), nonce: 'n', pid: 4242}, reason: 'held-too-long'})).to.equal(
      `the layout at ${path} stayed locked: process 4242 has held it for 120 s (${lockPath}); try again, or end that process if it is stuck`,
    )
    expect(busy({forMs: 30_200, owner: {host: 'build-7', nonce: 'n', pid: 17}, reason: 'stalled'})).to.equal(
      `the layout at ${path} stayed locked: process 17 on build-7 has shown no sign of progress for 30 s (stopped?) (${lockPath}); try again, or end that process if it is stuck`,
    )
    expect(busy({forMs: 30_000, reason: 'stalled'})).to.match(/stayed locked: another process has shown no sign of progress for 30 s \(stopped\?\)/)
  })
})
