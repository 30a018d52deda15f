import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {inflateSync} from 'node:zlib'

import {type BrowserContext, chromium} from 'playwright-core'

/**
 * A real headless browser for the HTML reports: Debian's chromium (scripts/test-prereqs.mjs
 * installs it), driven by playwright-core, never a browser build downloaded by Playwright. Each
 * run has a fresh profile and nothing in the background that would reach the network.
 */
export const CHROMIUM = '/usr/bin/chromium'

export async function withBrowser<T>(work: (context: BrowserContext) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), 'regshape-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    executablePath: CHROMIUM,
    headless: true,
    viewport: {height: 800, width: 1280},
  })
  try {
    return await work(context)
  } finally {
    await context.close()
    rmSync(profile, {force: true, recursive: true})
  }
}

/** The average colour of a PNG screenshot (8-bit RGB or RGBA, not interlaced), as [r, g, b]. */
export function averageColour(png: Buffer): [number, number, number] {
  const width = png.readUInt32BE(16)
  const height = png.readUInt32BE(20)
  const colourType = png[25]
  const channels = colourType === 6 ? 4 : colourType === 2 ? 3 : Number.NaN
  if (png[24] !== 8 || Number.isNaN(channels) || png[28] !== 0) throw new Error('not an 8-bit RGB(A) PNG')
  const chunks: Buffer[] = []
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at)
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') chunks.push(png.subarray(at + 8, at + 8 + length))
    at += length + 12
  }

  const raw = inflateSync(Buffer.concat(chunks))
  const stride = width * channels
  const previous = Buffer.alloc(stride)
  const line = Buffer.alloc(stride)
  const sum = [0, 0, 0]
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    const data = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const left = x >= channels ? line[x - channels]! : 0
      const up = previous[x]!
      const upLeft = x >= channels ? previous[x - channels]! : 0
      const paeth = () => {
        const p = left + up - upLeft
        const [a, b, c] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)]
        return a <= b && a <= c ? left : b <= c ? up : upLeft
      }

      const predictor = [0, left, up, (left + up) >> 1, paeth()][filter]!
      line[x] = (data[x]! + predictor) & 0xff
    }

    for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) sum[c]! += line[x * channels + c]!
    line.copy(previous)
  }

  return sum.map((value) => Math.round(value / (width * height))) as [number, number, number]
}
