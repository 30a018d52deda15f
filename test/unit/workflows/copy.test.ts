import {expect} from 'chai'

import type {Descriptor} from '../../../src/content/descriptor.js'
import type {BlobOutcome} from '../../../src/content/store.js'

import {MediaType} from '../../../src/content/media-types.js'
import {Copier, CopyError, type CopyOptions, type CopyProgress, UploadCoordinator} from '../../../src/workflows/copy.js'
import {MemoryStore} from '../../helpers/memory-store.js'

/**
 * The Copier (src/workflows/copy.ts) between two in-memory stores (test/helpers/memory-store.ts):
 * the order of the writes, what is skipped, mounted or streamed, referrers, failures and
 * --concurrency, with no registry or disk in the way. The real stores are tested against the
 * real registry and real layouts in test/commands/copy.test.ts.
 */

function progressLog(): CopyProgress & {events: string[]} {
  const events: string[] = []
  return {
    advanced() {},
    close() {},
    events,
    finished(descriptor: Descriptor, outcome: 'failed' | BlobOutcome) {
      events.push(`${outcome} ${descriptor.digest}`)
    },
    started() {},
  }
}

function options(extra: Partial<CopyOptions> = {}): CopyOptions {
  return {concurrency: 4, platforms: [], progress: progressLog(), referrers: false, ...extra}
}

/** Index of the first log line that starts with `prefix`. */
function at(log: string[], prefix: string): number {
  const index = log.findIndex((line) => line.startsWith(prefix))
  expect(index, `${prefix} in ${log.join(', ')}`).to.be.greaterThan(-1)
  return index
}

describe('Copier over two stores (src/workflows/copy.ts)', () => {
  it('writes the blobs, then the manifest by digest, then the tag, last', async () => {
    const source = new MemoryStore('src')
    const image = source.addImage('v1', ['layer one', 'layer two'])
    const destination = new MemoryStore('dst')
    const result = await new Copier(source, destination, options({tag: 'v1'})).run('v1')
    expect(result.digest).to.equal(image.digest)
    expect(result.tag).to.equal('v1')
    expect(result.blobs).to.deep.equal({copied: 3, mounted: 0, skipped: 0})
    expect(result.manifests).to.deep.equal({copied: 1, skipped: 0})
    expect(destination.tags.get('v1')).to.equal(image.digest)
    const {log} = destination
    const lastBlob = Math.max(...log.map((line, index) => (line.startsWith('pushBlob') ? index : -1)))
    expect(at(log, `pushManifest ${image.digest}`)).to.be.greaterThan(lastBlob)
    expect(at(log, 'tag v1')).to.equal(log.length - 1)
    // Every byte arrived, verified by the destination.
    for (const [digest, bytes] of source.blobs) expect(destination.blobs.get(digest)).to.deep.equal(bytes)
  })

  it('an index: its children go before it, each once, and the tag last', async () => {
    const source = new MemoryStore('src')
    const amd = source.addImage(undefined, ['shared', 'amd only'])
    const arm = source.addImage(undefined, ['shared', 'arm only'])
    const index = source.addManifest({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        {...amd, platform: {architecture: 'amd64', os: 'linux'}},
        {...arm, platform: {architecture: 'arm64', os: 'linux'}},
      ],
    }, 'multi')
    const destination = new MemoryStore('dst')
    const result = await new Copier(source, destination, options({tag: 'multi'})).run('multi')
    expect(result.manifests.copied).to.equal(3)
    // 'shared' is one blob, sent once though both children name it.
    expect(destination.log.filter((line) => line.startsWith('pushBlob')).length).to.equal(source.blobs.size)
    expect(at(destination.log, `pushManifest ${index.digest}`)).to.be.greaterThan(Math.max(at(destination.log, `pushManifest ${amd.digest}`), at(destination.log, `pushManifest ${arm.digest}`)))
    expect(destination.log.at(-1)).to.equal('tag multi')
  })

  it('a second copy skips what the destination has: no blob or manifest is pushed, the tag is left as it is', async () => {
    const source = new MemoryStore('src')
    source.addImage('v1', ['a', 'b'])
    const destination = new MemoryStore('dst')
    await new Copier(source, destination, options({tag: 'v1'})).run('v1')
    destination.log.length = 0
    const again = await new Copier(source, destination, options({tag: 'v1'})).run('v1')
    expect(again.manifests).to.deep.equal({copied: 0, skipped: 1})
    expect(destination.log.filter((line) => /^(pushBlob|pushManifest|tag)/.test(line))).to.deep.equal([])
  })

  it('a blob the destination has is skipped; --force sends it all again', async () => {
    const source = new MemoryStore('src')
    const image = source.addImage('v1', ['a', 'b'])
    const destination = new MemoryStore('dst')
    destination.addBlob('a')
    const result = await new Copier(source, destination, options({tag: 'v1'})).run(image.digest)
    expect(result.blobs).to.deep.equal({copied: 2, mounted: 0, skipped: 1})
    const forced = new MemoryStore('dst')
    forced.addBlob('a')
    const all = await new Copier(source, forced, options({force: true, tag: 'v1'})).run(image.digest)
    expect(all.blobs).to.deep.equal({copied: 3, mounted: 0, skipped: 0})
  })

  it('within one registry, blobs are mounted from the source repository', async () => {
    const source = new MemoryStore('src', {endpoint: 'registry.test', repository: 'team/app'})
    source.addImage('v1', ['a'])
    const destination = new MemoryStore('dst', {endpoint: 'registry.test', repository: 'team/copy'})
    const result = await new Copier(source, destination, options({tag: 'v1'})).run('v1')
    expect(result.blobs).to.deep.equal({copied: 0, mounted: 2, skipped: 0})
    expect(result.bytes).to.equal(0)
  })

  it('a failing blob stops the copy: no manifest, no tag, and the error names the blob', async () => {
    const source = new MemoryStore('src')
    const image = source.addImage('v1', ['good', 'bad'])
    const bad = source.addBlob('bad')
    const destination = new MemoryStore('dst')
    destination.failures.set(`pushBlob ${bad.digest}`, new Error('413 too large'))
    const error = await new Copier(source, destination, options({tag: 'v1'})).run('v1').then(
      () => undefined,
      (failure: Error) => failure,
    )
    expect(error).to.be.instanceOf(CopyError)
    expect(error?.message).to.equal(`blob ${bad.digest} (dst): 413 too large`)
    expect(destination.manifests.has(image.digest)).to.equal(false)
    expect(destination.tags.size).to.equal(0)
  })

  it('a source whose blob does not hash to its digest: the source is named, and nothing is tagged', async () => {
    const source = new MemoryStore('src')
    const image = source.addImage('v1', ['honest'])
    const layer = source.addBlob('honest')
    source.blobs.set(layer.digest, Buffer.from('liar!!'))
    const destination = new MemoryStore('dst')
    const error = await new Copier(source, destination, options({tag: 'v1'})).run('v1').then(
      () => undefined,
      (failure: Error) => failure,
    )
    expect(error?.message).to.match(new RegExp(`^blob ${layer.digest} \\(src\\): `))
    expect(destination.tags.size).to.equal(0)
    expect(destination.manifests.has(image.digest)).to.equal(false)
  })

  it('at most --concurrency transfers and manifest requests at once, and that many when there is work', async () => {
    const source = new MemoryStore('src')
    source.addImage('v1', Array.from({length: 12}, (_, index) => `layer ${index}`))
    const destination = new MemoryStore('dst')
    destination.delayMs = 20
    await new Copier(source, destination, options({concurrency: 3, tag: 'v1'})).run('v1')
    expect(destination.peakInFlight).to.equal(3)
  })

  it('--referrers copies the referrers of what was copied, and theirs, listed as referrers', async () => {
    const source = new MemoryStore('src')
    const image = source.addImage('v1', ['a'])
    const signature = source.addImage(undefined, ['signature'], {artifactType: 'application/vnd.example.sig', subject: image})
    const attestation = source.addImage(undefined, ['attestation'], {subject: signature})
    source.referrers.set(image.digest, [signature])
    source.referrers.set(signature.digest, [attestation])
    const destination = new MemoryStore('dst')
    const result = await new Copier(source, destination, options({referrers: true, tag: 'v1'})).run('v1')
    expect(result.referrers).to.equal(2)
    expect(destination.roots).to.include.members([signature.digest, attestation.digest])
    expect(destination.tags.get('v1')).to.equal(image.digest)
  })

  it('a referrer whose digest is not one is refused before it names a request', async () => {
    const source = new MemoryStore('src')
    source.addImage('v1', ['a'])
    const image = await source.resolve('v1')
    source.referrers.set(image.digest, [{digest: 'sha256:../../../../elsewhere/manifests/v1', mediaType: MediaType.OciManifest, size: 2}])
    const destination = new MemoryStore('dst')
    const error = await new Copier(source, destination, options({referrers: true, tag: 'v1'})).run('v1').then(
      () => undefined,
      (failure: Error) => failure,
    )
    expect(error?.message).to.match(/^referrers of sha256:[0-9a-f]{64}: manifests\[0\] has an invalid digest/)
    expect(source.log.some((line) => line.includes('elsewhere'))).to.equal(false)
    expect(destination.tags.size).to.equal(0)
  })

  it('--platform picks one manifest of an index; two make a new index of just those', async () => {
    const source = new MemoryStore('src')
    const amd = source.addImage(undefined, ['amd'])
    const arm = source.addImage(undefined, ['arm'])
    const s390 = source.addImage(undefined, ['s390x'])
    source.addManifest({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        {...amd, platform: {architecture: 'amd64', os: 'linux'}},
        {...arm, platform: {architecture: 'arm64', os: 'linux', variant: 'v8'}},
        {...s390, platform: {architecture: 's390x', os: 'linux'}},
      ],
    }, 'multi')
    const one = new MemoryStore('dst')
    const picked = await new Copier(source, one, options({platforms: [{architecture: 'arm64', os: 'linux'}], tag: 'arm'})).run('multi')
    expect(picked.digest).to.equal(arm.digest)
    expect(one.manifests.has(amd.digest)).to.equal(false)
    const two = new MemoryStore('dst')
    const both = await new Copier(source, two, options({platforms: [{architecture: 's390x', os: 'linux'}, {architecture: 'amd64', os: 'linux'}], tag: 'two'})).run('multi')
    const index = JSON.parse(two.manifests.get(both.digest)!.bytes.toString()) as {manifests: Descriptor[]}
    expect(index.manifests.map((entry) => entry.digest)).to.deep.equal([s390.digest, amd.digest])
    expect(two.manifests.has(arm.digest)).to.equal(false)
  })

  it('a destination digest that is not what is copied is refused before anything is written', async () => {
    const source = new MemoryStore('src')
    source.addImage('v1', ['a'])
    const destination = new MemoryStore('dst')
    const error = await new Copier(source, destination, options({digest: `sha256:${'0'.repeat(64)}`})).run('v1').then(
      () => undefined,
      (failure: Error) => failure,
    )
    expect(error?.message).to.match(/^the destination names sha256:0{64}, but what is copied is sha256:/)
    expect(destination.log.filter((line) => !line.startsWith('manifestDigest'))).to.deep.equal([])
  })

  it('abort (Ctrl-C) wins over the failures it causes, and no tag is pushed', async () => {
    const source = new MemoryStore('src')
    source.addImage('v1', ['a', 'b', 'c'])
    const destination = new MemoryStore('dst')
    destination.delayMs = 50
    const copier = new Copier(source, destination, options({tag: 'v1'}))
    const running = copier.run('v1')
    setTimeout(() => copier.abort(new Error('interrupted')), 20)
    const error = await running.then(
      () => undefined,
      (failure: Error) => failure,
    )
    expect(error?.message).to.equal('interrupted')
    expect(destination.tags.size).to.equal(0)
  })

  describe('several Copiers into one store (a sync), with an UploadCoordinator', () => {
    /** Two images sharing two layers (and, as tags of one image, one manifest), copied at once. */
    function mirror() {
      const source = new MemoryStore('src')
      const one = source.addImage('one', ['shared base', 'shared tools', 'one only'])
      const two = source.addImage('two', ['shared base', 'shared tools', 'two only'])
      source.tags.set('one-again', one.digest)
      const destination = new MemoryStore('dst')
      // Slow enough that every Copier finds every blob missing before any upload ends.
      destination.delayMs = 20
      return {destination, one, source, two}
    }

    const pushes = (log: string[], operation: string) => {
      const counts = new Map<string, number>()
      for (const line of log.filter((entry) => entry.startsWith(`${operation} `))) counts.set(line, (counts.get(line) ?? 0) + 1)
      return counts
    }

    it('a blob or manifest that several images need is written once: the others wait for it and skip it', async () => {
      const {destination, one, source, two} = mirror()
      const uploads = new UploadCoordinator()
      const results = await Promise.all(
        (['one', 'two', 'one-again'] as const).map((tag) => new Copier(source, destination, options({tag, uploads})).run(tag)),
      )
      for (const [line, count] of pushes(destination.log, 'pushBlob')) expect(count, line).to.equal(1)
      for (const [line, count] of pushes(destination.log, 'pushManifest')) expect(count, line).to.equal(1)
      expect(pushes(destination.log, 'pushBlob').size).to.equal(6)
      expect(destination.tags.get('one')).to.equal(one.digest)
      expect(destination.tags.get('one-again')).to.equal(one.digest)
      expect(destination.tags.get('two')).to.equal(two.digest)
      // Every blob (two configs, four layers) counted once as copied over the three copies; the rest as skipped.
      expect(results.reduce((sum, result) => sum + result.blobs.copied, 0)).to.equal(6)
      expect(results.reduce((sum, result) => sum + result.manifests.copied, 0)).to.equal(2)
    })

    it('when the image that was uploading a shared blob stops (another blob of it failed), the waiting image uploads it itself', async () => {
      const {destination, one, source, two} = mirror()
      const uploads = new UploadCoordinator()
      // One at a time, the config first: image one fails on its own config, and the shared layers
      // it had queued fail with that failure, unsent.
      const onlyOne = (JSON.parse(source.manifests.get(one.digest)!.bytes.toString()) as {config: Descriptor}).config.digest
      destination.failures.set(`pushBlob ${onlyOne}`, new Error('HTTP 500'))
      const [first, second] = await Promise.allSettled([
        new Copier(source, destination, options({concurrency: 1, tag: 'one', uploads})).run('one'),
        new Copier(source, destination, options({concurrency: 1, tag: 'two', uploads})).run('two'),
      ])
      expect(first.status).to.equal('rejected')
      expect((first as PromiseRejectedResult).reason.message).to.include(onlyOne)
      expect(second.status, String((second as PromiseRejectedResult).reason)).to.equal('fulfilled')
      expect(destination.tags.get('two')).to.equal(two.digest)
    })
  })
})
