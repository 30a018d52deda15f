import type {Tracer} from '../telemetry/tracer.js'
import type {CredentialsFor} from '../transport/auth.js'

import {ContainersAuthFile, containersAuthPath} from './containers-auth.js'
import {CredentialStore} from './credential-store.js'
import {DockerConfigFile, resolveDockerConfigPath} from './docker-config.js'
import {CredentialResolver, type ExplicitCredentials} from './resolve.js'

export type {CredentialsFor} from '../transport/auth.js'

export interface DockerChainOptions extends ExplicitCredentials {
  /** config.json to read instead of $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
  dockerConfig?: string
  /** The environment (DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, a helper's PATH); process.env by default. */
  env?: NodeJS.ProcessEnv
  /** Longest wait for a credential helper, in ms. */
  timeoutMs?: number
  tracer?: Tracer
}

/**
 * The resolution chain the CLI uses (README: "Credential resolution"), for scripts and plugins:
 * a username and password given here, else Docker's config.json with its credHelpers and
 * credsStore, else containers' auth.json. Each registry is resolved once per chain.
 */
export function dockerChain(options: DockerChainOptions = {}): CredentialsFor {
  const resolver = dockerCredentialResolver(options)
  return async (registry) => (await resolver.resolve(registry)).credentials
}

/** The chain's resolver itself, which also says where the credentials came from. */
export function dockerCredentialResolver(options: DockerChainOptions = {}): CredentialResolver {
  const env = options.env ?? process.env
  const configFile = new DockerConfigFile(resolveDockerConfigPath({env, flag: options.dockerConfig}), options.tracer)
  const store = new CredentialStore(configFile, {helperOptions: {env, timeoutMs: options.timeoutMs}, tracer: options.tracer})
  const containersAuth = containersAuthPath(env)
  return new CredentialResolver(store, {password: options.password, username: options.username}, containersAuth ? new ContainersAuthFile(containersAuth) : undefined)
}
