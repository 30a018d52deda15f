import {createServer, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {expect} from 'chai'

import {parseRegistry} from '../../../src/reference/registry.js'
import {Transport} from '../../../src/transport/transport.js'

/**
 * The auth stage (src/transport/stages/auth.ts) against a node:http server standing for a Basic
 * registry that counts failed logins, as registries that lock an account after N of them do
 * (distribution's access log does not show what Authorization a request carried).
 */
describe('transport: the auth stage', () => {
  let server: Server
  let host: string
  const seen: Array<string | undefined> = []

  before(async () => {
    server = createServer((request: IncomingMessage, response) => {
      seen.push(request.headers.authorization)
      const expected = `Basic ${Buffer.from('alice:right').toString('base64')}`
      if (request.headers.authorization === expected) {
        response.writeHead(200, {'content-type': 'application/json'}).end('{}')
        return
      }

      response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"'}).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(() => {
    server.close()
  })

  it('sends refused Basic credentials once per request, never again with the same password', async () => {
    const transport = await Transport.create({retries: 0})
    try {
      const ref = parseRegistry(`http://${host}`)
      const wrong = async () => ({password: 'wrong', username: 'alice'})
      // First request: without credentials (the challenge is learnt), then with them once.
      seen.length = 0
      expect((await transport.request(ref, {method: 'GET', operation: 'ping', path: '/v2/'}, wrong)).status).to.equal(401)
      expect(seen.map((value) => (value === undefined ? 'none' : 'basic'))).to.deep.equal(['none', 'basic'])
      // Next request, the challenge known: the credentials go once, and the refusal is the answer.
      seen.length = 0
      expect((await transport.request(ref, {method: 'GET', operation: 'tag.list', path: '/v2/team/app/tags/list'}, wrong)).status).to.equal(401)
      expect(seen.map((value) => (value === undefined ? 'none' : 'basic'))).to.deep.equal(['basic'])
      // The right ones still work.
      expect((await transport.request(ref, {method: 'GET', operation: 'tag.list', path: '/v2/team/app/tags/list'}, async () => ({password: 'right', username: 'alice'}))).status).to.equal(200)
    } finally {
      transport.close()
    }
  })
})
