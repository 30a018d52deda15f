import {expect} from 'chai'
import fc from 'fast-check'

import {DOCKER_HUB_KEY, normalizeStoredKey, parseRegistry} from '../../src/reference/registry.js'
import {check} from './settings.js'

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/)
// The last label starts with a letter, as a top-level domain does: a name ending in a number
// ("a.0") is read as an IPv4 address by every URL parser, and refused as a registry name.
const lastLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,8}[a-z0-9])?$/)
const hostname = fc.tuple(fc.array(label, {maxLength: 3}), lastLabel).map(([labels, last]) => [...labels, last].join('.'))
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'))
const host = fc.oneof(hostname, ipv4, fc.constant('[::1]'), fc.constant('localhost'))
const port = fc.option(fc.integer({max: 65_535, min: 1}), {nil: undefined})
const scheme = fc.constantFrom('', 'http://', 'https://', 'HTTPS://')
const path = fc.constantFrom('', '/', '/v1/', '/v2/', '/team/app', '/team/app:tag', '/a/b@sha256:abc')
const hubName = fc.constantFrom('docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO', 'INDEX.docker.io')

describe('property: registry keys', () => {
  it('a registry given with any scheme and path is keyed by its bare host[:port]', () =>
    check(
      fc.property(scheme, host, port, path, (s, h, p, rest) => {
        const authority = p === undefined ? h : `${h}:${p}`
        fc.pre(!/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)$/i.test(h))
        const ref = parseRegistry(`${s}${authority}${rest}`)
        expect(ref.key).to.equal(authority)
        expect(ref.endpoint).to.equal(authority)
      }),
    ))

  it('normalisation is idempotent, and agrees with parsing', () =>
    check(
      fc.property(scheme, fc.oneof(host, hubName), port, path, (s, h, p, rest) => {
        const stored = `${s}${p === undefined ? h : `${h}:${p}`}${rest}`
        const once = normalizeStoredKey(stored)
        expect(once).to.be.a('string')
        expect(normalizeStoredKey(once as string)).to.equal(once)
        expect(parseRegistry(stored).key).to.equal(once)
      }),
    ))

  it('every Docker Hub alias, in any spelling, collapses to one key', () =>
    check(
      fc.property(scheme, hubName, path, (s, h, rest) => {
        expect(normalizeStoredKey(`${s}${h}${rest}`)).to.equal(DOCKER_HUB_KEY)
        expect(parseRegistry(`${s}${h}${rest}`).key).to.equal(DOCKER_HUB_KEY)
      }),
    ))
})
