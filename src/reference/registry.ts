import {isIPv6} from 'node:net'

import {InputError} from '../errors.js'

/**
 * Registry names as users type them, and the keys Docker stores credentials under.
 *
 * Docker writes Docker Hub credentials under the legacy URL `https://index.docker.io/v1/` and every
 * other registry under its bare `host[:port]`. Older tools wrote `https://host`, `http://host` or
 * `host/v1/`; those still exist in people's config files, so lookups and erases accept them.
 */

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/'
/** Where Docker Hub's registry API actually lives. */
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io'
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])
/** Entries Docker's web login writes next to the Hub key; they are tokens, not registries. */
export const DOCKER_HUB_PSEUDO_KEYS = new Set([`${DOCKER_HUB_KEY}access-token`, `${DOCKER_HUB_KEY}refresh-token`])

export interface RegistryRef {
  /** The name exactly as given, used in messages and JSON output. */
  readonly input: string
  /** host[:port], without scheme or path. */
  readonly host: string
  /** The key credentials are stored under. */
  readonly key: string
  /** host[:port] to send requests to. */
  readonly endpoint: string
  readonly isDockerHub: boolean
  /**
   * The scheme the user wrote (`http://host` or `https://host`), which then decides the transport
   * instead of the HTTPS-first probe. Not part of the storage key.
   */
  readonly scheme?: 'http' | 'https'
}

/**
 * distribution/reference's domain grammar: DNS-like labels of letters, digits and inner '-' (no
 * '_': `foo_bar.com` is a repository path there, never a host), or an IPv6 address in brackets
 * written in hex only (no zone, no embedded IPv4 part such as `::ffff:1.2.3.4`).
 */
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
const HOST_PORT = new RegExp(`^(?:\\[([0-9A-Fa-f:]+)\\]|${LABEL}(?:\\.${LABEL})*)(?::(\\d{1,5}))?$`)

/** Parses and validates a registry name given on the command line. */
export function parseRegistry(input: string): RegistryRef {
  if (input.trim() === '') throw new InputError('registry name is empty')
  const host = hostOf(input)
  const isDockerHub = input === DOCKER_HUB_KEY || DOCKER_HUB_ALIASES.has(host.toLowerCase())
  const written = /^(https?):\/\//i.exec(input)?.[1].toLowerCase() as 'http' | 'https' | undefined
  return {
    endpoint: isDockerHub ? DOCKER_HUB_ENDPOINT : host,
    host,
    input,
    isDockerHub,
    key: isDockerHub ? DOCKER_HUB_KEY : host,
    // Docker Hub's key is a URL by convention, not a choice of transport.
    scheme: isDockerHub ? undefined : written,
  }
}

function hostOf(input: string): string {
  let rest = input
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest)
  if (schemeMatch) {
    const scheme = schemeMatch[1].toLowerCase()
    if (scheme !== 'http' && scheme !== 'https') {
      throw new InputError(`invalid registry name "${safeEcho(input)}": only http:// and https:// URLs are accepted`)
    }

    rest = rest.slice(schemeMatch[0].length)
  }

  const authority = rest.split('/')[0]
  // Never echo this input: the part before '@' is somebody's password.
  if (authority.includes('@')) {
    throw new InputError('invalid registry name: it contains credentials (user:password@); use --username and --password-stdin instead')
  }

  if (/\s/.test(input)) throw new InputError(`invalid registry name "${safeEcho(input)}": it contains whitespace`)
  const fail = (why: string) => new InputError(`invalid registry name "${safeEcho(input)}": ${why}`)
  if (/^\[[^\]]*[.%]/.test(authority)) throw fail('an IPv6 address is written in hex only, without a zone or an embedded IPv4 part (e.g. [::ffff:102:304], not [::ffff:1.2.3.4])')
  const match = HOST_PORT.exec(authority)
  if (!match) throw fail('expected host[:port], e.g. registry.example.com:5000')
  const [, ipv6, port] = match
  if (ipv6 !== undefined && !isIPv6(ipv6)) throw fail(`[${ipv6}] is not an IPv6 address`)
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) throw fail(`port ${port} is out of range`)
  // The grammar takes a few names no URL can hold (`999.1.1.1`, `a.1.2.3.4.5`: a name whose last
  // label is a number is read as an IPv4 address): refused here, not met later as "Invalid URL".
  if (!URL.canParse(`https://${authority}/`)) throw fail('not a host name or an IPv4 address')
  return authority
}

/** host and port of an endpoint (`host:port`, `[v6]:port`), the host without IPv6 brackets. */
export function splitEndpoint(endpoint: string): {host: string; port?: number} {
  const bracket = endpoint.startsWith('[') ? endpoint.indexOf(']') : -1
  const host = bracket > 0 ? endpoint.slice(1, bracket) : endpoint.split(':')[0]
  const portText = bracket > 0 ? endpoint.slice(bracket + 2) : endpoint.split(':')[1]
  return portText ? {host, port: Number(portText)} : {host}
}

/** Control characters would let a hostile argument rewrite the terminal line. */
function safeEcho(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replaceAll(/[\u0000-\u001F\u007F]/g, '?')
}

/**
 * The canonical form of a key found in a config file or a helper's list, for comparisons. Never
 * throws: config files contain all sorts of keys. Returns undefined for Docker Hub's token
 * pseudo-keys, which are not registries.
 */
export function normalizeStoredKey(stored: string): string | undefined {
  if (DOCKER_HUB_PSEUDO_KEYS.has(stored)) return undefined
  if (stored === DOCKER_HUB_KEY) return DOCKER_HUB_KEY
  const withoutScheme = stored.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, '')
  const host = withoutScheme.split('/')[0]
  if (DOCKER_HUB_ALIASES.has(host.toLowerCase())) return DOCKER_HUB_KEY
  return host
}

/** Whether a stored key (canonical or legacy) holds credentials for `ref`. */
export function storedKeyMatches(stored: string, ref: RegistryRef): boolean {
  return normalizeStoredKey(stored) === ref.key
}
