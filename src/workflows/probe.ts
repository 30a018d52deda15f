import {createHash, randomBytes} from 'node:crypto'

import type {BreakRule, Mutation} from '../break/rules.js'
import type {BreakStage} from '../break/session.js'
import type {LabelledRequest, RegistryConnection} from '../registry/connection.js'
import type {HttpRequest} from '../transport/http.js'
import type {RegistryResponse} from '../transport/transport.js'

import {RuleSet, builtinRules} from '../break/rules.js'
import {ociErrorCode} from '../break/session.js'
import {MediaType} from '../content/media-types.js'
import {repositoryScope} from '../reference/scope.js'
import {urls} from '../registry/urls.js'

/**
 * `regshape probe`: a catalogue of requests the OCI distribution spec says a registry must refuse,
 * each sent to a scratch repository the user names, and what the registry did (registry.md §5).
 * Most cases are a correct request changed by a break-mode rule, so each is the same mutation a
 * `--break-rules` file can make. The probe cleans up what it pushed, and talks only to the
 * registry it was given: a Location elsewhere ends the case.
 */

export type Verdict = 'fail' | 'pass' | 'skip'

export interface CaseResult {
  /** What the registry answered: status and OCI error code. */
  got?: {code?: string; status: number}
  /** Why the verdict, in words (a skip's reason, a failure's detail). */
  detail?: string
  expected: string
  /** The break-mode changes the case made, as a --break report would list them. */
  mutations: Mutation[]
  name: string
  request: string
  verdict: Verdict
}

export interface ProbeReport {
  cases: CaseResult[]
  cleanup: {left: Array<{problem: string; what: string}>; removed: string[]}
  failed: number
  passed: number
  repository: string
  skipped: number
}

interface Expectation {
  codes?: string[]
  statuses: number[]
}

interface ProbeCase {
  /** What the spec requires, in words. */
  expected: string
  name: string
  /** What is sent, in words. */
  request: string
  run(context: ProbeContext): Promise<Omit<CaseResult, 'expected' | 'mutations' | 'name' | 'request'>>
}

/** The break stage the probe's registry client is built with: each case sets its own rules. */
export class ProbeStage implements BreakStage {
  mutations: Mutation[] = []
  private rules?: RuleSet

  apply(request: HttpRequest): {mutations: Mutation[]; request: HttpRequest} {
    if (!this.rules) return {mutations: [], request}
    const applied = this.rules.apply(request)
    this.mutations.push(...applied.mutations)
    return applied
  }

  record(): void {}

  /** Runs `operation` with `rules` applied to its requests. */
  async with<T>(rules: BreakRule[], operation: () => Promise<T>): Promise<T> {
    this.rules = new RuleSet(rules)
    try {
      return await operation()
    } finally {
      this.rules = undefined
    }
  }
}

class OffOrigin extends Error {}

export class ProbeContext {
  /** Whether the registry asked for credentials for a plain read: without, the auth cases have nothing to test. */
  challenged = false
  readonly created = {blobs: new Set<string>(), manifests: new Set<string>()}
  private readonly pull: string
  private readonly push: string

  constructor(
    readonly access: RegistryConnection,
    readonly repository: string,
    readonly stage: ProbeStage,
  ) {
    this.pull = repositoryScope(repository, ['pull'])
    this.push = repositoryScope(repository, ['pull', 'push'])
  }

  send(request: Omit<LabelledRequest, 'scope'> & {scope?: string}, rules: BreakRule[] = []): Promise<RegistryResponse> {
    const scope = request.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? this.pull : this.push)
    return this.stage.with(rules, () => this.access.request({...request, scope}))
  }

  /** An upload session's path (and query), which must stay on the registry's origin. */
  sessionPath(response: RegistryResponse): string {
    const location = response.headers.location?.[0]
    if (!location) throw new OffOrigin(`the registry answered ${response.status} without a Location`)
    const origin = this.access.origin()
    const url = new URL(location, origin)
    if (url.origin !== origin) throw new OffOrigin(`the upload session is on another origin (${url.origin}); the probe talks only to the registry it was given`)
    return `${url.pathname}${url.search}`
  }

  async startSession(): Promise<string> {
    const response = await this.send({method: 'POST', operation: 'blob.upload', path: urls.uploads(this.repository)})
    if (response.status !== 202) throw new OffOrigin(`could not open an upload session: HTTP ${response.status}${codeText(response)}`)
    return this.sessionPath(response)
  }

  /** A blob pushed the correct way (POST, then PUT with its digest), kept for the cases and removed at the end. */
  async pushBlob(bytes: Buffer): Promise<string> {
    const digest = digestOf(bytes)
    const session = await this.startSession()
    const response = await this.send({body: bytes, headers: {'content-type': 'application/octet-stream'}, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digest)})
    if (response.status !== 201) throw new OffOrigin(`could not push a blob to set up the case: HTTP ${response.status}${codeText(response)}`)
    this.created.blobs.add(digest)
    return digest
  }

  /** Cancels an upload session, as a client that gives up should; a failure here is no finding. */
  async cancel(session: string): Promise<void> {
    await this.send({method: 'DELETE', operation: 'blob.upload', path: session}).catch(() => undefined)
  }
}

// --- helpers -----------------------------------------------------------------------------------

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

function codeText(response: RegistryResponse): string {
  const code = ociErrorCode(response.body)
  return code ? ` ${code}` : ''
}

function answer(response: RegistryResponse): {code?: string; status: number} {
  return {code: response.status >= 400 ? ociErrorCode(response.body) : undefined, status: response.status}
}

function judge(response: RegistryResponse, expected: Expectation): Omit<CaseResult, 'expected' | 'mutations' | 'name' | 'request'> {
  const got = answer(response)
  const statusOk = expected.statuses.includes(got.status)
  const codeOk = !expected.codes || (got.code !== undefined && expected.codes.includes(got.code))
  if (statusOk && codeOk) return {got, verdict: 'pass'}
  const wanted = `${expected.statuses.join(' or ')}${expected.codes ? ` ${expected.codes.join(' or ')}` : ''}`
  return {detail: `expected ${wanted}`, got, verdict: 'fail'}
}

function describe(expected: Expectation): string {
  return `${expected.statuses.join('/')}${expected.codes ? ` ${expected.codes.join('/')}` : ''}`
}

function imageManifest(config: {digest: string; size: number}, layers: Array<{digest: string; size: number}>, annotations?: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: {mediaType: MediaType.OciConfig, ...config},
      layers: layers.map((layer) => ({mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer})),
      ...(annotations ? {annotations} : {}),
    }),
  )
}

/** The manifest size every registry must take and distribution enforces (registry.md §2). */
const MANIFEST_LIMIT = 4 * 1024 * 1024
/** Past any page size a registry allows, yet small enough that a registry which allocates n entries up front (CVE-2023-2253) is not harmed. */
const CATALOG_N = 100_000

// --- the catalogue -----------------------------------------------------------------------------

interface Fixture {
  config: {digest: string; size: number}
  layer: {digest: string; size: number}
}

function catalogue(fixture: () => Promise<Fixture>): ProbeCase[] {
  const uploadPut = {match: {method: ['PUT'], operation: ['blob.upload']}}
  const rejectsBlob: Expectation = {codes: ['DIGEST_INVALID'], statuses: [400]}
  const authRequired = (context: ProbeContext, response: RegistryResponse, expected: Expectation) =>
    !context.challenged && response.status < 300
      ? {detail: 'the registry serves this repository without credentials: nothing to refuse', got: answer(response), verdict: 'skip' as const}
      : judge(response, expected)

  return [
    {
      expected: describe(rejectsBlob),
      name: 'blob-wrong-digest',
      request: 'PUT of a blob with a digest= one hex digit off (wrong_digest)',
      async run(context) {
        const bytes = randomBytes(512)
        const session = await context.startSession()
        const response = await context.send({body: bytes, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digestOf(bytes))}, [builtinRules.wrong_digest(uploadPut)])
        if (response.status === 201) context.created.blobs.add(response.headers['docker-content-digest']?.[0] ?? digestOf(bytes))
        else await context.cancel(session)
        return judge(response, rejectsBlob)
      },
    },
    {
      expected: describe(rejectsBlob),
      name: 'blob-corrupt-body',
      request: 'PUT of a blob whose first byte was flipped after its digest was computed (corrupt_body)',
      async run(context) {
        const bytes = randomBytes(512)
        const session = await context.startSession()
        const response = await context.send({body: bytes, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digestOf(bytes))}, [builtinRules.corrupt_body(uploadPut)])
        if (response.status === 201) context.created.blobs.add(digestOf(bytes))
        else await context.cancel(session)
        return judge(response, rejectsBlob)
      },
    },
    {
      expected: '416',
      name: 'blob-chunk-out-of-order',
      request: 'PATCH of a second chunk whose Content-Range skips 1000 bytes (header replace)',
      async run(context) {
        const bytes = randomBytes(3000)
        const session = await context.startSession()
        const first = await context.send({body: bytes.subarray(0, 1000), headers: {'content-range': '0-999', 'content-type': 'application/octet-stream'}, method: 'PATCH', operation: 'blob.upload', path: session})
        if (first.status !== 202) {
          await context.cancel(session)
          return {detail: `the first, in-order chunk was not taken: HTTP ${first.status}`, got: answer(first), verdict: 'skip'}
        }

        const next = context.sessionPath(first)
        const skip: BreakRule = {action: 'replace', key: 'Content-Range', match: {method: ['PATCH'], operation: ['blob.upload']}, name: 'out-of-order Content-Range', target: 'header', value: '2000-2999'}
        const response = await context.send({body: bytes.subarray(1000, 2000), headers: {'content-range': '1000-1999', 'content-type': 'application/octet-stream'}, method: 'PATCH', operation: 'blob.upload', path: next}, [skip])
        await context.cancel(response.headers.location?.[0] ? context.sessionPath(response) : next)
        const verdict = judge(response, {statuses: [416]})
        return response.status === 202 ? {...verdict, detail: 'the registry appended the chunk at the wrong offset'} : verdict
      },
    },
    {
      expected: '400/404 MANIFEST_BLOB_UNKNOWN',
      name: 'manifest-blob-unknown',
      request: 'PUT of a manifest naming a layer the repository does not have',
      async run(context) {
        const {config} = await fixture()
        const missing = {digest: digestOf(randomBytes(64)), size: 64}
        const body = imageManifest(config, [missing])
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, digestOf(body))})
        if (response.status === 201) context.created.manifests.add(digestOf(body))
        return judge(response, {codes: ['MANIFEST_BLOB_UNKNOWN'], statuses: [400, 404]})
      },
    },
    {
      expected: '400 MANIFEST_INVALID',
      name: 'manifest-content-type-mismatch',
      request: 'PUT of an image manifest sent as an image index (invalid_content_type, CVE-2021-41190)',
      async run(context) {
        const {config, layer} = await fixture()
        const body = imageManifest(config, [layer], {'org.regshape.probe': 'content-type'})
        const rule = builtinRules.invalid_content_type({match: {operation: ['manifest.put']}, value: MediaType.OciIndex})
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, digestOf(body))}, [rule])
        if (response.status === 201) context.created.manifests.add(digestOf(body))
        return judge(response, {codes: ['MANIFEST_INVALID'], statuses: [400]})
      },
    },
    {
      expected: '400/413',
      name: 'manifest-oversized',
      request: `PUT of a manifest of ${MANIFEST_LIMIT / 1024 / 1024} MiB + 64 KiB (CVE-2017-11468)`,
      async run(context) {
        const {config, layer} = await fixture()
        const padding = 'x'.repeat(MANIFEST_LIMIT + 64 * 1024)
        const body = imageManifest(config, [layer], {'org.regshape.probe.padding': padding})
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(context.repository, digestOf(body))})
        if (response.status === 201) context.created.manifests.add(digestOf(body))
        return judge(response, {statuses: [400, 413]})
      },
    },
    {
      expected: '400/404',
      name: 'manifest-invalid-tag',
      request: 'PUT of a manifest to the tag "-probe" (a tag may not start with "-")',
      async run(context) {
        const {config, layer} = await fixture()
        const body = imageManifest(config, [layer], {'org.regshape.probe': 'invalid-tag'})
        const response = await context.send({body, headers: {'content-type': MediaType.OciManifest}, method: 'PUT', operation: 'manifest.put', path: urls.invalidTagProbe(context.repository)})
        if (response.status === 201) context.created.manifests.add(response.headers['docker-content-digest']?.[0] ?? digestOf(body))
        return judge(response, {statuses: [400, 404]})
      },
    },
    {
      expected: '404',
      name: 'blob-head-unknown',
      request: 'HEAD of a blob no one pushed',
      async run(context) {
        const response = await context.send({method: 'HEAD', operation: 'blob.head', path: urls.blob(context.repository, digestOf(randomBytes(32)))})
        return judge(response, {statuses: [404]})
      },
    },
    {
      expected: '401',
      name: 'auth-missing',
      request: 'GET of the tag list without Authorization (skip_auth)',
      async run(context) {
        const response = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [builtinRules.skip_auth()])
        return authRequired(context, response, {statuses: [401]})
      },
    },
    {
      expected: '401',
      name: 'auth-expired-token',
      request: 'GET of the tag list with a Bearer token that expired in 2001 (expired_token)',
      async run(context) {
        const response = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(context.repository)}, [builtinRules.expired_token({match: {operation: ['tag.list']}})])
        return authRequired(context, response, {statuses: [401]})
      },
    },
    {
      expected: '200 (a bounded page) or 400 PAGINATION_NUMBER_INVALID',
      name: 'catalog-huge-n',
      request: `GET of the catalog with n=${CATALOG_N} (query replace, CVE-2023-2253)`,
      async run(context) {
        const rule: BreakRule = {action: 'replace', key: 'n', match: {operation: ['catalog.list']}, name: 'huge n', target: 'query', value: String(CATALOG_N)}
        const response = await context.send({method: 'GET', operation: 'catalog.list', path: urls.catalog({n: 10}), scope: 'registry:catalog:*'}, [rule])
        if (response.status === 401 || response.status === 403) return {detail: 'these credentials may not list the catalog', got: answer(response), verdict: 'skip'}
        if (response.status === 200) {
          let count = Number.NaN
          try {
            count = ((JSON.parse(response.body.toString('utf8')) as {repositories?: unknown[]}).repositories ?? []).length
          } catch {}

          return Number.isFinite(count) ? {detail: `${count} repositories in the page`, got: answer(response), verdict: 'pass'} : {detail: 'the 200 is not a catalog', got: answer(response), verdict: 'fail'}
        }

        return judge(response, {codes: ['PAGINATION_NUMBER_INVALID'], statuses: [400]})
      },
    },
    {
      expected: '202 (an upload session, not a mount) or 401/403/404',
      name: 'blob-mount-unreadable',
      request: 'POST mount= of a blob from a repository these credentials cannot read',
      async run(context) {
        const {layer} = await fixture()
        const from = `${context.repository}-probe-unreadable-${randomBytes(4).toString('hex')}`
        const scope = `${repositoryScope(context.repository, ['pull', 'push'])} ${repositoryScope(from, ['pull'])}`
        const response = await context.send({method: 'POST', operation: 'blob.mount', path: urls.uploads(context.repository, {from, mount: layer.digest}), scope})
        if (response.status === 202) await context.cancel(context.sessionPath(response))
        if (response.status === 201) return {detail: 'the registry mounted a blob from a repository that does not exist for these credentials', got: answer(response), verdict: 'fail'}
        return judge(response, {statuses: [202, 401, 403, 404]})
      },
    },
  ]
}

export const PROBE_CASES = catalogue(async () => {
  throw new Error('no fixture')
}).map(({expected, name, request}) => ({expected, name, request}))

/** Runs the cases (all, or those named) against `repository`, then removes what was pushed. */
export async function runProbe(access: RegistryConnection, repository: string, stage: ProbeStage, only?: string[]): Promise<ProbeReport> {
  const context = new ProbeContext(access, repository, stage)
  // A plain read first: does the registry want credentials at all, and does the repository answer?
  const first = await context.send({method: 'GET', operation: 'tag.list', path: urls.tags(repository)})
  context.challenged = first.challenged
  let fixture: Promise<Fixture> | undefined
  const getFixture = () => {
    fixture ??= (async () => {
      const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: [], type: 'layers'}, 'org.regshape.probe': randomBytes(8).toString('hex')}))
      const layer = randomBytes(1024)
      return {config: {digest: await context.pushBlob(config), size: config.length}, layer: {digest: await context.pushBlob(layer), size: layer.length}}
    })()
    return fixture
  }

  const results: CaseResult[] = []
  for (const probeCase of catalogue(getFixture)) {
    if (only && !only.includes(probeCase.name)) continue
    stage.mutations = []
    let outcome: Omit<CaseResult, 'expected' | 'mutations' | 'name' | 'request'>
    try {
      outcome = await probeCase.run(context)
    } catch (error) {
      outcome = {detail: (error as Error).message, verdict: error instanceof OffOrigin ? 'skip' : 'fail'}
    }

    results.push({expected: probeCase.expected, mutations: [...stage.mutations], name: probeCase.name, request: probeCase.request, ...outcome})
  }

  const cleanup = await removeCreated(context)
  return {
    cases: results,
    cleanup,
    failed: results.filter((r) => r.verdict === 'fail').length,
    passed: results.filter((r) => r.verdict === 'pass').length,
    repository,
    skipped: results.filter((r) => r.verdict === 'skip').length,
  }
}

async function removeCreated(context: ProbeContext): Promise<ProbeReport['cleanup']> {
  const removed: string[] = []
  const left: Array<{problem: string; what: string}> = []
  const remove = async (what: string, request: Omit<LabelledRequest, 'scope'>) => {
    try {
      const response = await context.send({...request, scope: repositoryScope(context.repository, ['delete'])})
      if (response.status === 202 || response.status === 200 || response.status === 404) removed.push(what)
      else left.push({problem: `HTTP ${response.status}${codeText(response)}`, what})
    } catch (error) {
      left.push({problem: (error as Error).message, what})
    }
  }

  for (const digest of context.created.manifests) await remove(`manifest ${digest}`, {method: 'DELETE', operation: 'manifest.delete', path: urls.manifest(context.repository, digest)})
  for (const digest of context.created.blobs) await remove(`blob ${digest}`, {method: 'DELETE', operation: 'blob.delete', path: urls.blob(context.repository, digest)})
  return {left, removed}
}
