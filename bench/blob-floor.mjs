#!/usr/bin/env node
// The floor of a verified blob download in Node, without regshape: GET one URL, hash every byte
// with sha256 and write it to FILE, through one of several clients, so the bench can show where
// the time goes (the issue measured these by hand; this keeps the measurement repeatable).
//
//   node bench/blob-floor.mjs MODE URL FILE [BUFFER_BYTES]
//
// MODE: net   a plain net (or tls) socket with one reused read buffer (`onread`), the response
//             headers skipped, each read hashed and writeSync'd in the read callback;
//       http  node:http, each 'data' chunk hashed and writeSync'd;
//       got   got's stream, the same.
// Credentials: the Authorization header value in $FLOOR_AUTHORIZATION, sent at once.
// Prints the hex digest.
import {createHash} from 'node:crypto'
import {closeSync, openSync, writeSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {connect as netConnect} from 'node:net'
import {connect as tlsConnect} from 'node:tls'

const [mode, url, file, bufferArg] = process.argv.slice(2)
const target = new URL(url)
const authorization = process.env.FLOOR_AUTHORIZATION
const hash = createHash('sha256')
const fd = openSync(file, 'w')
const done = () => {
  closeSync(fd)
  process.stdout.write(`${hash.digest('hex')}\n`)
}

const consume = (chunk) => {
  hash.update(chunk)
  writeSync(fd, chunk)
}

if (mode === 'net') {
  const size = Number(bufferArg ?? 4 * 1024 * 1024)
  const buffer = Buffer.allocUnsafe(size)
  let head = Buffer.alloc(0)
  let remaining = -1
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80))
  const options = {
    host: target.hostname,
    port,
    onread: {
      buffer,
      callback(length, buf) {
        let chunk = buf.subarray(0, length)
        if (remaining < 0) {
          head = Buffer.concat([head, chunk])
          const end = head.indexOf('\r\n\r\n')
          if (end < 0) return
          const text = head.subarray(0, end).toString('latin1')
          if (!/^HTTP\/1\.1 200/.test(text)) throw new Error(text.split('\r\n')[0])
          remaining = Number(/\r\ncontent-length: *(\d+)/i.exec(text)[1])
          chunk = head.subarray(end + 4)
        }

        if (chunk.length > 0) consume(chunk)
        remaining -= chunk.length
        if (remaining <= 0) {
          socket.destroy()
          done()
        }
      },
    },
  }
  const socket = target.protocol === 'https:' ? tlsConnect({...options, rejectUnauthorized: false, servername: target.hostname}) : netConnect(options)
  socket.on('error', (error) => {
    throw error
  })
  socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}User-Agent: floor\r\n\r\n`)
} else if (mode === 'http') {
  httpRequest(target, {headers: authorization ? {authorization} : {}}, (response) => {
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`)
    response.on('data', consume)
    response.on('end', done)
  }).end()
} else if (mode === 'got') {
  const {default: got} = await import('got')
  const stream = got.stream(url, {headers: authorization ? {authorization} : {}, retry: {limit: 0}, decompress: false})
  stream.on('data', consume)
  stream.on('end', done)
  stream.on('error', (error) => {
    throw error
  })
} else {
  process.stderr.write('usage: blob-floor.mjs net|http|got URL FILE [BUFFER_BYTES]\n')
  process.exit(2)
}
