import type {RegistryResponse} from '../../transport/transport.js'
import type {Mutation} from '../../break/rules.js'

import {createHash} from 'node:crypto'

import {ociErrorCode} from '../../break/session.js'
import {MediaType} from '../../content/media-types.js'

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

export interface Expectation {
  codes?: string[]
  statuses: number[]
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

export function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

export function codeText(response: RegistryResponse): string {
  const code = ociErrorCode(response.body)
  return code ? ` ${code}` : ''
}

export function answer(response: RegistryResponse): {code?: string; status: number} {
  return {code: response.status >= 400 ? ociErrorCode(response.body) : undefined, status: response.status}
}

export function judge(response: RegistryResponse, expected: Expectation): Omit<CaseResult, 'expected' | 'mutations' | 'name' | 'request'> {
  const got = answer(response)
  const statusOk = expected.statuses.includes(got.status)
  const codeOk = !expected.codes || (got.code !== undefined && expected.codes.includes(got.code))
  if (statusOk && codeOk) return {got, verdict: 'pass'}
  const wanted = `${expected.statuses.join(' or ')}${expected.codes ? ` ${expected.codes.join(' or ')}` : ''}`
  return {detail: `expected ${wanted}`, got, verdict: 'fail'}
}

export function describe(expected: Expectation): string {
  return `${expected.statuses.join('/')}${expected.codes ? ` ${expected.codes.join('/')}` : ''}`
}

export function imageManifest(config: {digest: string; size: number}, layers: Array<{digest: string; size: number}>, annotations?: Record<string, string>): Buffer {
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
export const MANIFEST_LIMIT = 4 * 1024 * 1024
/** Past any page size a registry allows, yet small enough that a registry which allocates n entries up front (CVE-2023-2253) is not harmed. */
export const CATALOG_N = 100_000

