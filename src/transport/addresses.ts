import {BlockList, isIP} from 'node:net'

import {splitEndpoint} from '../reference/registry.js'
import {ProtocolError} from '../errors.js'
import type {AddressGuard} from './http.js'

/**
 * Which addresses count as inside the network, and the guard that keeps URLs a registry hands us
 * (token realms and where they redirect) away from them; and the narrower guard on where a
 * registry's own answers may redirect (link-local and cloud metadata addresses only). Addresses are compared as parsed IPs,
 * never as text: WHATWG URL parsing has already turned `2130706433`, `0x7f.1` and `127.1` into
 * `127.0.0.1` and `[::ffff:127.0.0.1]` into `[::ffff:7f00:1]`, and names are resolved first.
 */

export interface ResolvedAddress {
  address: string
  family: number
}

/** dns.lookup with `all: true`, as a promise; replaceable so tests can stand in for DNS. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>

const INTERNAL = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network": 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4')
}

for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible form ::a.b.c.d
  ['64:ff9b:1::', 48], // local-use NAT64
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some stacks)
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6')
}

/**
 * Where no redirect of a registry request may go: link-local addresses, where clouds serve
 * instance metadata and credentials. Loopback and private addresses are not among them: a
 * registry on 127.0.0.1 or 10.0.0.5 sends its blobs to storage beside it (minio, a cache), as
 * on-premises set-ups and tests do.
 */
const LINK_LOCAL = new BlockList()
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4') // link-local; AWS, GCP, Azure and OCI metadata at 169.254.169.254
LINK_LOCAL.addAddress('100.100.100.200', 'ipv4') // Alibaba Cloud metadata, inside carrier-grade NAT space
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6') // link-local
LINK_LOCAL.addAddress('fd00:ec2::254', 'ipv6') // AWS metadata over IPv6, inside unique-local space

/** Whether an IP address (any spelling Node accepts) is loopback, private or link-local. */
export function isInternalAddress(address: string): boolean {
  return inRanges(address, INTERNAL)
}

/** Whether an IP address (any spelling Node accepts) is link-local or a cloud metadata address. */
export function isLinkLocalAddress(address: string): boolean {
  return inRanges(address, LINK_LOCAL)
}

function inRanges(address: string, ranges: BlockList): boolean {
  const ip = address.replace(/%.*$/, '')
  const family = isIP(ip)
  if (family === 4) return ranges.check(ip, 'ipv4')
  if (family !== 6) return false
  // BlockList already maps ::ffff:a.b.c.d onto the IPv4 rules.
  if (ranges.check(ip, 'ipv6')) return true
  const embedded = embeddedIPv4(ip)
  return embedded !== undefined && ranges.check(embedded, 'ipv4')
}

/** Whether the guard refuses an address. */
function refuses(guard: AddressGuard, address: string): boolean {
  return guard.refuses === 'link-local' ? isLinkLocalAddress(address) : isInternalAddress(address)
}

/** One text per address: IPv4-mapped IPv6 as IPv4, IPv6 fully expanded, for equality tests. */
export function canonicalAddress(address: string): string {
  const ip = address.replace(/%.*$/, '').toLowerCase()
  if (isIP(ip) !== 6) return ip
  const groups = ipv6Groups(ip)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xff_ff) return groupsToIPv4(groups[6], groups[7])
  return groups.map((g) => g.toString(16)).join(':')
}

/** A URL's host as compared here: lower case, no brackets, no trailing dot. */
export function bareHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
}

/**
 * The IPv4 address that NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses carry: routers
 * deliver them to that IPv4 address, so they are as internal as it is.
 */
function embeddedIPv4(ip: string): string | undefined {
  const groups = ipv6Groups(ip)
  if (groups[0] === 0x64 && groups[1] === 0xff_9b && groups.slice(2, 6).every((g) => g === 0)) return groupsToIPv4(groups[6], groups[7])
  if (groups[0] === 0x20_02) return groupsToIPv4(groups[1], groups[2])
  return undefined
}

function groupsToIPv4(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
}

/** The eight 16-bit groups of a valid IPv6 address (checked with isIP before). */
function ipv6Groups(ip: string): number[] {
  let text = ip
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number)
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }

  const [head, tail] = text.split('::')
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [])
  const first = parse(head)
  const last = parse(tail)
  return tail === undefined ? first : [...first, ...Array.from({length: 8 - first.length - last.length}, () => 0), ...last]
}

/** The refusal, for the first URL (`hop` 0) or a redirect target; the same words for every spelling. */
export class InternalAddressError extends ProtocolError {}

function refusal(guard: AddressGuard, host: string, hop: number, resolved?: string): InternalAddressError {
  const where = resolved ? `${host} (${resolved})` : host
  const kind = guard.refuses === 'link-local' ? 'a link-local or cloud metadata address' : "a loopback, private or link-local address other than the registry's own host"
  return new InternalAddressError(hop === 0 ? `${guard.what} ${where} is ${kind}; refusing to use it` : `${guard.what} redirects to ${where}, ${kind}; refusing to follow it`)
}

/** Whether a URL's host is the registry's own, which the guard never questions. */
export function isAllowedHost(url: URL, guard: AddressGuard): boolean {
  const host = bareHost(url.hostname)
  const allowed = bareHost(guard.allowedHost)
  if (host === allowed) return true
  return isIP(host) !== 0 && isIP(allowed) !== 0 && canonicalAddress(host) === canonicalAddress(allowed)
}

/**
 * Before connecting: an IP literal is judged on its face (Node does not look literals up), and so
 * is `localhost` with its subdomains, loopback by definition (RFC 6761) whatever DNS says.
 */
export function checkLiteral(url: URL, guard: AddressGuard, hop: number): void {
  const host = bareHost(url.hostname)
  if (isAllowedHost(url, guard)) return
  const loopbackName = host === 'localhost' || host.endsWith('.localhost')
  const refused = isIP(host) === 0 ? loopbackName && guard.refuses !== 'link-local' : refuses(guard, host)
  if (refused) throw refusal(guard, url.host, hop)
}

/**
 * At connect time: the addresses a name resolves to, refused if any of them is internal and not
 * an address of the registry's own host. The connection then uses exactly these addresses, so a
 * second, different DNS answer (rebinding) never gets a say.
 */
export async function checkResolved(
  hostname: string,
  addresses: ResolvedAddress[],
  guard: AddressGuard,
  hop: number,
  resolve: Resolver,
  port: string,
): Promise<void> {
  const internal = addresses.filter((a) => refuses(guard, a.address))
  if (internal.length === 0) return
  const allowed = bareHost(guard.allowedHost)
  const own = isIP(allowed) ? [allowed] : (await resolve(allowed).catch(() => [])).map((a) => a.address)
  const ownSet = new Set(own.map((a) => canonicalAddress(a)))
  const foreign = internal.find((a) => !ownSet.has(canonicalAddress(a.address)))
  if (foreign) throw refusal(guard, port ? `${hostname}:${port}` : hostname, hop, foreign.address)
}

/**
 * Where a registry's answers may redirect (blobs to object storage, mostly), and where an upload
 * Location on another host may point: anywhere but link-local and cloud metadata addresses.
 * Loopback and private addresses stay allowed, unlike for token realms: no credentials follow a
 * redirect to another origin, and on-premises registries send blobs to storage beside them.
 */
export function registryGuard(ref: {endpoint: string}): AddressGuard {
  return {allowedHost: splitEndpoint(ref.endpoint).host, refuses: 'link-local', what: 'the registry'}
}
