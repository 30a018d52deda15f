import type {BreakStage} from '../break/session.js'
import type {RegistryRef} from '../reference/registry.js'

import {terminalSafe} from '../util/text.js'
import {ContainersAuthFile, containersAuthPath} from '../credentials/containers-auth.js'
import {CredentialStore} from '../credentials/credential-store.js'
import {DockerConfigFile, resolveDockerConfigPath} from '../credentials/docker-config.js'
import {CredentialResolver} from '../credentials/resolve.js'
import {rememberSecret, scrubSecrets} from '../util/secrets.js'
import {type Prompter, TerminalPrompter} from './prompt.js'
import type {Tracer} from '../telemetry/tracer.js'
import type {RateLimitedWait, Transport} from '../transport/transport.js'

/**
 * Services are built lazily, per command run, from the shared flags, through one replaceable
 * factory: a test swaps in fakes, a plugin can wrap the defaults. Nothing here is constructed, and
 * no heavy module is imported, until a command asks for it.
 */

export interface ServiceOptions {
  /** Break mode's rules (--break), for the registry client. */
  breakStage?: BreakStage
  caFile?: string
  /** --docker-config */
  dockerConfig?: string
  env: NodeJS.ProcessEnv
  insecure: boolean
  /** Telemetry, when a telemetry flag is given. */
  tracer?: Tracer
  /** --password: only used, with --username, as the first link of the resolution chain. */
  password?: string
  /** --retries: retries after the first attempt of a registry request (default 3). */
  retries?: number
  timeoutMs?: number
  userAgent: string
  /** --username */
  username?: string
}

export interface Services {
  close(): Promise<void>
  credentialResolver(): CredentialResolver
  credentialStore(): CredentialStore
  /** The containers tools' auth.json (read only), when a path applies. Optional for plugins' factories. */
  containersAuthFile?(): ContainersAuthFile | undefined
  dockerConfigFile(): DockerConfigFile
  readonly options: ServiceOptions
  prompter(): Prompter
  transport(): Promise<Transport>
}

export type ServiceFactory = (options: ServiceOptions) => Services

export class DefaultServices implements Services {
  private client?: Promise<Transport>
  private containersAuth?: ContainersAuthFile | null
  private configFile?: DockerConfigFile
  private resolver?: CredentialResolver
  private store?: CredentialStore
  private terminal?: Prompter

  constructor(readonly options: ServiceOptions) {}

  async close(): Promise<void> {
    if (this.client) (await this.client.catch(() => undefined))?.close()
  }

  credentialResolver(): CredentialResolver {
    this.resolver ??= new CredentialResolver(this.credentialStore(), {password: this.options.password, username: this.options.username}, this.containersAuthFile())
    return this.resolver
  }

  credentialStore(): CredentialStore {
    this.store ??= new CredentialStore(this.dockerConfigFile(), {
      helperOptions: {env: this.options.env, timeoutMs: this.options.timeoutMs},
      tracer: this.options.tracer,
    })
    return this.store
  }

  /** The containers tools' auth.json, read only; undefined where no path applies. */
  containersAuthFile(): ContainersAuthFile | undefined {
    if (this.containersAuth === undefined) {
      const path = containersAuthPath(this.options.env)
      this.containersAuth = path ? new ContainersAuthFile(path) : null
    }

    return this.containersAuth ?? undefined
  }

  dockerConfigFile(): DockerConfigFile {
    this.configFile ??= new DockerConfigFile(resolveDockerConfigPath({env: this.options.env, flag: this.options.dockerConfig}), this.options.tracer)
    return this.configFile
  }

  prompter(): Prompter {
    this.terminal ??= new TerminalPrompter()
    return this.terminal
  }

  transport(): Promise<Transport> {
    this.client ??= import('../transport/transport.js').then(async ({Transport}) => {
      const client = await Transport.fromEnvironment({
        breakStage: this.options.breakStage,
        caFile: this.options.caFile,
        env: this.options.env,
        insecure: this.options.insecure,
        onRateLimited: (wait) => process.stderr.write(`${terminalSafe(scrubSecrets(rateLimitedLine(wait)))}\n`),
        retries: this.options.retries,
        tracer: this.options.tracer,
        timeoutMs: this.options.timeoutMs,
        userAgent: this.options.userAgent,
      })
      client.auth.onRefreshTokenRotated = (ref, spent, credentials) => this.storeRotatedToken(ref, spent, credentials.identityToken as string)
      return client
    })
    return this.client
  }

  /**
   * A token server that rotates refresh tokens has just revoked the stored one: its successor is
   * stored, as docker keeps it. If that fails the command still has its token for this run, so it
   * goes on, and the user is told the stored login is now spent.
   */
  private async storeRotatedToken(ref: RegistryRef, spent: string, replacement: string): Promise<void> {
    rememberSecret(replacement)
    try {
      await this.credentialStore().replaceIdentityToken(ref, spent, replacement)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      process.stderr.write(`${terminalSafe(scrubSecrets(`WARNING! ${ref.input}'s token server replaced the stored identity token, and the new one could not be stored (${reason}): log in again.`))}\n`)
    }
  }
}

/** The line a wait on a 429 shows on stderr. */
export function rateLimitedLine(wait: RateLimitedWait): string {
  const seconds = wait.waitMs / 1000
  const after = wait.retryAfter === undefined ? '' : `, Retry-After: ${wait.retryAfter}`
  return `Rate limited: ${wait.operation ? `${wait.operation} ` : ''}${wait.request} answered 429 Too Many Requests${after}; waiting ${seconds < 10 ? seconds.toFixed(1) : seconds.toFixed(0)} s before retry ${wait.attempt} of ${wait.of}`
}

const defaultFactory: ServiceFactory = (options) => new DefaultServices(options)
let currentFactory: ServiceFactory = defaultFactory

/** The factory RegshapeCommand builds its services with. */
export function createServices(options: ServiceOptions): Services {
  return currentFactory(options)
}

/** Replaces the factory (tests, plugins); returns a function that puts the previous one back. */
export function setServiceFactory(factory: ServiceFactory): () => void {
  const previous = currentFactory
  currentFactory = factory
  return () => {
    currentFactory = previous
  }
}
