import {splitEndpoint} from '../reference/registry.js'

import {NetworkError, describeError} from '../errors.js'
import {redactUrl} from './redact.js'

/**
 * What the wire knows of TLS besides the handshake itself: whether a loopback or insecure
 * registry speaks it at all (the scheme stage's probe), and network and TLS failures in
 * regshape's own words, one line, no secret.
 */

/**
 * Whether the server at an insecure or loopback endpoint speaks TLS, learnt from its answer to a
 * ClientHello. The probe's TLS context trusts nothing (`ca: []`), so Node does not build its
 * root-certificate store for it (30-40 ms); it verifies nothing either, and sends nothing but the
 * handshake. The real request, over HTTPS, then verifies as always.
 *
 * false: the TCP connection opened but no handshake came back, whether the server answered in
 * plain HTTP, reset the connection or kept silent for `timeoutMs`; like skopeo with
 * --tls-verify=false and docker for its insecure registries (loopback ones by default), that
 * means plain HTTP. undefined: no connection at all (refused, unreachable, unknown host), so the
 * caller's ordinary attempt reports what went wrong.
 */
export async function speaksTls(endpoint: string, timeoutMs: number): Promise<boolean | undefined> {
  const tls = await import('node:tls')
  const {host, port = 443} = splitEndpoint(endpoint)
  return new Promise((resolvePromise) => {
    let connected = false
    const socket = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      secureContext: tls.createSecureContext({ca: []}),
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
    })
    const timer = setTimeout(() => settle(connected ? false : undefined), timeoutMs)
    function settle(answer: boolean | undefined): void {
      clearTimeout(timer)
      socket.destroy()
      resolvePromise(answer)
    }

    socket.once('connect', () => {
      connected = true
    })
    socket.once('secureConnect', () => settle(true))
    socket.once('error', (error: NodeJS.ErrnoException) => settle(connected || isNotTls(error) ? false : undefined))
  })
}

function isNotTls(error: {code?: string; message?: string}): boolean {
  return error.code === 'EPROTO' || error.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/.test(error.message ?? '')
}

export function isLoopback(endpoint: string): boolean {
  const {host} = splitEndpoint(endpoint)
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

export class TransportError extends NetworkError {
  constructor(
    message: string,
    readonly code: string | undefined,
    /** The server answered, but not with TLS: it speaks plain HTTP. */
    readonly notTls: boolean,
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
  }
}

const TRUST_HINT = 'use --ca-file or a certs.d ca.crt to trust its CA, or --insecure to skip verification'

/**
 * TLS failures in regshape's own words, by OpenSSL's verify code. Node's text is not used for
 * these: newer Node versions append their own advice ("try running Node.js with --use-system-ca"),
 * which names a Node flag a regshape user cannot pass.
 */
const TLS_FAILURES: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  DEPTH_ZERO_SELF_SIGNED_CERT: `self-signed certificate (${TRUST_HINT})`,
  SELF_SIGNED_CERT_IN_CHAIN: `self-signed certificate in certificate chain (${TRUST_HINT})`,
  UNABLE_TO_GET_ISSUER_CERT: `unable to get issuer certificate (${TRUST_HINT})`,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: `unable to get local issuer certificate (${TRUST_HINT})`,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: `unable to verify the first certificate (${TRUST_HINT})`,
}

/** Node's own advice, in whatever words a Node version adds it to an error's text. */
const NODE_ADVICE = /;?\s*(?:if [^;]*?,\s*)?try (?:running|using) Node(?:\.js)? with --[\w-]+.*$/i

/** A TLS alert about the client's certificate (alert names differ between OpenSSL versions). */
const CLIENT_CERT_ALERT = /_ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/

export function toNetworkError(error: unknown, url: string, hostTls?: {certificate?: string; directory?: string}): TransportError {
  const err = error as {code?: string; message?: string; name?: string}
  const code = err.code
  let message = (err.message ?? describeError(error)).split('\n')[0].replace(NODE_ADVICE, '')
  const notTls = isNotTls(err)
  const alert = code ? CLIENT_CERT_ALERT.exec(code) : null
  const host = new URL(url).host
  if (notTls) message = `${host} does not speak TLS (${code ?? 'EPROTO'})`
  else if (err.name === 'TimeoutError') message = `no answer from ${redactUrl(url)} within the timeout (--timeout)`
  else if (code && TLS_FAILURES[code]) message = `TLS: ${TLS_FAILURES[code]}`
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') message = `TLS: ${message} (the certificate does not name this host)`
  else if (alert) {
    const what = alert[1].toLowerCase().replaceAll('_', ' ')
    message =
      hostTls?.certificate === undefined
        ? `TLS: ${host} refused the handshake (alert: ${what}): it wants a client certificate; put client.cert and client.key in ~/.config/containers/certs.d/${host}/`
        : `TLS: ${host} refused the client certificate from ${hostTls.directory} (alert: ${what})`
  }

  return new TransportError(message, code, notTls, {cause: error})
}
