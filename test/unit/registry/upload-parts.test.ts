import {Readable} from 'node:stream'

import {expect} from 'chai'

import {joinScopes, repositoryScope} from '../../../src/reference/scope.js'
import {exactChunks, withDigest} from '../../../src/registry/upload.js'

describe('upload parts', () => {
  it('exactChunks cuts a stream into chunks of the size asked for, whatever the reads, the last one shorter, in one reused buffer', async () => {
    const reads = [Buffer.alloc(3, 1), Buffer.alloc(10, 2), Buffer.alloc(1, 3), Buffer.alloc(7, 4)]
    const chunks: Buffer[] = []
    // Each chunk is copied: the generator reuses its buffer for the next one.
    for await (const chunk of exactChunks(Readable.from(reads), 5)) chunks.push(Buffer.from(chunk))
    expect(chunks.map((chunk) => chunk.length)).to.deep.equal([5, 5, 5, 5, 1])
    expect(Buffer.concat(chunks).equals(Buffer.concat(reads))).to.equal(true)
    const buffers = new Set<ArrayBufferLike>()
    for await (const chunk of exactChunks(Readable.from(reads), 5)) buffers.add(chunk.buffer)
    expect(buffers.size, 'one buffer for every chunk').to.equal(1)
  })

  it('exactChunks of an empty stream yields nothing', async () => {
    const chunks: Buffer[] = []
    for await (const chunk of exactChunks(Readable.from([]), 5)) chunks.push(chunk)
    expect(chunks).to.deep.equal([])
  })

  it('withDigest keeps the Location\'s query exactly as given and appends digest=', () => {
    const digest = `sha256:${'a'.repeat(64)}`
    expect(withDigest('http://r/v2/x/blobs/uploads/u?_state=ab%3D%3D&n=1', digest)).to.equal(`http://r/v2/x/blobs/uploads/u?_state=ab%3D%3D&n=1&digest=sha256%3A${'a'.repeat(64)}`)
    expect(withDigest('http://r/v2/x/blobs/uploads/u', digest)).to.equal(`http://r/v2/x/blobs/uploads/u?digest=sha256%3A${'a'.repeat(64)}`)
    expect(withDigest('http://r/v2/x/blobs/uploads/u?s=1#frag', digest)).to.equal(`http://r/v2/x/blobs/uploads/u?s=1&digest=sha256%3A${'a'.repeat(64)}`)
  })

  it('joinScopes puts a mount\'s two scopes in one space-separated string, once each', () => {
    const push = repositoryScope('team/app', ['push', 'pull'])
    expect(joinScopes(push, repositoryScope('team/base', ['pull']), push)).to.equal('repository:team/app:pull,push repository:team/base:pull')
  })
})
