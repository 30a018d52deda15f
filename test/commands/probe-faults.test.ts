import {expect} from 'chai'

import {parseRegistry} from '../../src/reference/registry.js'
import {RegistryConnection} from '../../src/registry/connection.js'
import {Transport} from '../../src/transport/transport.js'
import {PROBE_CASES, type ProbeReport, ProbeStage, runProbe, selectCases} from '../../src/workflows/probe/index.js'
import {FAULTS, type Fault, type MisbehavingRegistry, OWNER, READER, type Setting, startMisbehavingRegistry} from '../fixtures/misbehaving-registry.js'

/**
 * Each probe case fails when the registry gets its one thing wrong, and passes otherwise: the
 * misbehaving registry (test/fixtures/misbehaving-registry.ts) is first run through the whole
 * catalogue with no fault switched on (every case passes), then once per case with that case's
 * fault. The probe runs in-process here (the CLI around it is tested against distribution in
 * probe.test.ts): 87 runs of the CLI would cost a process start each.
 */

/** The fault that must make each case fail (and the set-up the case needs to apply at all). */
const CASE_FAULTS: Record<string, {fault: Fault; settings?: Setting[]}> = {
  'pull-manifest-by-tag': {fault: 'manifest-tag-serves-other-bytes'},
  'pull-manifest-by-digest': {fault: 'manifest-digest-get-404'},
  'pull-manifest-head-by-tag': {fault: 'manifest-head-tag-no-digest'},
  'pull-manifest-head-by-digest': {fault: 'manifest-head-digest-wrong-length'},
  'pull-manifest-digest-header': {fault: 'manifest-get-digest-header-wrong'},
  'pull-accept-oci-manifest': {fault: 'content-type-oci-manifest'},
  'pull-accept-oci-index': {fault: 'content-type-oci-index'},
  'pull-accept-docker-manifest': {fault: 'content-type-docker-manifest'},
  'pull-accept-docker-list': {fault: 'content-type-docker-list'},
  'pull-blob-get': {fault: 'blob-get-wrong-bytes'},
  'pull-blob-head': {fault: 'blob-head-wrong-digest-header'},
  'pull-blob-range-first': {fault: 'range-first-short'},
  'pull-blob-range-middle': {fault: 'range-middle-wrong-content-range'},
  'pull-blob-range-suffix': {fault: 'range-suffix-ignored'},
  'pull-blob-range-open': {fault: 'range-open-ignored'},
  'pull-blob-range-past-end': {fault: 'range-past-end-200'},
  'pull-blob-head-accept-ranges': {fault: 'no-accept-ranges'},
  'pull-manifest-unknown': {fault: 'manifest-unknown-500'},
  'pull-blob-unknown': {fault: 'blob-unknown-wrong-code'},
  'blob-head-unknown': {fault: 'blob-head-unknown-200'},
  'pull-repository-unknown': {fault: 'unknown-repository-403'},
  'push-blob-post-put': {fault: 'blob-put-no-location'},
  'push-blob-single-post': {fault: 'single-post-500'},
  'push-blob-chunked': {fault: 'patch-no-range-header'},
  'push-blob-upload-status': {fault: 'upload-status-200'},
  'blob-chunk-out-of-order': {fault: 'patch-out-of-order-accepted'},
  'push-blob-streamed': {fault: 'patch-requires-content-range'},
  'push-blob-mount': {fault: 'mount-lies'},
  'push-blob-mount-missing': {fault: 'mount-missing-201'},
  'push-blob-cancel': {fault: 'cancel-keeps-session'},
  'push-blob-empty': {fault: 'empty-blob-refused'},
  'push-blob-empty-json': {fault: 'empty-json-refused'},
  'push-blob-sha512': {fault: 'sha512-500'},
  'push-manifest-by-tag': {fault: 'manifest-put-tag-no-location'},
  'push-manifest-by-digest': {fault: 'manifest-put-wrong-digest-header'},
  'push-manifest-subject': {fault: 'subject-refused'},
  'push-manifest-subject-missing': {fault: 'subject-missing-refused'},
  'push-manifest-subject-header': {fault: 'no-oci-subject-header'},
  'push-manifest-data-field': {fault: 'data-field-refused'},
  'push-index-nested': {fault: 'nested-index-refused'},
  'push-artifact': {fault: 'artifact-type-refused'},
  'push-manifest-nondistributable': {fault: 'foreign-layers-refused'},
  'push-manifest-unknown-fields': {fault: 'manifest-reserialised'},
  'discovery-tags-list': {fault: 'tags-list-wrong-name'},
  'discovery-tags-sorted': {fault: 'tags-unsorted'},
  'discovery-tags-n': {fault: 'tags-ignore-n'},
  'discovery-tags-last': {fault: 'tags-ignore-last'},
  'discovery-tags-n-zero': {fault: 'tags-n-zero-all'},
  'discovery-tags-link-paging': {fault: 'tags-no-link'},
  'discovery-referrers': {fault: 'referrers-drop-annotations'},
  'discovery-referrers-filter': {fault: 'referrers-no-filter'},
  'discovery-referrers-empty': {fault: 'referrers-unknown-404'},
  'discovery-referrers-tag-schema': {fault: 'tag-schema-refused', settings: ['no-referrers-api']},
  'management-delete-manifest': {fault: 'manifest-delete-keeps'},
  'management-delete-tag': {fault: 'tag-delete-500'},
  'management-delete-blob': {fault: 'blob-delete-keeps'},
  'management-delete-manifest-unknown': {fault: 'delete-unknown-manifest-202'},
  'management-delete-blob-unknown': {fault: 'delete-unknown-blob-202'},
  // One check seen from two sides: a registry that stores a blob under the digest the client
  // names, without hashing the bytes, takes both a wrong digest and a corrupted body.
  'blob-wrong-digest': {fault: 'trust-client-digest'},
  'blob-corrupt-body': {fault: 'trust-client-digest'},
  'blob-malformed-digest': {fault: 'malformed-digest-500'},
  'manifest-wrong-digest': {fault: 'manifest-trust-client-digest'},
  'manifest-get-malformed-digest': {fault: 'malformed-manifest-digest-500'},
  'name-invalid-uppercase': {fault: 'uppercase-names-accepted'},
  'name-invalid-separator': {fault: 'separator-names-accepted'},
  'manifest-invalid-tag': {fault: 'leading-dash-tags-accepted'},
  'manifest-tag-too-long': {fault: 'long-tags-accepted'},
  'manifest-blob-unknown': {fault: 'blobs-unchecked'},
  'manifest-content-type-mismatch': {fault: 'content-type-unchecked'},
  'manifest-oversized': {fault: 'no-manifest-limit'},
  'auth-missing': {fault: 'anonymous-tag-list'},
  'auth-expired-token': {fault: 'any-bearer-accepted'},
  'catalog-huge-n': {fault: 'catalog-unbounded'},
  'blob-mount-unreadable': {fault: 'mount-ignores-rights'},
  'rights-push': {fault: 'uploads-unchecked'},
  'rights-manifest-put': {fault: 'manifest-put-unchecked'},
  'rights-delete': {fault: 'delete-unchecked'},
  'rights-mount': {fault: 'mount-unchecked'},
  'rights-catalog': {fault: 'catalog-unchecked'},
  'auth-challenge': {fault: 'challenge-no-service'},
  'auth-anonymous-token': {fault: 'no-anonymous-tokens'},
  'auth-token-expires-in': {fault: 'short-expires-in'},
  'auth-token-other-repository': {fault: 'tokens-any-repository'},
  'robust-same-blob-concurrent': {fault: 'same-blob-conflict'},
  'robust-parallel-uploads': {fault: 'max-10-sessions'},
  'robust-large-blob': {fault: 'large-blob-truncated'},
  'robust-rate-limit': {fault: '429-without-retry-after'},
}

async function probe(registry: MisbehavingRegistry, names?: string[]): Promise<ProbeReport> {
  const stage = new ProbeStage()
  const transport = await Transport.create({breakStage: stage, retries: 0})
  const ref = parseRegistry(registry.host)
  const credentials = async () => ({...OWNER})
  const connection = new RegistryConnection(transport, ref, credentials, true)
  const reader = new RegistryConnection(transport.fork(), ref, async () => ({...READER}), true)
  try {
    return await runProbe({
      cases: selectCases(PROBE_CASES, {cases: names}).selected,
      connection,
      credentials,
      largeBlobBytes: 2 * 1024 * 1024,
      mountSource: 'probe/fixture/mount-source',
      readOnly: false,
      reader,
      repository: 'probe/fixture',
      stage,
    })
  } finally {
    connection.close()
    reader.close()
  }
}

function verdicts(report: ProbeReport): Record<string, string> {
  return Object.fromEntries(report.cases.map((c) => [c.name, c.verdict === 'skip' && c.disabled ? 'disabled' : c.verdict]))
}

function explain(report: ProbeReport): string {
  return report.cases.map((c) => `${c.name}: ${c.verdict} ${JSON.stringify(c.got)} ${c.detail ?? ''}`).join('\n')
}

describe('probe against a misbehaving registry: each case fails when its one thing is wrong', function () {
  this.timeout(60_000)
  let registry: MisbehavingRegistry

  before(async () => {
    registry = await startMisbehavingRegistry()
  })

  after(async () => registry?.close())

  beforeEach(() => registry.reset())

  it('every case of the catalogue has its fault, and every fault its case', () => {
    expect(Object.keys(CASE_FAULTS).sort()).to.deep.equal(PROBE_CASES.map((c) => c.name).sort())
    const used = new Set(Object.values(CASE_FAULTS).map((entry) => entry.fault))
    expect(Object.keys(FAULTS).filter((fault) => !used.has(fault as Fault))).to.deep.equal([])
  })

  it('with no fault, every case passes (but the tag schema, which a registry with the referrers API does not need)', async () => {
    const report = await probe(registry)
    const expected = Object.fromEntries(PROBE_CASES.map((c) => [c.name, c.name === 'discovery-referrers-tag-schema' ? 'skip' : 'pass']))
    expect(verdicts(report), explain(report)).to.deep.equal(expected)
    expect(report.cleanup.left).to.deep.equal([])
  })

  it('without the referrers API, the referrers cases skip and the tag schema case passes', async () => {
    registry.settings.add('no-referrers-api')
    const report = await probe(registry, ['discovery-referrers*', 'push-manifest-subject-header'])
    expect(verdicts(report), explain(report)).to.deep.equal({
      'discovery-referrers': 'skip',
      'discovery-referrers-empty': 'skip',
      'discovery-referrers-filter': 'skip',
      'discovery-referrers-tag-schema': 'pass',
      'push-manifest-subject-header': 'skip',
    })
  })

  it('with deletes switched off, the management cases are "disabled", and what was pushed is listed as left', async () => {
    registry.settings.add('deletes-off')
    const report = await probe(registry, ['management-*', 'rights-delete'])
    expect(verdicts(report), explain(report)).to.deep.equal({
      'management-delete-blob': 'disabled',
      'management-delete-blob-unknown': 'disabled',
      'management-delete-manifest': 'disabled',
      'management-delete-manifest-unknown': 'disabled',
      'management-delete-tag': 'disabled',
      // The reader is refused before the registry looks at whether deletes are on.
      'rights-delete': 'pass',
    })
    expect(report.cleanup.left.length).to.be.greaterThan(0)
  })

  for (const [name, {fault, settings = []}] of Object.entries(CASE_FAULTS)) {
    it(`${name} fails when ${FAULTS[fault]}`, async () => {
      for (const setting of settings) registry.settings.add(setting)
      const fine = await probe(registry, [name])
      expect(verdicts(fine), explain(fine)).to.deep.equal({[name]: 'pass'})
      registry.reset()
      for (const setting of settings) registry.settings.add(setting)
      registry.faults.add(fault)
      const report = await probe(registry, [name])
      expect(verdicts(report), explain(report)).to.deep.equal({[name]: 'fail'})
    })
  }
})
