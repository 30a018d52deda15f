import type {BreakRule, Mutation} from '../../break/rules.js'
import type {BreakStage} from '../../break/session.js'
import type {LabelledRequest, RegistryConnection} from '../../registry/connection.js'
import type {CredentialsProvider} from '../../transport/auth.js'
import type {HttpRequest} from '../../transport/http.js'
import type {RegistryResponse, RegistryStreamResponse} from '../../transport/transport.js'

import {randomBytes} from 'node:crypto'

import {RuleSet} from '../../break/rules.js'
import {MANIFEST_ACCEPT, MediaType, baseMediaType} from '../../content/media-types.js'
import {type Challenge, parseChallenges} from '../../transport/challenge.js'
import {repositoryScope} from '../../reference/scope.js'
import {urls} from '../../registry/urls.js'
import {type Area, CaseEnd, type Level, type Outcome, type SpecRef, codeText, digestOf, header, withDigest} from './case.js'

/** One case of the catalogue (or a plugin's). */
export interface ProbeCase {
  area: Area
  /** What the spec requires, in words. */
  expected: string
  level: Level
  name: string
  /** The npm name of the plugin that added it. */
  plugin?: string
  /** What is sent, in words. */
  request: string
  run(context: ProbeContext): Promise<Outcome>
  spec: SpecRef
  /** Whether it writes to the registry: such a case is skipped under --read-only. */
  writes: boolean
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
    if (rules.length === 0) return operation()
    this.rules = new RuleSet(rules)
    try {
      return await operation()
    } finally {
      this.rules = undefined
    }
  }
}

/** A case that cannot go on because the registry sent it elsewhere, or would not set it up: a skip. */
export class OffOrigin extends Error {}

export interface BlobRef {
  bytes: Buffer
  digest: string
  mediaType: string
  size: number
}

export interface ManifestRef {
  bytes: Buffer
  digest: string
  mediaType: string
  /** The tag it is under, if any (a read-only image named by digest has none). */
  tag?: string
}

/** The content the pull, discovery and management cases read: pushed once per run, or the --image of a read-only run. */
export interface Fixture {
  config: BlobRef
  /** The largest layer: the Range cases cut it. */
  layer: BlobRef
  manifest: ManifestRef
}

export type Variant = 'docker-list' | 'docker-manifest' | 'oci-index' | 'oci-manifest'

export interface ProbeSettings {
  /** The user's credentials for the registry (the auth cases ask a token server with them). */
  credentials: CredentialsProvider
  /** The image a read-only run reads (`repo:tag` or `repo@digest` on the registry probed). */
  image?: {reference: string; repository: string}
  /** Bytes of the large blob the robustness area round-trips. */
  largeBlobBytes: number
  /** The repository the mount cases mount from (written to, and cleaned, like the scratch one). */
  mountSource: string
  /** Only reads (--read-only). */
  readOnly: boolean
  /** The read-only identity (--reader-username), as its own connection. */
  reader?: RegistryConnection
}

/** What a case touches, so that the end of the run removes it. */
interface Created {
  blobs: Map<string, Set<string>>
  manifests: Array<{digest: string; repository: string}>
}

export class ProbeContext {
  /** Whether the registry asked for credentials for a plain read: without, the auth cases have nothing to test. */
  challenged = false
  readonly created: Created = {blobs: new Map(), manifests: []}
  /** Tags of this run start with it: a scratch repository may hold other runs' leftovers. */
  readonly runId = `p${randomBytes(4).toString('hex')}`
  private challengeAnswer?: Promise<RegistryResponse>
  private fixturePromise?: Promise<Fixture>
  private readonly pull: string
  private readonly push: string
  private readerPull?: Promise<RegistryResponse>
  private referrersAnswer?: Promise<RegistryResponse>
  private readonly variants = new Map<Variant, Promise<ManifestRef>>()

  constructor(
    readonly access: RegistryConnection,
    readonly repository: string,
    readonly stage: ProbeStage,
    readonly settings: ProbeSettings,
  ) {
    this.pull = repositoryScope(repository, ['pull'])
    this.push = repositoryScope(repository, ['pull', 'push'])
  }

  get readOnly(): boolean {
    return this.settings.readOnly
  }

  /** A request to the registry, with the scope its method needs unless it names one, and `rules` applied. */
  send(request: Omit<LabelledRequest, 'scope'> & {scope?: string}, rules: BreakRule[] = [], connection: RegistryConnection = this.access): Promise<RegistryResponse> {
    const scope = request.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? this.pull : this.push)
    return this.stage.with(rules, () => connection.request({...request, scope}))
  }

  /** The same request with its body left streaming (the caller reads or destroys it). */
  open(request: Omit<LabelledRequest, 'scope'> & {scope?: string}): Promise<RegistryStreamResponse> {
    const scope = request.scope ?? this.pull
    return this.access.transport.stream(this.access.registry, {...request, scope}, this.settings.credentials)
  }

  /** The same request as the read-only identity; a case without one is a skip. */
  async asReader(request: Omit<LabelledRequest, 'scope'> & {scope?: string}): Promise<RegistryResponse> {
    const {reader} = this.settings
    if (!reader) throw new CaseEnd({detail: 'no read-only identity given (--reader-username, --reader-password)', verdict: 'skip'})
    if (!this.challenged) throw new CaseEnd({detail: 'the registry asks no credentials for reads: it knows no identities to refuse', verdict: 'skip'})
    // The reader must be taken for what it may do, or every refusal below proves nothing.
    this.readerPull ??= this.send({method: 'GET', operation: 'tag.list', path: urls.tags(this.repository)}, [], reader)
    const pulled = await this.readerPull
    if (pulled.status === 401 || pulled.status === 403) {
      throw new CaseEnd({detail: `the read-only identity may not even read ${this.repository} (HTTP ${pulled.status}${codeText(pulled)}): check --reader-username`, verdict: 'skip'})
    }

    return this.send(request, [], reader)
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

  async startSession(repository = this.repository, query = ''): Promise<string> {
    const response = await this.send({headers: {'content-length': '0'}, method: 'POST', operation: 'blob.upload', path: `${urls.uploads(repository)}${query}`, scope: this.pushScope(repository)})
    if (response.status !== 202) throw new OffOrigin(`could not open an upload session: HTTP ${response.status}${codeText(response)}`)
    return this.sessionPath(response)
  }

  /** A blob pushed the correct way (POST, then PUT with its digest), kept for the cases and removed at the end. */
  async pushBlob(bytes: Buffer, options: {algorithm?: 'sha256' | 'sha512'; repository?: string} = {}): Promise<string> {
    const repository = options.repository ?? this.repository
    const digest = digestOf(bytes, options.algorithm)
    const session = await this.startSession(repository)
    const response = await this.send({body: bytes, headers: {'content-type': 'application/octet-stream'}, method: 'PUT', operation: 'blob.upload', path: withDigest(session, digest), scope: this.pushScope(repository)})
    if (response.status !== 201) throw new OffOrigin(`could not push a blob to set up the case: HTTP ${response.status}${codeText(response)}`)
    this.createdBlob(digest, repository)
    return digest
  }

  /** Records a blob the registry took, whichever way, for the cleanup. */
  createdBlob(digest: string, repository = this.repository): void {
    const set = this.created.blobs.get(repository) ?? new Set<string>()
    set.add(digest)
    this.created.blobs.set(repository, set)
  }

  /** PUTs a manifest; a 201 is recorded for the cleanup. */
  async putManifest(bytes: Buffer, mediaType: string, reference?: string, rules: BreakRule[] = []): Promise<RegistryResponse> {
    const digest = digestOf(bytes)
    const response = await this.send({body: bytes, headers: {'content-type': mediaType}, method: 'PUT', operation: 'manifest.put', path: urls.manifest(this.repository, reference ?? digest)}, rules)
    if (response.status === 201) this.createdManifest(header(response, 'docker-content-digest') ?? digest)
    return response
  }

  createdManifest(digest: string, repository = this.repository): void {
    if (!this.created.manifests.some((entry) => entry.digest === digest && entry.repository === repository)) this.created.manifests.push({digest, repository})
  }

  /** Cancels an upload session, as a client that gives up should; a failure here is no finding. */
  async cancel(session: string): Promise<void> {
    await this.send(this.cancelRequest(session)).catch(() => undefined)
  }

  /** The DELETE of an upload session: distribution asks for the delete right to cancel one. */
  cancelRequest(session: string): Omit<LabelledRequest, 'scope'> & {scope: string} {
    return {headers: {'content-length': '0'}, method: 'DELETE', operation: 'blob.upload', path: session, scope: repositoryScope(this.repository, ['pull', 'push', 'delete'])}
  }

  pushScope(repository: string): string {
    return repositoryScope(repository, ['pull', 'push'])
  }

  /** The registry's answer to GET /v2/ without credentials (its challenge), asked once. */
  unauthenticated(): Promise<RegistryResponse> {
    this.challengeAnswer ??= this.send({method: 'GET', operation: 'ping', path: urls.ping()}, [{action: 'remove', name: 'no credentials', target: 'auth'}])
    return this.challengeAnswer
  }

  /** The challenge the registry sends, or a skip when it asks for none. */
  async challenge(): Promise<Challenge> {
    if (!this.challenged) throw new CaseEnd({detail: 'the registry asks no credentials for reads', verdict: 'skip'})
    const response = await this.unauthenticated()
    const [first] = parseChallenges(response.headers['www-authenticate'])
    if (!first) throw new CaseEnd({detail: `GET /v2/ without credentials answered ${response.status} with no WWW-Authenticate challenge`, verdict: 'fail'})
    return parseChallenges(response.headers['www-authenticate']).find((c) => c.scheme === 'bearer') ?? first
  }

  /** The Bearer challenge, or a skip for a registry that takes Basic or nothing. */
  async bearer(): Promise<Challenge & {realm: URL}> {
    const challenge = await this.challenge()
    if (challenge.scheme !== 'bearer') throw new CaseEnd({detail: `the registry uses ${challenge.scheme} authentication, not tokens`, verdict: 'skip'})
    let realm: URL
    try {
      realm = new URL(challenge.params.realm ?? '')
    } catch {
      throw new CaseEnd({detail: 'the Bearer challenge names no realm URL', verdict: 'fail'})
    }

    return {...challenge, realm}
  }

  /** Whether the registry has the referrers API (a 404 means the tag schema), asked once of the fixture. */
  async referrersApi(): Promise<boolean> {
    const {manifest} = await this.fixture()
    this.referrersAnswer ??= this.send({headers: {accept: MediaType.OciIndex}, method: 'GET', operation: 'referrers.list', path: urls.referrers(this.repository, manifest.digest)})
    return (await this.referrersAnswer).status !== 404
  }

  // --- the content the cases read --------------------------------------------------------------

  fixture(): Promise<Fixture> {
    this.fixturePromise ??= this.settings.image ? this.readImage(this.settings.image.reference) : this.pushImage()
    // A fixture that could not be set up ends every case that needs it, as a failure of its own.
    return this.fixturePromise.catch((error: unknown) => {
      if (error instanceof CaseEnd) throw error
      throw new CaseEnd({detail: `could not set up the content the case reads: ${(error as Error).message}`, verdict: 'fail'})
    })
  }

  /** The fixture as another manifest type (Accept negotiation): pushed on first use, or a skip under --read-only when the image is not of that type. */
  async variant(kind: Variant): Promise<ManifestRef> {
    const fixture = await this.fixture()
    if (kind === 'oci-manifest' && fixture.manifest.mediaType === MediaType.OciManifest) return fixture.manifest
    if (this.readOnly) {
      if (VARIANT_TYPES[kind] === fixture.manifest.mediaType) return fixture.manifest
      throw new CaseEnd({detail: `--read-only: the image is ${fixture.manifest.mediaType}, so there is no ${VARIANT_TYPES[kind]} to ask for`, verdict: 'skip'})
    }

    let pending = this.variants.get(kind)
    if (!pending) {
      pending = this.pushVariant(kind, fixture)
      this.variants.set(kind, pending)
    }

    return pending
  }

  private async pushVariant(kind: Variant, fixture: Fixture): Promise<ManifestRef> {
    let bytes: Buffer
    const mediaType = VARIANT_TYPES[kind]
    if (kind === 'docker-manifest') {
      const configBytes = Buffer.from(JSON.stringify({architecture: 'amd64', config: {}, os: 'linux', rootfs: {diff_ids: [], type: 'layers'}, 'org.regshape.probe': this.runId}))
      const config = await this.pushBlob(configBytes)
      bytes = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: {mediaType: MediaType.DockerConfig, digest: config, size: configBytes.length},
        layers: [{mediaType: MediaType.DockerLayer, digest: fixture.layer.digest, size: fixture.layer.size}],
      }))
    } else {
      const child = kind === 'docker-list' ? await this.variant('docker-manifest') : fixture.manifest
      bytes = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: [{mediaType: child.mediaType, digest: child.digest, size: child.bytes.length, platform: {architecture: 'amd64', os: 'linux'}}],
      }))
    }

    const tag = `${this.runId}-${kind}`
    const response = await this.putManifest(bytes, mediaType, tag)
    if (response.status !== 201) throw new CaseEnd({detail: `could not push the ${mediaType} to ask for: HTTP ${response.status}${codeText(response)}`, got: {status: response.status}, verdict: 'fail'})
    return {bytes, digest: digestOf(bytes), mediaType, tag}
  }

  private async pushImage(): Promise<Fixture> {
    const configBytes = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {diff_ids: [], type: 'layers'}, 'org.regshape.probe': this.runId}))
    // 4 KiB: long enough for every Range case (a middle part, a suffix, an open end).
    const layerBytes = randomBytes(4096)
    const [config, layer] = await Promise.all([this.pushBlob(configBytes), this.pushBlob(layerBytes)])
    const manifest = imageManifest({digest: config, size: configBytes.length}, [{digest: layer, size: layerBytes.length}])
    const tag = `${this.runId}-image`
    const response = await this.putManifest(manifest, MediaType.OciManifest, tag)
    if (response.status !== 201) throw new OffOrigin(`could not push the image the cases read: HTTP ${response.status}${codeText(response)}`)
    return {
      config: {bytes: configBytes, digest: config, mediaType: MediaType.OciConfig, size: configBytes.length},
      layer: {bytes: layerBytes, digest: layer, mediaType: MediaType.OciLayerGzip, size: layerBytes.length},
      manifest: {bytes: manifest, digest: digestOf(manifest), mediaType: MediaType.OciManifest, tag},
    }
  }

  /** --read-only: the image named, and the first manifest of an index, with its config and largest layer. */
  private async readImage(reference: string): Promise<Fixture> {
    const get = async (ref: string) => {
      const response = await this.send({headers: {accept: MANIFEST_ACCEPT}, maxBodyBytes: 4 * 1024 * 1024, method: 'GET', operation: 'manifest.get', path: urls.manifest(this.repository, ref)})
      if (response.status !== 200) throw new CaseEnd({detail: `--image ${this.repository}${ref.includes(':') ? '@' : ':'}${ref}: HTTP ${response.status}${codeText(response)}`, got: {status: response.status}, verdict: 'fail'})
      let parsed: ImageDocument
      try {
        parsed = JSON.parse(response.body.toString('utf8')) as ImageDocument
      } catch {
        throw new CaseEnd({detail: `--image: the manifest of ${ref} is not JSON`, verdict: 'fail'})
      }

      return {bytes: response.body, mediaType: parsed.mediaType ?? baseMediaType(header(response, 'content-type')) ?? '', parsed}
    }

    const top = await get(reference)
    let image = top
    if (Array.isArray(top.parsed.manifests)) {
      const first = top.parsed.manifests.find((entry) => typeof entry?.digest === 'string')
      if (!first) throw new CaseEnd({detail: '--image: the index lists no manifest', verdict: 'fail'})
      image = await get(first.digest as string)
    }

    const {config, layers = []} = image.parsed
    if (!config?.digest || !config.size) throw new CaseEnd({detail: '--image: the manifest has no config to read', verdict: 'fail'})
    const largest = [...layers].filter((entry) => entry?.digest && typeof entry.size === 'number').sort((a, b) => (b.size ?? 0) - (a.size ?? 0))[0] ?? config
    const blob = (descriptor: {digest?: string; mediaType?: string; size?: number}): BlobRef => ({bytes: Buffer.alloc(0), digest: descriptor.digest!, mediaType: descriptor.mediaType ?? '', size: descriptor.size!})
    return {
      config: blob(config),
      layer: blob(largest),
      manifest: {bytes: top.bytes, digest: reference.includes(':') ? reference : digestOf(top.bytes), mediaType: top.mediaType, tag: reference.includes(':') ? undefined : reference},
    }
  }
}

interface ImageDocument {
  config?: {digest?: string; mediaType?: string; size?: number}
  layers?: Array<{digest?: string; mediaType?: string; size?: number}>
  manifests?: Array<{digest?: unknown}>
  mediaType?: string
}

export const VARIANT_TYPES: Record<Variant, string> = {
  'docker-list': MediaType.DockerManifestList,
  'docker-manifest': MediaType.DockerManifest,
  'oci-index': MediaType.OciIndex,
  'oci-manifest': MediaType.OciManifest,
}

export function imageManifest(config: {digest: string; size: number}, layers: Array<{digest: string; size: number}>, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: {mediaType: MediaType.OciConfig, ...config},
      layers: layers.map((layer) => ({mediaType: MediaType.OciLayerGzip, ...layer})),
      ...extra,
    }),
  )
}
