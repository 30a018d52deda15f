import type {RegistryRef} from '../reference/registry.js'
import type {CredentialsProvider} from '../transport/auth.js'
import type {HttpResponse} from '../transport/http.js'
import type {RegistryRequest, RegistryResponse, RegistryStreamResponse, Transport} from '../transport/transport.js'

import {NetworkError, ProtocolError, RegshapeError, withContext} from '../errors.js'
import {isBreak} from '../transport/retry.js'
import {registryGuard} from '../transport/addresses.js'
import {terminalSafe} from '../util/text.js'
import {nestsDeeperThan} from '../content/json-text.js'
import {tooDeep} from '../content/manifest.js'
import {RegistryApiError} from './api-error.js'

/** A request with the label telemetry and break mode know it by (`tag.list`, `manifest.get`, …). */
export type LabelledRequest = RegistryRequest & {operation: string}

/** distribution's manifest size limit, which regshape applies to what it reads too. */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024

/** Operations whose answer is a manifest or an index: a body over the cap is named as such. */
const MANIFEST_OPERATIONS = new Set(['manifest.get', 'manifest.head', 'referrers.list', 'referrers.tag'])

/**
 * One registry as the registry layer reaches it: a transport, the registry, and the credentials
 * for it (asked for only when the registry asks). Every request of Repository, Registry and the
 * upload and manifest writers goes through `send`, which names a failure with what was being
 * done (`manifest get host/repo:tag: …`), or `open` for a body left streaming.
 */
export class RegistryConnection {
  constructor(
    readonly transport: Transport,
    readonly registry: RegistryRef,
    private readonly credentials: CredentialsProvider = async () => undefined,
    /** The transport was made for this connection alone: close() closes it. */
    private readonly ownsTransport = false,
  ) {}

  /** Lets the process exit: closes the idle connections of a transport this connection owns. */
  close(): void {
    if (this.ownsTransport) this.transport.close()
  }

  /** scheme://host:port of the registry, as the transport talks to it (known after a first request). */
  origin(): string {
    return new URL(this.transport.registryUrl(this.registry, '/')).origin
  }

  /** A request as it is, its failures unchanged (probe judges them itself). */
  request(request: LabelledRequest): Promise<RegistryResponse> {
    return this.transport.request(this.registry, request, this.credentials)
  }

  /** A request whose failures are named with `what`; its body is read whole (capped). */
  async send(what: string, request: LabelledRequest): Promise<RegistryResponse> {
    try {
      return await this.request(request)
    } catch (error) {
      throw named(error, what, request)
    }
  }

  /** The same request with its body left streaming (blobs): the caller consumes or destroys it. */
  async open(what: string, request: LabelledRequest): Promise<RegistryStreamResponse> {
    try {
      return await this.transport.stream(this.registry, request, this.credentials)
    } catch (error) {
      throw named(error, what, request)
    }
  }

  /**
   * A request to a URL a registry handed over (an upload session's Location). On the registry's
   * host (whatever scheme the Location spells: a registry behind a TLS proxy may write http://),
   * it is a registry request with the registry's credentials, on the scheme this process uses;
   * elsewhere, it goes without credentials, and never to a link-local or metadata address.
   */
  async to(url: string, what: string, request: Omit<LabelledRequest, 'path'>): Promise<HttpResponse & {authScheme?: string; renewed?: boolean}> {
    const target = new URL(url)
    const registry = new URL(this.origin())
    if (target.host === registry.host) return this.send(what, {...request, path: `${target.pathname}${target.search}`})
    try {
      return await this.transport.send({...request, guard: {...registryGuard(this.registry), what: "the registry's upload Location"}, url})
    } catch (error) {
      throw named(error, what, request)
    }
  }

  /** `location` resolved against `base` (the URL that answered), or a one-line error. */
  resolve(location: string, base: string): string {
    try {
      return new URL(location, base).toString()
    } catch {
      throw new ProtocolError(`the upload Location ${terminalSafe(location)} is not a URL`)
    }
  }
}

/** Failures of a body that another request from the same byte may get past: the network's, not the content's. */
export function isNetworkBreak(error: unknown): boolean {
  // A failure named with what was asked for (withContext) carries the network's error as its cause.
  for (let cause = error, depth = 0; cause !== undefined && depth < 4; cause = (cause as {cause?: unknown}).cause, depth++) {
    if (isBreak(cause)) return cause instanceof NetworkError || !(cause instanceof ProtocolError)
    if (cause instanceof ProtocolError && !(cause instanceof NetworkError)) return false
  }

  return false
}

/** The first value of a response header (names are lower-case). */
export function header(response: {headers: Record<string, string[]>}, name: string): string | undefined {
  return response.headers[name]?.[0]
}

/** A registry's JSON answer (a list, an index): an object, not nested deeper than regshape reads. */
export function parseJsonAnswer(body: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown
  const text = body.toString('utf8')
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ProtocolError(`${what}: the registry's answer is not JSON`)
  }

  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ProtocolError(`${what}: the registry's answer is not a JSON object`)
  if (nestsDeeperThan(text)) throw new ProtocolError(`${what}: ${tooDeep("registry's answer")}`)
  return parsed as Record<string, unknown>
}

/**
 * A transport failure named with what was asked for. A registry's own error answer already names
 * it; a body over the cap of a manifest read is restated as distribution's manifest limit.
 */
function named(error: unknown, what: string, request: LabelledRequest | Omit<LabelledRequest, 'path'>): Error {
  if (!(error instanceof RegshapeError) || error instanceof RegistryApiError) return error as Error
  if (error.kind === 'size-limit' && MANIFEST_OPERATIONS.has(request.operation)) {
    return new ProtocolError(`${what}: the manifest is larger than 4 MiB (${MANIFEST_MAX_BYTES} bytes), distribution's limit for manifests; refused`, {cause: error, kind: 'size-limit'})
  }

  return withContext(error, what)
}
