import type {RegistryRef} from '../../reference/registry.js'
import type {Tracer} from '../../telemetry/tracer.js'
import type {Exchange, Next, Reply, Stage} from '../pipeline.js'
import type {ProxySettings} from '../proxy.js'

import {InputError} from '../../errors.js'
import {registryGuard} from '../addresses.js'
import {proxyFor} from '../proxy.js'
import {TransportError, isLoopback, speaksTls} from '../tls.js'

/**
 * How long the TLS probe of an insecure or loopback registry waits for a handshake. A TLS server
 * answers a ClientHello in milliseconds; one that stays silent is taken for plain HTTP.
 */
const PROBE_TIMEOUT_MS = 2000

/**
 * A registry request becomes a URL here: `https://`, unless the reference said `http://` or the
 * registry is insecure (--insecure) or on loopback and does not speak TLS, which is learnt once
 * per process (a TLS probe, or a failed HTTPS attempt: docker's rule). Every registry request
 * carries the registry's address guard, so its redirects cannot reach metadata addresses.
 */
export class SchemeStage implements Stage {
  readonly name = 'scheme'
  /** The scheme that worked for each endpoint, so the probe happens once per process. */
  private readonly schemes = new Map<string, 'http' | 'https'>()

  constructor(
    private readonly options: {insecure?: boolean; proxy?: ProxySettings; timeoutMs: number},
    private readonly tracer: Tracer,
  ) {}

  /** The scheme this process settled on for a registry, or will try first. */
  schemeOf(ref: RegistryRef): 'http' | 'https' {
    return this.schemes.get(ref.endpoint) ?? ref.scheme ?? 'https'
  }

  /** The URL a registry path resolves to, with the scheme this process settled on. */
  registryUrl(ref: RegistryRef, path: string): string {
    return `${this.schemeOf(ref)}://${ref.endpoint}${path}`
  }

  async handle(exchange: Exchange, next: Next): Promise<Reply> {
    const target = exchange.registry
    if (!target) return next(exchange)
    const {ref} = target
    const headers = {...exchange.headers}
    if (target.authorization) headers.authorization = target.authorization.header
    const send = () => next({...exchange, guard: registryGuard(ref), headers, url: this.registryUrl(ref, target.path)})
    if (this.schemes.has(ref.endpoint)) return send()
    if (ref.scheme) {
      // The user said which: no probe, no fallback.
      if (ref.scheme === 'http' && !(this.options.insecure || isLoopback(ref.endpoint))) {
        throw new InputError(`plain HTTP to ${ref.endpoint} needs --insecure: credentials would cross the network unencrypted`)
      }

      this.schemes.set(ref.endpoint, ref.scheme)
      return send()
    }

    const lenient = this.options.insecure || isLoopback(ref.endpoint)
    // The probe connects directly; through a proxy, the HTTPS attempt below tells the same thing
    // (a tunnel to a plain-HTTP server fails its handshake, and the fallback follows).
    if (lenient && !proxyFor(this.options.proxy, new URL(`https://${ref.endpoint}/`))) {
      const answer = await this.tracer.method(`tls probe ${ref.endpoint}`, () => speaksTls(ref.endpoint, Math.min(PROBE_TIMEOUT_MS, this.options.timeoutMs)))
      if (answer !== undefined) {
        this.schemes.set(ref.endpoint, answer ? 'https' : 'http')
        return send()
      }
    }

    try {
      const reply = await send()
      this.schemes.set(ref.endpoint, 'https')
      return reply
    } catch (error) {
      // Docker's rule for insecure and local registries: if the server does not speak TLS at all,
      // talk plain HTTP to it. A certificate that fails verification is never a reason to fall back.
      if (!lenient || !(error instanceof TransportError) || !error.notTls) throw error
      this.schemes.set(ref.endpoint, 'http')
      return send()
    }
  }
}
