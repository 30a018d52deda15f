/** The shapes of one HTTP exchange, shared by the transport's stages and the auth layer. */

import type {Readable} from 'node:stream'

export type HttpMethod = 'DELETE' | 'GET' | 'HEAD' | 'PATCH' | 'POST' | 'PUT'

/**
 * A request body. Bytes and a stream factory (`() => Readable`, called once per attempt) can be
 * sent again, on a retry or a same-origin 307; a Readable given as is is one-shot: once read, it
 * cannot, so a request carrying one is never retried.
 */
export type RequestBody = (() => Readable) | Buffer | Readable | string

/**
 * For URLs a registry hands us (token realms): no connection, on the first hop or after any
 * redirect, to a loopback, private or link-local address, however spelt or resolved, unless it is
 * the registry's own host. With `refuses: 'link-local'` (where the registry's own answers
 * redirect), only link-local and cloud metadata addresses are refused.
 */
export interface AddressGuard {
  /** The registry's host: the one internal host these URLs may name. */
  allowedHost: string
  /** The registry's endpoint (`host[:port]`): its certs.d TLS settings apply, as docker's do. */
  registry?: string
  /** Which addresses are refused: all internal ones (the default), or only link-local and metadata ones. */
  refuses?: 'internal' | 'link-local'
  /** What the URL is, for the error: "the registry's token realm". */
  what: string
}

export interface HttpRequest {
  /**
   * Never resent to another origin: a redirect elsewhere is refused rather than followed, whatever
   * its status, since bodies carry credentials (the OAuth2 refresh-token grant).
   */
  body?: RequestBody
  /** Length of a streamed body, sent as Content-Length (otherwise it goes chunked). */
  contentLength?: number
  guard?: AddressGuard
  headers?: Record<string, string>
  /** Bodies beyond this are cut off with an error (token responses, error pages). */
  maxBodyBytes?: number
  method: HttpMethod
  /** What the request is for (`blob.get`, `token`, ...): telemetry names it, break mode will match it. */
  operation?: string
  url: string
}

export interface HttpResponse {
  body: Buffer
  /** From sending the request to the last byte of the body. */
  durationMs: number
  /** Lower-cased names; repeated headers kept apart (several WWW-Authenticate headers are common). */
  headers: Record<string, string[]>
  status: number
  statusText: string
  url: string
}

/** First value of a response header. */
export function header(response: HttpResponse, name: string): string | undefined {
  return response.headers[name.toLowerCase()]?.[0]
}

/**
 * Break mode as the transport's break stage sees it (break/session.ts implements it): rules that
 * change a request on its way out, and the report of what came back. The transport hands the
 * mutations back as it got them.
 */
export interface BreakStage {
  apply(request: HttpRequest): {mutations: readonly unknown[]; request: HttpRequest}
  /** The outcome of a request the rules changed: its status and (error) body, or its failure. */
  record(outcome: {body?: Buffer; error?: string; mutations: readonly unknown[]; request: HttpRequest; status?: number}): void
}
