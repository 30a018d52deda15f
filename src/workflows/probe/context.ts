import type {BreakRule, Mutation} from '../../break/rules.js'
import type {BreakStage} from '../../break/session.js'
import type {LabelledRequest, RegistryConnection} from '../../registry/connection.js'
import type {HttpRequest} from '../../transport/http.js'
import type {RegistryResponse} from '../../transport/transport.js'

import {RuleSet} from '../../break/rules.js'
import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {type CaseResult, codeText, digestOf, withDigest} from './case.js'

export interface ProbeCase {
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

export class OffOrigin extends Error {}

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

