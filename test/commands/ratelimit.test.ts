import {expect} from 'chai'

import {seedImages} from '../fixtures/images.js'
import {openRegistry} from '../fixtures/servers.js'
import {type FakeRegistry, seedFake, startFakeRegistry} from '../helpers/fake-registry.js'
import {expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * Rate limits (registry.md §1): the wait on a 429 is shown on stderr; Docker Hub's RateLimit-Limit
 * and RateLimit-Remaining are read, by `regshape ratelimit` (from a manifest HEAD, which Docker Hub
 * does not count), by --debug-calls and by a copy that needs more pulls than are left. Docker Hub
 * and a rate-limiting registry are node:http servers (test/helpers/fake-registry.ts): distribution
 * 2.8 neither limits nor announces limits.
 */

const DOCKER_HUB = {'docker-ratelimit-source': '203.0.113.7', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '2;w=21600'}

describe('rate limits', function () {
  this.timeout(120_000)
  const fakes: FakeRegistry[] = []
  async function fake(options: Parameters<typeof startFakeRegistry>[0]): Promise<FakeRegistry> {
    const started = await startFakeRegistry(options)
    fakes.push(started)
    return started
  }

  afterEach(async () => {
    for (const registry of fakes.splice(0)) await registry.close()
  })

  it('a 429 with Retry-After on a manifest and on a blob: the wait is shown on stderr, then the request goes through', async () => {
    const registry = await fake({
      tooManyRequests: [
        {first: 1, method: 'GET', path: /\/manifests\//, retryAfter: '1'},
        {first: 2, method: 'GET', path: /\/blobs\/sha256:/, retryAfter: '1'},
      ],
    })
    const {digest} = seedFake(registry, 'v1', ['linux/amd64'])
    const manifest = await runCli(['manifest', 'get', `${registry.host}/limited/app:v1`])
    expect(manifest.code, manifest.stderr).to.equal(0)
    expect(JSON.parse(manifest.stdout)).to.have.property('layers')
    expect(manifest.stderr).to.equal(
      `Rate limited: manifest.get GET http://${registry.host}/v2/limited/app/manifests/v1 answered 429 Too Many Requests, Retry-After: 1; waiting 1.0 s before retry 1 of 3\n`,
    )
    const layer = (JSON.parse(registry.manifests.get(digest)?.bytes.toString('utf8') ?? '{}') as {layers: Array<{digest: string}>}).layers[0].digest
    const started = Date.now()
    const blob = await runCli(['blob', 'get', `${registry.host}/limited/app@${layer}`])
    expect(blob.code, blob.stderr).to.equal(0)
    expect(Date.now() - started).to.be.above(2000)
    const waits = blob.stderr.trimEnd().split('\n')
    expect(waits).to.deep.equal([1, 2].map((attempt) => `Rate limited: blob.get GET http://${registry.host}/v2/limited/app/blobs/${layer} answered 429 Too Many Requests, Retry-After: 1; waiting 1.0 s before retry ${attempt} of 3`))
  })

  it('regshape ratelimit prints Docker Hub\'s limit and what is left, from one HEAD (never a GET, which would count)', async () => {
    const registry = await fake({manifestHeaders: DOCKER_HUB})
    seedFake(registry, 'latest', ['linux/amd64'])
    const text = await runCli(['ratelimit', `${registry.host}/library/alpine`])
    expect(text.code, text.stderr).to.equal(0)
    expect(text.stdout).to.equal('Limit:       100 per 21600 s (6 h)\nRemaining:   2\nCounted for: 203.0.113.7\n')
    const json = await runCli(['--json', 'ratelimit', `${registry.host}/library/alpine:missing`])
    expect(json.code, json.stderr).to.equal(0)
    expect(JSON.parse(json.stdout)).to.deep.equal({
      announced: true,
      limit: 100,
      registry: registry.host,
      remaining: 2,
      repository: 'library/alpine',
      source: '203.0.113.7',
      window_seconds: 21_600,
    })
    expect(registry.requests.filter((request) => request.path.includes('/manifests/')).map((request) => request.method)).to.deep.equal(['HEAD', 'HEAD'])
  })

  it('regshape ratelimit on a registry that announces none says so (exit 0)', async () => {
    const registry = await openRegistry()
    await seedImages(registry, 'plain/app', {bigLayerBytes: 100})
    const result = await runCli(['ratelimit', `${registry.host}/plain/app:oci`])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stdout).to.equal(`${registry.host} announces no rate limit (no RateLimit-Limit or RateLimit-Remaining header)\n`)
  })

  it('--debug-calls shows the rate limit of each answer that announces one', async () => {
    const registry = await fake({manifestHeaders: DOCKER_HUB})
    seedFake(registry, 'v1', ['linux/amd64'])
    const result = await runCli(['manifest', 'get', `${registry.host}/library/app:v1`, '--debug-calls'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.include('* rate limit: 2 of 100 pulls left in a window of 21600 s (counted for 203.0.113.7)\n')
  })

  it('a copy that needs more pulls than are left says so before it goes on', async () => {
    const source = await fake({manifestHeaders: DOCKER_HUB})
    seedFake(source, 'v1', ['linux/amd64', 'linux/arm64', 'linux/s390x'])
    const destination = await fake({})
    const result = await runCli(['copy', `${source.host}/library/multi:v1`, `${destination.host}/mirror/multi:v1`, '--progress', 'none'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.equal(
      `Warning: ${source.host}/library/multi has 2 pulls left of 100 (window 21600 s), and this copy reads 3 more manifests from it; the rest may be refused with 429 until the window resets\n`,
    )
    expectNoStackTrace(result)
    // Enough left: no warning.
    const plenty = await fake({manifestHeaders: {...DOCKER_HUB, 'ratelimit-remaining': '97;w=21600'}})
    seedFake(plenty, 'v1', ['linux/amd64', 'linux/arm64'])
    const quiet = await runCli(['copy', `${plenty.host}/library/multi:v1`, `${destination.host}/mirror/other:v1`, '--progress', 'none'])
    expect(quiet.code, quiet.stderr).to.equal(0)
    expect(quiet.stderr).to.equal('')
  })

  it('a copy asks what the destination has with HEAD only, even when its HEADs lack Docker-Content-Digest', async () => {
    const source = await fake({})
    seedFake(source, 'v1', ['linux/amd64', 'linux/arm64'])
    const destination = await fake({headWithoutDigest: true})
    const first = await runCli(['copy', `${source.host}/app:v1`, `${destination.host}/app:v1`, '--progress', 'none'])
    expect(first.code, first.stderr).to.equal(0)
    destination.requests.length = 0
    const again = await runCli(['copy', `${source.host}/app:v1`, `${destination.host}/app:v1`, '--progress', 'none'])
    expect(again.code, again.stderr).to.equal(0)
    expect(again.stdout).to.match(/manifests 0 copied, 1 skipped/)
    expect(destination.requests.filter((request) => request.method === 'GET').map((request) => request.path)).to.deep.equal([])
  })
})
