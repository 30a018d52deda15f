/**
 * Token scopes (distribution's token spec: `repository:<path>:<actions>`), built in one place from
 * a repository and the actions an operation needs, never pasted together at call sites.
 */

export type RepositoryAction = 'delete' | 'pull' | 'push'

/** What `catalog list` asks for. */
export const CATALOG_SCOPE = 'registry:catalog:*'

/** Actions in a fixed order, so equal needs give equal scopes (and share a cached token). */
const ORDER: readonly RepositoryAction[] = ['pull', 'push', 'delete']

export function repositoryScope(repository: string, actions: readonly RepositoryAction[]): string {
  const wanted = ORDER.filter((action) => actions.includes(action))
  if (wanted.length === 0) throw new Error('a repository scope needs at least one action')
  return `repository:${repository}:${wanted.join(',')}`
}

/** Several scopes for one request (a mount: push on the target, pull on the source), space-separated as the token spec joins them. */
export function joinScopes(...scopes: readonly string[]): string {
  return [...new Set(scopes)].join(' ')
}
