import {createHash} from 'node:crypto'
import {request} from 'node:http'

import {expect} from 'chai'

import {digestOfSource, generated, seedImages} from './fixtures/images.js'
import {basicRegistry, USERS} from './fixtures/servers.js'

/** GET through plain node:http with alice's Basic auth: the registry's own answer, no regshape involved. */
function get(url: string, accept?: string): Promise<{body: Buffer; digest?: string; status: number; type?: string}> {
  const authorization = `Basic ${Buffer.from(`${USERS.alice.username}:${USERS.alice.password}`).toString('base64')}`
  return new Promise((resolve, reject) => {
    request(url, {headers: {authorization, ...(accept ? {accept} : {})}}, (response) => {
      const chunks: Buffer[] = []
      const hash = createHash('sha256')
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        if (chunks.length < 64) chunks.push(chunk)
      })
      response.on('end', () =>
        resolve({
          body: Buffer.concat(chunks),
          digest: `sha256:${hash.digest('hex')}`,
          status: response.statusCode ?? 0,
          type: response.headers['content-type'],
        }),
      )
    })
      .on('error', reject)
      .end()
  })
}

describe('fixture: images pushed into the real registry (test/fixtures/images.ts)', function () {
  this.timeout(120_000)

  it('generates the same bytes for the same seed, chunk sizes aside', async () => {
    const a = await digestOfSource({seed: 7, size: 3 * 1024 * 1024 + 3})
    const b = await digestOfSource({seed: 7, size: 3 * 1024 * 1024 + 3})
    const c = await digestOfSource({seed: 8, size: 3 * 1024 * 1024 + 3})
    expect(a).to.equal(b).and.not.to.equal(c)
    let total = 0
    for await (const chunk of generated(7, 10)) total += (chunk as Buffer).length
    expect(total).to.equal(10)
  })

  it('seeds the standard set, and the registry serves back exactly those bytes', async () => {
    const registry = await basicRegistry()
    const seeded = await seedImages(registry, 'fixtures/selftest', {bigLayerBytes: 5 * 1024 * 1024 + 1})
    const oci = await get(`${registry.url}/v2/fixtures/selftest/manifests/oci`, seeded.oci.mediaType)
    expect(oci.status).to.equal(200)
    expect(oci.body.equals(seeded.oci.bytes)).to.equal(true)
    expect(oci.digest).to.equal(seeded.oci.digest)
    const index = await get(`${registry.url}/v2/fixtures/selftest/manifests/multi`, seeded.index.mediaType)
    expect(index.type).to.equal('application/vnd.oci.image.index.v1+json')
    expect(index.digest).to.equal(seeded.index.digest)
    const big = await get(`${registry.url}/v2/fixtures/selftest/blobs/${seeded.bigLayer.digest}`)
    expect([big.status, big.digest]).to.deep.equal([200, seeded.bigLayer.digest])
    const tags = JSON.parse((await get(`${registry.url}/v2/fixtures/selftest/tags/list`)).body.toString()) as {tags: string[]}
    expect(tags.tags.sort()).to.deep.equal(seeded.tags)
    expect(seeded.tags).to.have.length(31)
    const schema = await get(`${registry.url}/v2/fixtures/selftest/manifests/${seeded.oci.digest.replace(':', '-')}`, 'application/vnd.oci.image.index.v1+json')
    expect(JSON.parse(schema.body.toString()).manifests[0].digest).to.equal(seeded.referrer.digest)
  })
})
