import {expect} from 'chai'

import {DEFAULT_RETRY_POLICY, isRetryableError, isRetryableStatus, mayRetry, retryAfterMs, retryDelayMs} from '../../../src/transport/retry.js'

describe('retry policy (src/transport/retry.ts)', () => {
  it('retries 429, 502, 503 and 504 and resets, never 401, 403, 404 or 500', () => {
    expect([429, 502, 503, 504].map(isRetryableStatus)).to.deep.equal([true, true, true, true])
    expect([400, 401, 403, 404, 500, 200].map(isRetryableStatus)).to.deep.equal([false, false, false, false, false, false])
    expect(isRetryableError(Object.assign(new Error('reset'), {code: 'ECONNRESET'}))).to.equal(true)
    expect(isRetryableError(Object.assign(new Error('tls'), {code: 'CERT_HAS_EXPIRED'}))).to.equal(false)
    expect(isRetryableError('not an error')).to.equal(false)
  })

  it('repeats only requests that are safe to repeat and whose body can be sent again', () => {
    expect(mayRetry('GET', true)).to.equal(true)
    expect(mayRetry('put', true)).to.equal(true)
    expect(mayRetry('POST', true)).to.equal(false)
    expect(mayRetry('PATCH', true)).to.equal(false)
    expect(mayRetry('PUT', false)).to.equal(false)
  })

  it('reads Retry-After as seconds or as an HTTP date, and caps it', () => {
    const now = Date.parse('2026-12-01T10:00:00Z')
    expect(retryAfterMs('7', now)).to.equal(7000)
    expect(retryAfterMs('Tue, 01 Dec 2026 10:00:05 GMT', now)).to.equal(5000)
    expect(retryAfterMs('Tue, 01 Dec 2026 09:00:00 GMT', now)).to.equal(0)
    expect(retryAfterMs('soon', now)).to.equal(undefined)
    expect(retryAfterMs(undefined, now)).to.equal(undefined)
    expect(retryDelayMs(1, DEFAULT_RETRY_POLICY, 3_600_000)).to.equal(DEFAULT_RETRY_POLICY.maxDelayMs)
    expect(retryDelayMs(1, DEFAULT_RETRY_POLICY, 1500)).to.equal(1500)
  })

  it('backs off exponentially with jitter between half and all of the ceiling', () => {
    const policy = {baseDelayMs: 100, maxDelayMs: 1000, retries: 5}
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(attempt, policy, undefined, () => 1))).to.deep.equal([100, 200, 400, 800, 1000])
    expect([1, 2, 3].map((attempt) => retryDelayMs(attempt, policy, undefined, () => 0))).to.deep.equal([50, 100, 200])
  })
})
