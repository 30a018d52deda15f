import type {ListOptions} from './repository.js'

import {ExitCode, InputError} from '../errors.js'
import {isRepositoryPath} from '../reference/image.js'
import {CATALOG_SCOPE} from '../reference/scope.js'
import {RegistryApiError, apiError} from './api-error.js'
import {type RegistryConnection, header} from './connection.js'
import {ListBudget, walkList} from './pagination.js'
import {Repository} from './repository.js'
import {urls} from './urls.js'

/**
 * One registry (oras-go's Registry): what is asked of the registry as a whole, the catalog and
 * whether it answers /v2/, and its repositories. Built from a connection, no oclif; openRegistry
 * (./open.ts) makes one from a name and plain options.
 */
export class Registry {
  constructor(readonly connection: RegistryConnection) {}

  /** The registry as it was named. */
  get ref() {
    return this.connection.registry
  }

  /** A repository of the registry (`team/app`), on the same connection. */
  repository(path: string): Repository {
    if (!isRepositoryPath(path)) throw new InputError(`invalid repository name "${path}": lowercase components of letters, digits and separators, joined by /`)
    return new Repository(this.connection, path)
  }

  /** The repositories the registry lists (`registry:catalog:*`); every page unless `follow` is false. */
  async catalog(options: ListOptions = {follow: true}): Promise<string[]> {
    return (await listCatalog(this.connection, this.ref.input, options)).repositories
  }

  /**
   * Whether the registry answers the distribution API's base endpoint, with the credentials the
   * connection has (GET /v2/ answered 200), and the API version it says it speaks. Anything else
   * is the registry's error.
   */
  async ping(): Promise<{apiVersion?: string}> {
    const what = `ping ${this.ref.input}`
    const response = await this.connection.send(what, {method: 'GET', operation: 'ping', path: urls.ping()})
    if (response.status !== 200) throw apiError(what, response)
    return {apiVersion: header(response, 'docker-distribution-api-version')}
  }

  /** Lets the process exit: idle connections of a transport the registry opened itself are closed. */
  close(): void {
    this.connection.close()
  }
}

/** The catalog of a registry (`registry:catalog:*`); 404/405 mean the registry does not offer it. */
export async function listCatalog(connection: RegistryConnection, registry: string, options: ListOptions): Promise<{repositories: string[]}> {
  const what = `catalog list ${registry}`
  const budget = new ListBudget(what, 'repositories', 'Read it a page at a time: --n N, then --last with the last repository of each page.')
  const {items} = await walkList(connection, urls.catalog(options), {operation: 'catalog.list', scope: CATALOG_SCOPE}, what, 'repositories', options.follow, budget, (response) => {
    const error = apiError(what, response)
    if (response.status !== 404 && response.status !== 405) return error
    return new RegistryApiError(`${what}: the registry does not support the catalog API (HTTP ${response.status})`, error.status, error.errors, 'unsupported', {
      exitCode: ExitCode.Unsupported,
    })
  })
  return {repositories: items}
}
