import type {RegistryResponse} from '../transport/transport.js'

import {ProtocolError} from '../errors.js'
import {apiError} from './api-error.js'
import {type LabelledRequest, type RegistryConnection, parseJsonAnswer} from './connection.js'

/**
 * `Link: <…>; rel="next"` pagination (distribution's tag and catalog lists): the next page's path,
 * resolved against the page that named it, on the same registry only, and never one seen before.
 */

/** The `rel="next"` target of Link header values, or undefined on the last page. */
export function nextLink(values: readonly string[] | undefined): string | undefined {
  for (const value of values ?? []) {
    // A header may carry several comma-separated links; a URL in <> may contain commas itself.
    for (const [, target, params] of value.matchAll(/<([^>]*)>([^<]*)/g)) {
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params)
      if (rel && (rel[1] ?? rel[2]).toLowerCase().split(/\s+/).includes('next')) return target
    }
  }

  return undefined
}

/** Follows pages, guarding against a registry that links in a circle or without end. */
export class PageWalker {
  private readonly seen = new Set<string>()
  private pages = 0

  constructor(
    /** The registry's origin, e.g. https://registry.example.com:5000 */
    private readonly origin: string,
    private readonly maxPages = 10_000,
  ) {}

  /**
   * The path (with query) of the next page after `currentPath`, from its Link header values;
   * undefined when there is none. Throws on a link to another origin, a repeat, or too many pages.
   */
  next(currentPath: string, linkValues: readonly string[] | undefined): string | undefined {
    this.seen.add(currentPath)
    this.pages++
    const target = nextLink(linkValues)
    if (target === undefined) return undefined
    let resolved: URL
    try {
      resolved = new URL(target, `${this.origin}${currentPath}`)
    } catch {
      throw new ProtocolError('the registry sent a Link header that is not a URL')
    }

    if (resolved.origin !== new URL(this.origin).origin) throw new ProtocolError(`the registry's next page link points to another host (${resolved.host}); not followed`)
    const path = `${resolved.pathname}${resolved.search}`
    if (this.seen.has(path)) throw new ProtocolError(`the registry's next page link repeats an earlier page (${path}); stopped`)
    if (this.pages >= this.maxPages) throw new ProtocolError(`more than ${this.maxPages} pages; stopped`)
    return path
  }
}

/**
 * What one listing may hold, all its pages together: each page is capped (4 MiB), but a registry
 * that keeps linking a next page would otherwise fill memory (250 pages of 1 MB of short tags
 * took 1.36 GB). A million entries is more than the largest repositories hold; the byte limit
 * bounds entries of any length.
 */
export const LIST_LIMITS = {bytes: 64 * 1024 * 1024, entries: 1_000_000}

/** Counts a listing's pages against LIST_LIMITS. */
export class ListBudget {
  private bytes = 0
  private entries = 0

  constructor(
    /** The listing, for the error: "tag list host/repo". */
    private readonly what: string,
    /** What the entries are, for the error: "tags", "repositories", "referrers". */
    private readonly noun: string,
    /** How to read the list in smaller parts, for the error. */
    private readonly hint: string,
    private readonly limits = LIST_LIMITS,
  ) {}

  /** Counts one page; throws once the pages so far pass a limit. */
  add(pageBytes: number, pageEntries: number): void {
    this.bytes += pageBytes
    this.entries += pageEntries
    const over =
      this.entries > this.limits.entries
        ? `more than ${this.limits.entries} ${this.noun}`
        : this.bytes > this.limits.bytes
          ? `more than ${formatMiB(this.limits.bytes)} of ${this.noun}`
          : undefined
    if (over) throw new ProtocolError(`${this.what}: the registry's pages hold ${over}, regshape's limit for one listing; stopped. ${this.hint}`)
  }
}

function formatMiB(bytes: number): string {
  return `${bytes / (1024 * 1024)} MiB`
}

/** Lists from tags and catalog answers, page after page. */
export async function walkList(
  connection: RegistryConnection,
  first: string,
  request: Omit<LabelledRequest, 'method' | 'path'>,
  what: string,
  field: string,
  follow: boolean,
  budget: ListBudget,
  onError: (response: RegistryResponse) => Error = (response) => apiError(what, response),
): Promise<{items: string[]; name?: string; pages: number}> {
  const items: string[] = []
  let name: string | undefined
  let walker: PageWalker | undefined
  let pages = 0
  for (let path: string | undefined = first; path !== undefined; ) {
    const response = await connection.send(what, {...request, method: 'GET', path})
    if (response.status !== 200) throw onError(response)
    pages++
    const body = parseJsonAnswer(response.body, what)
    const list = body[field]
    // distribution answers `"tags": null` for a repository whose tags were all deleted.
    if (list !== null && list !== undefined && (!Array.isArray(list) || list.some((item) => typeof item !== 'string'))) {
      throw new ProtocolError(`${what}: the registry's answer has no "${field}" list of strings`)
    }

    const entries = (list as string[] | null) ?? []
    budget.add(response.body.length, entries.length)

    // One at a time: spreading a page of a few hundred thousand entries overflows the stack.
    for (const entry of entries) items.push(entry)
    if (typeof body.name === 'string') name ??= body.name
    if (!follow) break
    walker ??= new PageWalker(connection.origin())
    try {
      path = walker.next(path, response.headers.link)
    } catch (error) {
      throw new ProtocolError(`${what}: ${(error as Error).message}`)
    }
  }

  return {items, name, pages}
}
