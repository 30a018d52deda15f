import {expect} from 'chai'

import {pushMediaType} from '../../../src/content/manifest.js'
import {readReferrersIndex, referrersIndexBytes, subjectOf, withReferrer, withoutReferrer} from '../../../src/registry/referrers.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const digest = (char: string) => `sha256:${char.repeat(64)}`
const EMPTY = {mediaType: 'application/vnd.oci.empty.v1+json', digest: digest('4'), size: 2}

describe('referrers tag schema (src/registry/referrers.ts)', () => {
  describe('subjectOf: the descriptor the spec puts in the referrers index', () => {
    it('takes the manifest artifactType and all of its annotations', () => {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.sbom',
          config: EMPTY,
          layers: [EMPTY],
          subject: {mediaType: OCI_MANIFEST, digest: digest('a'), size: 10},
          annotations: {'org.example.a': '1', 'org.example.b': '2'},
        }),
      )
      expect(subjectOf(body, digest('f'), OCI_MANIFEST)).to.deep.equal({
        referrer: {mediaType: OCI_MANIFEST, digest: digest('f'), size: body.length, artifactType: 'application/vnd.example.sbom', annotations: {'org.example.a': '1', 'org.example.b': '2'}},
        subject: {digest: digest('a'), mediaType: OCI_MANIFEST, size: 10},
      })
    })

    it("falls back to the config's media type when the manifest has no artifactType", () => {
      const body = Buffer.from(JSON.stringify({schemaVersion: 2, config: {...EMPTY, mediaType: 'application/vnd.example.config'}, layers: [], subject: {digest: digest('a')}}))
      const found = subjectOf(body, digest('f'), OCI_MANIFEST)
      expect(found?.referrer.artifactType).to.equal('application/vnd.example.config')
      expect(found?.referrer).not.to.have.property('annotations')
    })

    it('finds no subject in a body that is not JSON, has none, or names no valid digest', () => {
      expect(subjectOf(Buffer.from('not json'), digest('f'), OCI_MANIFEST)).to.equal(undefined)
      expect(subjectOf(Buffer.from('{"layers":[]}'), digest('f'), OCI_MANIFEST)).to.equal(undefined)
      expect(subjectOf(Buffer.from('{"subject":{"digest":"sha256:short"}}'), digest('f'), OCI_MANIFEST)).to.equal(undefined)
    })
  })

  it('adds a referrer once, keeping the entries already listed as they were', () => {
    const listed = [{mediaType: OCI_MANIFEST, digest: digest('1'), size: 5, 'x-unknown': true}]
    const referrer = {mediaType: OCI_MANIFEST, digest: digest('2'), size: 7, artifactType: 'a/b'}
    expect(withReferrer(listed, referrer)).to.deep.equal([...listed, referrer])
    expect(withReferrer([...listed, referrer], referrer)).to.equal(undefined)
    expect(withoutReferrer([...listed, referrer], digest('1'))).to.deep.equal([referrer])
    expect(withoutReferrer(listed, digest('9'))).to.equal(undefined)
  })

  it('writes the index as oras does, and reads only an OCI image index back', () => {
    const bytes = referrersIndexBytes([{mediaType: OCI_MANIFEST, digest: digest('1'), size: 5}])
    expect(bytes.toString()).to.equal(`{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[{"mediaType":"${OCI_MANIFEST}","digest":"${digest('1')}","size":5}]}`)
    expect(readReferrersIndex(bytes, OCI_INDEX)).to.deep.equal({manifests: [{mediaType: OCI_MANIFEST, digest: digest('1'), size: 5}]})
    expect(readReferrersIndex(Buffer.from('{"manifests":[]}'), OCI_INDEX)).to.deep.equal({manifests: []})
    expect(readReferrersIndex(Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'), OCI_MANIFEST)).to.deep.equal({
      problem: `it is ${OCI_MANIFEST}, not an OCI image index`,
    })
    expect(readReferrersIndex(Buffer.from('[1]'), OCI_INDEX)).to.deep.equal({problem: 'it is not a JSON object'})
    expect(readReferrersIndex(Buffer.from(`{"mediaType":"${OCI_INDEX}","manifests":[1]}`), OCI_INDEX)).to.deep.equal({problem: 'it has no "manifests" list of descriptors'})
  })

  it("types a push by the body's mediaType, else its shape, else as an OCI manifest", () => {
    expect(pushMediaType(Buffer.from('{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}'))).to.equal('application/vnd.docker.distribution.manifest.v2+json')
    expect(pushMediaType(Buffer.from('{"schemaVersion":2,"manifests":[]}'))).to.equal(OCI_INDEX)
    expect(pushMediaType(Buffer.from('{"schemaVersion":2,"config":{},"layers":[]}'))).to.equal(OCI_MANIFEST)
    expect(pushMediaType(Buffer.from('not json'))).to.equal(OCI_MANIFEST)
  })
})
