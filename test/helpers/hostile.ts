import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import type {AddressInfo, Socket} from 'node:net'

import {sharedPki} from '../fixtures/pki.js'

/**
 * A small in-process HTTP(S) server that misbehaves on purpose: malformed challenges, broken token
 * responses, resets, silence. It tests regshape's defences; it never stands in for a registry.
 */
export interface HostileServer {
  close(): Promise<void>
  host: string
  origin: string
  port: number
  requests: Array<{headers: IncomingMessage['headers']; method: string; url: string}>
}

export type Handler = (request: IncomingMessage, response: ServerResponse, server: HostileServer) => void

export async function startHostile(handler: Handler, options: {address?: string; tls?: boolean} = {}): Promise<HostileServer> {
  const sockets = new Set<Socket>()
  const state: HostileServer = {close: async () => {}, host: '', origin: '', port: 0, requests: []}
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    state.requests.push({headers: request.headers, method: request.method ?? '', url: request.url ?? ''})
    handler(request, response, state)
  }

  const pki = sharedPki()
  const server = options.tls ? createHttpsServer({cert: pki.serverCertPem, key: pki.serverKeyPem}, listener) : createServer(listener)
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const address = options.address ?? '127.0.0.1'
  await new Promise<void>((resolvePromise) => server.listen(0, address, resolvePromise))
  const {port} = server.address() as AddressInfo
  state.port = port
  state.host = `${address}:${port}`
  state.origin = `${options.tls ? 'https' : 'http'}://${state.host}`
  state.close = async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()))
  }

  return state
}

/** Answers GET /v2/ with a 401 and the given WWW-Authenticate value(s). */
export function challenge(value: string | string[]): Handler {
  return (request, response) => {
    if (request.url === '/v2/' && !request.headers.authorization) {
      response.writeHead(401, {'content-type': 'application/json', 'www-authenticate': value})
      response.end('{"errors":[{"code":"UNAUTHORIZED"}]}')
      return
    }

    response.writeHead(200, {'content-type': 'application/json'})
    response.end('{}')
  }
}
