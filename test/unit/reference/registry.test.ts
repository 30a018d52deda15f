import {expect} from 'chai'

import {DOCKER_HUB_KEY, normalizeStoredKey, parseRegistry, splitEndpoint, storedKeyMatches} from '../../../src/reference/registry.js'
import {InputError} from '../../../src/errors.js'

describe('registry names and credential keys', () => {
  describe('Docker Hub', () => {
    for (const alias of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'Docker.IO', 'https://registry-1.docker.io/v2/']) {
      it(`stores ${alias} under ${DOCKER_HUB_KEY} and talks to registry-1.docker.io`, () => {
        const ref = parseRegistry(alias)
        expect(ref.key).to.equal(DOCKER_HUB_KEY)
        expect(ref.endpoint).to.equal('registry-1.docker.io')
        expect(ref.isDockerHub).to.equal(true)
        expect(ref.input).to.equal(alias)
      })
    }

    it('reads every Hub alias found in a config file as the Hub key', () => {
      for (const stored of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'https://index.docker.io']) {
        expect(normalizeStoredKey(stored), stored).to.equal(DOCKER_HUB_KEY)
      }
    })

    it('does not treat the web-login pseudo-keys as registries', () => {
      expect(normalizeStoredKey('https://index.docker.io/v1/access-token')).to.equal(undefined)
      expect(normalizeStoredKey('https://index.docker.io/v1/refresh-token')).to.equal(undefined)
      expect(storedKeyMatches('https://index.docker.io/v1/refresh-token', parseRegistry('docker.io'))).to.equal(false)
    })
  })

  describe('other registries', () => {
    const cases: Array<[string, string]> = [
      ['registry.example.com', 'registry.example.com'],
      ['registry.example.com:5000', 'registry.example.com:5000'],
      ['https://registry.example.com', 'registry.example.com'],
      ['http://registry.example.com:5000/', 'registry.example.com:5000'],
      ['registry.example.com/team/app', 'registry.example.com'],
      ['https://registry.example.com/v1/', 'registry.example.com'],
      ['127.0.0.1:5000', '127.0.0.1:5000'],
      ['[::1]:5000', '[::1]:5000'],
      ['localhost', 'localhost'],
    ]
    for (const [input, key] of cases) {
      it(`keys ${input} as ${key}`, () => {
        const ref = parseRegistry(input)
        expect(ref.key).to.equal(key)
        expect(ref.endpoint).to.equal(key)
        expect(ref.isDockerHub).to.equal(false)
      })
    }

    it('matches legacy spellings on lookup and erase', () => {
      const ref = parseRegistry('registry.example.com:5000')
      for (const stored of ['registry.example.com:5000', 'https://registry.example.com:5000', 'http://registry.example.com:5000', 'registry.example.com:5000/v1/', 'https://registry.example.com:5000/v2/']) {
        expect(storedKeyMatches(stored, ref), stored).to.equal(true)
      }

      for (const stored of ['registry.example.com', 'registry.example.com:5001', 'other.example.com:5000']) {
        expect(storedKeyMatches(stored, ref), stored).to.equal(false)
      }
    })

    it('is idempotent: a canonical key normalises to itself', () => {
      for (const [input] of cases) {
        const {key} = parseRegistry(input)
        expect(normalizeStoredKey(key)).to.equal(key)
        expect(parseRegistry(key).key).to.equal(key)
      }
    })
  })

  describe('invalid names', () => {
    const invalid: Array<[string, RegExp]> = [
      ['', /registry name is empty/],
      ['   ', /registry name is empty/],
      ['registry example.com', /whitespace/],
      ['ftp://registry.example.com', /only http:\/\/ and https:\/\//],
      ['registry.example.com:99999', /out of range/],
      ['-registry.example.com', /expected host\[:port\]/],
      ['registry..example.com', /expected host\[:port\]/],
      // distribution/reference's domain grammar: no '_' in a label, IPv6 in hex only.
      ['foo_bar.com:8080', /expected host\[:port\]/],
      ['[::ffff:1.2.3.4]:5000', /without a zone or an embedded IPv4 part/],
      ['[fe80::1%eth0]:5000', /without a zone or an embedded IPv4 part/],
      ['[1::2::3]', /\[1::2::3\] is not an IPv6 address/],
      // Names the grammar takes but no URL can hold: refused here, not met later as "Invalid URL".
      ['999.1.1.1', /not a host name or an IPv4 address/],
      ['example.0x1:5000', /not a host name or an IPv4 address/],
    ]
    for (const [input, message] of invalid) {
      it(`rejects ${JSON.stringify(input)}`, () => {
        expect(() => parseRegistry(input)).to.throw(InputError, message)
      })
    }

    it('rejects a URL with credentials without repeating them', () => {
      for (const input of ['https://alice:hunter2@registry.example.com', 'alice:hunter2@registry.example.com/x']) {
        let caught: Error | undefined
        try {
          parseRegistry(input)
        } catch (error) {
          caught = error as Error
        }

        expect(caught).to.be.instanceOf(InputError)
        expect(caught!.message).to.match(/contains credentials/)
        expect(caught!.message).not.to.include('hunter2')
        expect(caught!.message).not.to.include('alice')
      }
    })
  })

  it('splits endpoints into host and port, IPv6 brackets removed', () => {
    expect(splitEndpoint('registry.example.com')).to.deep.equal({host: 'registry.example.com'})
    expect(splitEndpoint('127.0.0.1:5000')).to.deep.equal({host: '127.0.0.1', port: 5000})
    expect(splitEndpoint('[::1]:5000')).to.deep.equal({host: '::1', port: 5000})
    expect(splitEndpoint('[::1]')).to.deep.equal({host: '::1'})
  })
})
