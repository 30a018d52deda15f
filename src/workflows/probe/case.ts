import type {RegistryResponse} from '../../transport/transport.js'
import type {Mutation} from '../../break/rules.js'

import {createHash} from 'node:crypto'

import {ociErrorCode} from '../../break/session.js'

/**
 * `regshape probe`: the registry conformance and security suite. Each case names the spec section
 * it checks and its level (MUST, SHOULD, MAY), sends its requests to a scratch repository the user
 * names, and reports what the registry did. Cases that change a correct request on purpose do it
 * with a break-mode rule, so each is the same mutation a `--break-rules` file can make. The probe
 * cleans up what it pushed, and talks only to the registry it was given.
 */

export type Verdict = 'fail' | 'pass' | 'skip'

/** RFC 2119's words, as the spec uses them: only a MUST case that fails makes the run fail. */
export type Level = 'MAY' | 'MUST' | 'SHOULD'
export const LEVELS: readonly Level[] = ['MUST', 'SHOULD', 'MAY']

/** The areas of the catalogue, in the order the report lists them. */
export const AREAS = ['pull', 'push', 'discovery', 'management', 'refusals', 'auth', 'robustness'] as const
export type Area = (typeof AREAS)[number]

export const AREA_TITLES: Record<Area, string> = {
  auth: 'Auth',
  discovery: 'Content discovery',
  management: 'Content management',
  pull: 'Pull',
  push: 'Push',
  refusals: 'Refusals',
  robustness: 'Robustness',
}

/** Where the requirement is written. */
export interface SpecRef {
  section: string
  url: string
}

export interface Got {
  code?: string
  status: number
}

/** What one case found. */
export interface Outcome {
  /** A skip because the registry has switched the feature off (deletes answering 405): not a failure. */
  disabled?: boolean
  /** Why the verdict, in words (a skip's reason, a failure's detail, a pass's finding). */
  detail?: string
  /** What the registry answered: status and OCI error code. */
  got?: Got
  verdict: Verdict
}

export interface CaseResult extends Outcome {
  area: Area
  durationMs: number
  expected: string
  level: Level
  /** The break-mode changes the case made, as a --break report would list them. */
  mutations: Mutation[]
  name: string
  /** The plugin that added the case (its npm name); absent for built-in cases. */
  plugin?: string
  request: string
  spec: SpecRef
}

export interface Tally {
  failed: number
  passed: number
  skipped: number
}

export interface ProbeReport extends Tally {
  /** Per area and per level, what passed, failed and was skipped. */
  areas: Partial<Record<Area, Tally>>
  cases: CaseResult[]
  cleanup: {left: Array<{problem: string; what: string}>; removed: string[]}
  durationMs: number
  levels: Partial<Record<Level, Tally>>
  /** Only reads, of content already there (--read-only). */
  readOnly: boolean
  repository: string
}

export interface Expectation {
  codes?: string[]
  /** A registry may answer a 4xx in any format: only when it sends an OCI error body must its code be one of `codes`. */
  codesIfAny?: boolean
  statuses: number[]
}

/** A case's verdict, thrown from anywhere in its steps. */
export class CaseEnd extends Error {
  constructor(readonly outcome: Outcome) {
    super(outcome.detail ?? outcome.verdict)
  }
}

export function fail(detail: string, response?: RegistryResponse): never {
  throw new CaseEnd({detail, got: response && answer(response), verdict: 'fail'})
}

export function skip(detail: string, response?: RegistryResponse): never {
  throw new CaseEnd({detail, got: response && answer(response), verdict: 'skip'})
}

/** The step must have been answered as expected, or the case fails there. */
export function need(response: RegistryResponse, statuses: number[], what?: string): void {
  if (!statuses.includes(response.status)) fail(`${what ? `${what}: ` : ''}expected ${statuses.join(' or ')}, got ${response.status}${codeText(response)}`, response)
}

export function pass(response?: RegistryResponse, detail?: string): Outcome {
  return {detail, got: response && answer(response), verdict: 'pass'}
}

export function digestOf(bytes: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`
}

export function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

export function codeText(response: RegistryResponse): string {
  const code = ociErrorCode(response.body)
  return code ? ` ${code}` : ''
}

export function answer(response: RegistryResponse): Got {
  const code = response.status >= 400 ? ociErrorCode(response.body) : undefined
  return code === undefined ? {status: response.status} : {code, status: response.status}
}

/** The first value of a response header. */
export function header(response: RegistryResponse, name: string): string | undefined {
  return response.headers[name]?.[0]
}

export function judge(response: RegistryResponse, expected: Expectation): Outcome {
  const got = answer(response)
  const statusOk = expected.statuses.includes(got.status)
  const codeOk = !expected.codes || (got.code === undefined ? expected.codesIfAny === true : expected.codes.includes(got.code))
  if (statusOk && codeOk) return {got, verdict: 'pass'}
  return {detail: `expected ${describe(expected, ' or ')}`, got, verdict: 'fail'}
}

export function describe(expected: Expectation, or = '/'): string {
  const codes = expected.codes ? ` ${expected.codes.join(or)}` : ''
  return `${expected.statuses.join(or)}${expected.codesIfAny && codes ? ` (and, if it sends an error body,${codes})` : codes}`
}

/** The manifest size every registry must take and distribution enforces (registry.md §2). */
export const MANIFEST_LIMIT = 4 * 1024 * 1024
/** Past any page size a registry allows, yet small enough that a registry which allocates n entries up front (CVE-2023-2253) is not harmed. */
export const CATALOG_N = 100_000

// --- where the requirements are written ---------------------------------------------------------

const OCI = 'https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md'
const section = (title: string, anchor: string): SpecRef => ({section: `distribution-spec v1.1.1: ${title}`, url: `${OCI}#${anchor}`})

/** The sections of the distribution spec (v1.1.1) and the other texts the cases cite. */
export const SPEC = {
  blobs: section('Pulling blobs', 'pulling-blobs'),
  chunked: section('Pushing a blob in chunks', 'pushing-a-blob-in-chunks'),
  deleteBlobs: section('Deleting Blobs', 'deleting-blobs'),
  deleteManifests: section('Deleting Manifests', 'deleting-manifests'),
  deleteTags: section('Deleting tags', 'deleting-tags'),
  endpoints: section('Endpoints', 'endpoints'),
  errorCodes: section('Error Codes', 'error-codes'),
  exists: section('Checking if content exists in the registry', 'checking-if-content-exists-in-the-registry'),
  manifests: section('Pulling manifests', 'pulling-manifests'),
  monolithic: section('POST then PUT', 'post-then-put'),
  mount: section('Mounting a blob from another repository', 'mounting-a-blob-from-another-repository'),
  pushBlobs: section('Pushing blobs', 'pushing-blobs'),
  pushManifests: section('Pushing Manifests', 'pushing-manifests'),
  push: section('Push', 'push'),
  referrers: section('Listing Referrers', 'listing-referrers'),
  referrersTag: section('Referrers Tag Schema', 'referrers-tag-schema'),
  singlePost: section('Single POST', 'single-post'),
  subject: section('Pushing Manifests with Subject', 'pushing-manifests-with-subject'),
  support: section('Determining Support', 'determining-support'),
  tags: section('Listing Tags', 'listing-tags'),
  cancel: {section: 'distribution-spec (main): Cancel a blob upload', url: 'https://github.com/opencontainers/distribution-spec/blob/main/spec.md#cancel-a-blob-upload'},
  tagsMain: {section: 'distribution-spec (main): Listing Tags', url: 'https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags'},
  range: {section: 'RFC 9110 §14: Range Requests', url: 'https://www.rfc-editor.org/rfc/rfc9110#section-14'},
  rateLimit: {section: 'RFC 6585 §4: 429 Too Many Requests (and RFC 9110 §10.2.3: Retry-After)', url: 'https://www.rfc-editor.org/rfc/rfc6585#section-4'},
  token: {section: 'distribution token authentication', url: 'https://distribution.github.io/distribution/spec/auth/token/'},
  challenge: {section: 'RFC 9110 §11.6.1: WWW-Authenticate (and the token authentication flow)', url: 'https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1'},
  imageManifest: {section: 'image-spec v1.1.1: Image Manifest', url: 'https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md'},
  descriptor: {section: 'image-spec v1.1.1: Descriptors', url: 'https://github.com/opencontainers/image-spec/blob/v1.1.1/descriptor.md'},
  imageIndex: {section: 'image-spec v1.1.1: Image Index', url: 'https://github.com/opencontainers/image-spec/blob/v1.1.1/image-index.md'},
  rights: {section: 'distribution token authentication: the scopes a token grants', url: 'https://distribution.github.io/distribution/spec/auth/scope/'},
  catalog: {section: 'distribution: Listing Repositories (CVE-2023-2253)', url: 'https://github.com/distribution/distribution/security/advisories/GHSA-hqxw-f8mx-cpmw'},
} satisfies Record<string, SpecRef>
