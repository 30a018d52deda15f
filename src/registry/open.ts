import type {ImageRef} from '../reference/image.js'
import type {RegistryRef} from '../reference/registry.js'

import {parseImageRef} from '../reference/image.js'
import {parseRegistry} from '../reference/registry.js'
import type {CredentialsFor} from '../transport/auth.js'
import {Transport, type TransportOptions} from '../transport/transport.js'
import {RegistryConnection} from './connection.js'
import {Registry} from './registry.js'
import {Repository} from './repository.js'

/**
 * The registry library's front door for scripts and plugins, with no oclif:
 *
 *   const repo = await openRepository('registry.example.com/team/app', {credentials: dockerChain()})
 *   const {tags} = await repo.tags({follow: true})
 *
 * A transport is made from the options (and this machine's certs.d and proxy settings) unless
 * one is given to share; close() lets the process exit at once when done.
 */

export interface OpenOptions extends TransportOptions {
  /** Where credentials come from (dockerChain() reads Docker's config and helpers); anonymous without. */
  credentials?: CredentialsFor
  /** The environment the transport reads (certs.d, proxies); process.env by default. */
  env?: NodeJS.ProcessEnv
  /** A transport to share between registries and repositories (its connections, challenges and tokens). */
  transport?: Transport
}

/** A registry by name (`registry.example.com`, `localhost:5000`, `http://127.0.0.1:5000`). */
export async function openRegistry(name: string | RegistryRef, options: OpenOptions = {}): Promise<Registry> {
  const ref = typeof name === 'string' ? parseRegistry(name) : name
  return new Registry(await connect(ref, options))
}

/**
 * A repository by reference (`registry.example.com/team/app`; a tag or digest given with it is
 * kept in `reference`, for the caller to use).
 */
export async function openRepository(reference: string | ImageRef, options: OpenOptions = {}): Promise<Repository & {reference: ImageRef}> {
  const ref = typeof reference === 'string' ? parseImageRef(reference) : reference
  const repository = new Repository(await connect(ref.registry, options), ref.repository)
  return Object.assign(repository, {reference: ref})
}

async function connect(ref: RegistryRef, options: OpenOptions): Promise<RegistryConnection> {
  const {credentials, transport, ...transportOptions} = options
  const made = transport ?? (await Transport.fromEnvironment(transportOptions))
  return new RegistryConnection(made, ref, credentials ? () => credentials(ref) : undefined, transport === undefined)
}
