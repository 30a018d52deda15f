import type {RegistryResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {MediaType, baseMediaType} from '../../content/media-types.js'
import {nextLink} from '../../registry/pagination.js'
import {referrersTag} from '../../registry/referrers.js'
import {urls} from '../../registry/urls.js'
import {type Level, type Outcome, SPEC, type SpecRef, codeText, digestOf, fail, header, need, pass, skip} from './case.js'
import {type ProbeCase, type ProbeContext, imageManifest} from './context.js'

/**
 * Content discovery: the tag list (its order, `n`, `last`, Link paging to the end) and the
 * referrers API (with and without the artifactType filter), or the referrers tag schema where a
 * registry has no referrers API.
 */

const discover = (name: string, level: Level, spec: SpecRef, writes: boolean, request: string, expected: string, run: (context: ProbeContext) => Promise<Outcome>): ProbeCase => ({area: 'discovery', expected, level, name, request, run, spec, writes})

/** Tags of this run, pushed in an order that is not sorted: a registry that lists them as stored shows it. */
const TAG_SUFFIXES = ['t-c', 't-a', 't-e', 't-b', 't-d']

const tagSets = new WeakMap<ProbeContext, Promise<string[]>>()

/** The run's five tags, pushed once (onto the run's image), sorted. */
function runTags(context: ProbeContext): Promise<string[]> {
  let pending = tagSets.get(context)
  if (!pending) {
    pending = (async () => {
      const {manifest} = await context.fixture()
      for (const suffix of TAG_SUFFIXES) {
        const response = await context.putManifest(manifest.bytes, manifest.mediaType, `${context.runId}-${suffix}`)
        if (response.status !== 201) fail(`could not push the tags to list: HTTP ${response.status}${codeText(response)}`, response)
      }

      return TAG_SUFFIXES.map((suffix) => `${context.runId}-${suffix}`).sort()
    })()
    tagSets.set(context, pending)
  }

  return pending
}

interface TagPage {
  link?: string
  response: RegistryResponse
  tags: string[]
}

async function listTags(context: ProbeContext, path: string): Promise<TagPage> {
  const response = await context.send({method: 'GET', operation: 'tag.list', path})
  need(response, [200])
  let body: {name?: unknown; tags?: unknown}
  try {
    body = JSON.parse(response.body.toString('utf8')) as typeof body
  } catch {
    fail('the tag list is not JSON', response)
  }

  const tags = body.tags ?? []
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string')) fail('"tags" is not a list of strings', response)
  return {link: nextLink(response.headers.link), response, tags: tags as string[]}
}

function sorted(tags: string[]): boolean {
  const ascii = [...tags].sort()
  const lexical = [...tags].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase(), 'en'))
  return tags.every((tag, at) => tag === ascii[at]) || tags.every((tag, at) => tag === lexical[at])
}

interface Referrers {
  pushed: Array<{artifactType: string; digest: string; size: number}>
  subject: string
  types: string[]
}

const referrerSets = new WeakMap<ProbeContext, Promise<Referrers>>()

/** Two artifacts whose subject is the run's image, of two artifact types, pushed once. */
function runReferrers(context: ProbeContext): Promise<Referrers> {
  let pending = referrerSets.get(context)
  if (!pending) {
    pending = (async () => {
      const {layer, manifest} = await context.fixture()
      const empty = await context.pushBlob(Buffer.from('{}'))
      const types = ['application/vnd.regshape.probe.sbom', 'application/vnd.regshape.probe.signature']
      const pushed: Referrers['pushed'] = []
      for (const artifactType of types) {
        const bytes = imageManifest({digest: empty, size: 2}, [{digest: layer.digest, size: layer.size}], {
          annotations: {'org.regshape.probe': context.runId},
          artifactType,
          config: {digest: empty, mediaType: MediaType.OciEmpty, size: 2},
          subject: {digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length},
        })
        const response = await context.putManifest(bytes, MediaType.OciManifest)
        if (response.status !== 201) fail(`could not push the referrers to list: HTTP ${response.status}${codeText(response)}`, response)
        pushed.push({artifactType, digest: digestOf(bytes), size: bytes.length})
      }

      return {pushed, subject: manifest.digest, types}
    })()
    referrerSets.set(context, pending)
  }

  return pending
}

async function referrersOf(context: ProbeContext, digest: string, artifactType?: string): Promise<{entries: Array<{annotations?: Record<string, string>; artifactType?: string}>; response: RegistryResponse}> {
  if (!(await context.referrersApi())) skip('the registry has no referrers API (404): the referrers tag schema applies')
  const response = await context.send({headers: {accept: MediaType.OciIndex}, method: 'GET', operation: 'referrers.list', path: urls.referrers(context.repository, digest, artifactType)})
  need(response, [200])
  const type = baseMediaType(header(response, 'content-type'))
  if (type !== MediaType.OciIndex) fail(`Content-Type is ${type ?? 'missing'}, not ${MediaType.OciIndex}`, response)
  let index: {manifests?: unknown}
  try {
    index = JSON.parse(response.body.toString('utf8')) as typeof index
  } catch {
    fail('the answer is not JSON', response)
  }

  if (!Array.isArray(index.manifests)) fail('the answer is not an index (no "manifests")', response)
  return {entries: index.manifests as Array<{annotations?: Record<string, string>; artifactType?: string}>, response}
}

export const DISCOVERY: ProbeCase[] = [
  discover('discovery-tags-list', 'MUST', SPEC.tags, false, 'GET of the tag list', '200, {"name", "tags"} naming the repository and its tags', async (context) => {
    const {manifest} = await context.fixture()
    const {response, tags} = await listTags(context, urls.tags(context.repository))
    const name = (JSON.parse(response.body.toString('utf8')) as {name?: unknown}).name
    if (name !== context.repository) fail(`"name" is ${JSON.stringify(name)}, not ${JSON.stringify(context.repository)}`, response)
    if (manifest.tag !== undefined && !tags.includes(manifest.tag)) fail(`the tag ${manifest.tag} is not listed`, response)
    return pass(response)
  }),
  discover('discovery-tags-sorted', 'MUST', SPEC.tags, true, 'GET of the tag list after five tags pushed out of order', 'the tags in lexical or ASCII order', async (context) => {
    await runTags(context)
    const {response, tags} = await listTags(context, urls.tags(context.repository))
    const ours = tags.filter((tag) => tag.startsWith(context.runId))
    if (!sorted(tags)) fail(`the tags are not sorted: ${ours.slice(0, 5).join(', ')}${ours.length > 5 ? ', …' : ''}`, response)
    return pass(response)
  }),
  discover('discovery-tags-n', 'MUST', SPEC.tags, true, 'GET of the tag list with n=2 (five tags or more in the repository)', '2 tags (fewer only with a Link header)', async (context) => {
    await runTags(context)
    const page = await listTags(context, urls.tags(context.repository, {n: 2}))
    if (page.tags.length > 2 || (page.tags.length < 2 && page.link === undefined)) fail(`${page.tags.length} tags`, page.response)
    return pass(page.response)
  }),
  discover('discovery-tags-last', 'MUST', SPEC.tags, true, 'GET of the tag list with n=2&last=<the run\'s second tag>', 'only tags after it, the next one first', async (context) => {
    const tags = await runTags(context)
    const page = await listTags(context, urls.tags(context.repository, {last: tags[1], n: 2}))
    const before = page.tags.filter((tag) => tag <= tags[1]!)
    if (before.length > 0) fail(`${before.length} tag(s) up to the one named came back, ${before.slice(0, 3).join(', ')}${before.length > 3 ? ', …' : ''}`, page.response)
    if (page.tags[0] !== tags[2]) fail(`the first tag is ${page.tags[0] ?? 'none'}, not ${tags[2]}`, page.response)
    return pass(page.response)
  }),
  discover('discovery-tags-n-zero', 'MUST', SPEC.tagsMain, true, 'GET of the tag list with n=0', 'an empty list and no Link', async (context) => {
    await runTags(context)
    const page = await listTags(context, urls.tags(context.repository, {n: 0}))
    if (page.tags.length > 0) fail(`${page.tags.length} tags`, page.response)
    if (page.link !== undefined) fail('a Link header', page.response)
    return pass(page.response)
  }),
  discover('discovery-tags-link-paging', 'MAY', SPEC.tags, true, 'GET of the tag list with n=2, then each Link to the end', 'pages of at most 2 tags, each tag once, all of them', async (context) => {
    const expected = await runTags(context)
    const seen: string[] = []
    let path: string | undefined = urls.tags(context.repository, {n: 2})
    let last: RegistryResponse | undefined
    for (let pages = 0; path !== undefined; pages++) {
      if (pages > 10_000) fail('more than 10,000 pages')
      const page = await listTags(context, path)
      last = page.response
      if (page.tags.length > 2) fail(`a page of ${page.tags.length} tags`, page.response)
      seen.push(...page.tags)
      if (page.link === undefined) break
      const next = new URL(page.link, context.access.origin())
      if (next.origin !== context.access.origin()) fail(`the Link leads to another origin (${next.origin})`, page.response)
      path = `${next.pathname}${next.search}`
    }

    if (new Set(seen).size !== seen.length) fail('a tag came twice', last)
    const missing = expected.filter((tag) => !seen.includes(tag))
    if (missing.length > 0) fail(`the pages end without ${missing.join(', ')} (no Link to a next page)`, last)
    return pass(last)
  }),
  discover('discovery-referrers', 'MUST', SPEC.referrers, true, 'GET of the referrers of the run\'s image (two artifacts pushed)', '200, an index listing both with their artifactType and annotations', async (context) => {
    const {subject, types} = await runReferrers(context)
    const {entries, response} = await referrersOf(context, subject)
    for (const type of types) {
      const entry = entries.find((candidate) => candidate.artifactType === type)
      if (!entry) fail(`the ${type} referrer is not listed`, response)
      if (entry.annotations?.['org.regshape.probe'] !== context.runId) fail(`the ${type} referrer lacks its annotations`, response)
    }

    return pass(response)
  }),
  discover('discovery-referrers-filter', 'SHOULD', SPEC.referrers, true, 'GET of the referrers with ?artifactType=', 'only that type, and OCI-Filters-Applied: artifactType', async (context) => {
    const {subject, types} = await runReferrers(context)
    const {entries, response} = await referrersOf(context, subject, types[0])
    const applied = (header(response, 'oci-filters-applied') ?? '').split(',').map((name) => name.trim())
    if (!applied.includes('artifactType')) fail('no OCI-Filters-Applied: artifactType (the registry did not filter)', response)
    if (entries.some((entry) => entry.artifactType !== types[0])) fail('OCI-Filters-Applied says artifactType, yet other types are listed', response)
    if (entries.length === 0) fail('the filtered list is empty', response)
    return pass(response)
  }),
  discover('discovery-referrers-empty', 'MUST', SPEC.referrers, true, 'GET of the referrers of a digest nothing refers to', '200 and an empty index, not 404', async (context) => {
    // The run's image has referrers first: a registry that answers 404 only where there are none
    // is then told apart from one without the API.
    await runReferrers(context)
    const {entries, response} = await referrersOf(context, digestOf(randomBytes(32)))
    if (entries.length > 0) fail(`${entries.length} referrers of a digest no one pushed`, response)
    return pass(response)
  }),
  discover('discovery-referrers-tag-schema', 'MUST', SPEC.referrersTag, true, 'where the referrers API answers 404: PUT and GET of an index under the referrers tag <alg>-<hex>', '201, then 200 and the same bytes', async (context) => {
    const {pushed, subject} = await runReferrers(context)
    if (await context.referrersApi()) skip('the registry has the referrers API: clients do not need the tag schema')
    const tag = referrersTag(subject)
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: pushed.map((entry) => ({mediaType: MediaType.OciManifest, ...entry})),
    }))
    const put = await context.putManifest(bytes, MediaType.OciIndex, tag)
    need(put, [201], 'the PUT')
    const back = await context.send({headers: {accept: MediaType.OciIndex}, method: 'GET', operation: 'referrers.tag', path: urls.manifest(context.repository, tag)})
    need(back, [200], 'reading it back')
    if (!back.body.equals(bytes)) fail('read back, the index differs from the one pushed', back)
    return pass(back)
  }),
]
