/** The shapes of one HTTP exchange, shared by the client, the auth layer and telemetry. */

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

/** One finished (or failed) exchange, as telemetry sees it. Secrets are already masked. */
export interface HttpExchange {
  bytesReceived: number
  bytesSent: number
  durationMs: number
  error?: string
  method: HttpMethod
  operation?: string
  /** Text bodies (JSON, forms, text), secret fields masked and long ones cut; absent otherwise. */
  requestBody?: string
  /** The headers as sent, the client's own (Host, User-Agent, Accept-Encoding) included. */
  requestHeaders: Record<string, string>
  responseBody?: string
  responseHeaders: Record<string, string[]>
  /** Present when this exchange is a retry: which one, after what, and how long it waited. */
  retry?: {after: string; attempt: number; of: number; waitedMs: number}
  status?: number
  statusText?: string
  url: string
}
