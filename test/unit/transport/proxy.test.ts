import {expect} from 'chai'
import {type AddressInfo, createServer} from 'node:net'

import {InputError} from '../../../src/errors.js'
import {TunnelAgent, describeProxy, proxyFor, proxySettingsFromEnv} from '../../../src/transport/proxy.js'

/** Which proxy (as text) a URL would use under an environment; undefined for direct. */
function via(env: NodeJS.ProcessEnv, url: string): string | undefined {
  return proxyFor(proxySettingsFromEnv(env), new URL(url))?.toString()
}

describe('proxy settings from the environment (Go net/http rules)', () => {
  it('uses HTTPS_PROXY for https and HTTP_PROXY for http, upper case before lower case', () => {
    const env = {HTTP_PROXY: 'http://plain:3128', HTTPS_PROXY: 'http://tls:3128', http_proxy: 'http://lower-plain:1', https_proxy: 'http://lower-tls:1'}
    expect(via(env, 'https://registry.example.com/v2/')).to.equal('http://tls:3128/')
    expect(via(env, 'http://registry.example.com/v2/')).to.equal('http://plain:3128/')
    expect(via({https_proxy: 'http://lower-tls:1'}, 'https://r.example/')).to.equal('http://lower-tls:1/')
    expect(via({HTTPS_PROXY: '', https_proxy: 'http://lower-tls:1'}, 'https://r.example/')).to.equal('http://lower-tls:1/')
    expect(via({HTTP_PROXY: 'http://plain:3128'}, 'https://r.example/')).to.equal(undefined)
    expect(via({HTTPS_PROXY: 'http://tls:3128'}, 'http://r.example/')).to.equal(undefined)
  })

  it('ignores HTTP_PROXY under CGI (REQUEST_METHOD set: "httpoxy")', () => {
    expect(via({HTTP_PROXY: 'http://evil:1', REQUEST_METHOD: 'GET'}, 'http://r.example/')).to.equal(undefined)
    expect(via({HTTPS_PROXY: 'http://tls:1', REQUEST_METHOD: 'GET'}, 'https://r.example/')).to.equal('http://tls:1/')
  })

  it('takes a proxy without a scheme as http://', () => {
    expect(via({HTTPS_PROXY: 'proxy.corp:8080'}, 'https://r.example/')).to.equal('http://proxy.corp:8080/')
  })

  it('never proxies localhost or loopback addresses', () => {
    const env = {HTTP_PROXY: 'http://p:1', HTTPS_PROXY: 'http://p:1'}
    for (const url of ['https://localhost:5000/', 'http://127.0.0.1:5000/', 'http://127.9.9.9/', 'https://[::1]:5000/']) expect(via(env, url), url).to.equal(undefined)
    expect(via(env, 'https://10.0.0.1/')).to.equal('http://p:1/')
  })

  it('matches NO_PROXY entries: names with their subdomains, dotted and starred names, ports, IPs, CIDRs, *', () => {
    const cases: Array<[string, string, boolean]> = [
      ['example.com', 'https://example.com/', false],
      ['example.com', 'https://r.example.com/', false],
      ['example.com', 'https://notexample.com/', true],
      ['.example.com', 'https://example.com/', true],
      ['.example.com', 'https://r.example.com/', false],
      ['*.example.com', 'https://example.com/', true],
      ['*.example.com', 'https://r.example.com/', false],
      ['EXAMPLE.com', 'https://R.Example.COM/', false],
      ['example.com:5000', 'https://example.com:5000/', false],
      ['example.com:5000', 'https://example.com/', true],
      ['example.com:443', 'https://example.com/', false],
      ['10.1.2.3', 'https://10.1.2.3:5000/', false],
      ['10.0.0.0/8', 'https://10.200.0.1/', false],
      ['10.0.0.0/8', 'https://11.0.0.1/', true],
      ['fd00::/8', 'https://[fd12::1]/', false],
      ['[2001:db8::1]:5000', 'https://[2001:db8::1]:5000/', false],
      ['2001:db8::1', 'https://[2001:db8::1]:5000/', false],
      ['*', 'https://anything.example/', false],
      [' a.example , example.com ', 'https://example.com/', false],
      ['', 'https://example.com/', true],
    ]
    for (const [noProxy, url, proxied] of cases) {
      expect(via({HTTPS_PROXY: 'http://p:1', NO_PROXY: noProxy}, url) !== undefined, `NO_PROXY=${noProxy} ${url}`).to.equal(proxied)
    }

    expect(via({HTTPS_PROXY: 'http://p:1', no_proxy: 'example.com'}, 'https://example.com/')).to.equal(undefined)
    expect(via({HTTPS_PROXY: 'http://p:1', NO_PROXY: 'other.example', no_proxy: 'example.com'}, 'https://example.com/')).to.equal('http://p:1/')
  })

  it('refuses what is not an http:// proxy URL, naming the variable and never its password', () => {
    for (const [env, words] of [
      [{HTTPS_PROXY: 'socks5://u:pw-secret@h:1080'}, 'HTTPS_PROXY names a socks5 proxy (socks5://***:***@h:1080)'],
      [{https_proxy: 'https://u:pw-secret@h:443'}, 'https_proxy names a https proxy'],
      [{HTTP_PROXY: 'http://u:pw-secret@[nope'}, 'HTTP_PROXY is not a valid proxy URL'],
    ] as const) {
      expect(() => proxySettingsFromEnv(env)).to.throw(InputError, words)
      try {
        proxySettingsFromEnv(env)
      } catch (error) {
        expect((error as Error).message).to.not.include('pw-secret')
      }
    }
  })

  it('shows a proxy with its credentials masked', () => {
    expect(describeProxy(new URL('http://user:p%40ss@proxy:3128'))).to.equal('http://***:***@proxy:3128')
    expect(describeProxy(new URL('http://proxy:3128'))).to.equal('http://proxy:3128')
  })
})

describe('the CONNECT tunnel request', () => {
  it('brackets an IPv6 target and sends the proxy credentials as Basic Proxy-Authorization', async () => {
    // Stands for a proxy that refuses every tunnel: it only records the request head, so nothing
    // is ever connected to the (documentation-range) target.
    let head = ''
    const server = createServer((socket) => {
      socket.on('data', (chunk) => {
        head += chunk.toString('latin1')
        if (head.includes('\r\n\r\n')) socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxy = new URL(`http://us%40er:p%3Ass@127.0.0.1:${(server.address() as AddressInfo).port}`)
    const agent = new TunnelAgent(proxy, 5000)
    try {
      const error = await new Promise<Error | null>((resolve) => agent.createConnection({host: '2001:db8::1', port: 5000}, (failure) => resolve(failure)))
      const lines = head.split('\r\n')
      expect(lines[0]).to.equal('CONNECT [2001:db8::1]:5000 HTTP/1.1')
      expect(lines).to.include(`proxy-authorization: Basic ${Buffer.from('us@er:p:ss').toString('base64')}`)
      expect(error?.message).to.equal(`proxy http://***:***@127.0.0.1:${proxy.port} refused a tunnel to [2001:db8::1]:5000: 403 Forbidden`)
    } finally {
      agent.destroy()
      server.close()
    }
  })
})
