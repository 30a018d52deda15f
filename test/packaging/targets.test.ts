/**
 * Every standalone target (scripts/release-layout.mjs TARGETS) as built by npm run pack:tarballs:
 * the Node binary inside each tarball is an executable for that tarball's OS and CPU, read from
 * its own header (ELF e_machine, Mach-O cputype), and is the Node version the tarballs bundle;
 * the Homebrew formula names each tarball under its on_macos/on_linux + on_arm/on_intel block with
 * that file's sha256. Only the host's tarball can be run here (standalone.test.ts runs it).
 */
import {execFile, execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, openSync, readFileSync, readSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'chai'

// @ts-expect-error: a plain .mjs module of the build scripts, without declarations
import {TARGETS} from '../../scripts/release-layout.mjs'
import {BUNDLED_NODE, RELEASE_DIR, releaseTarball, unpack, VERSION} from './helpers.js'

const ALL_TARGETS = Object.keys(TARGETS as Record<string, unknown>).sort()
const HOMEBREW_PLATFORM: Record<string, string> = {'darwin-arm64': 'macos-arm', 'darwin-x64': 'macos-intel', 'linux-arm64': 'linux-arm', 'linux-x64': 'linux-intel'}
const STUB = join(dirname(fileURLToPath(import.meta.url)), 'formula_stub.rb')

/** OS and CPU of an executable, from the first bytes of its header. */
function executableKind(file: string): string {
  const header = Buffer.alloc(64)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, header, 0, header.length, 0)
  } finally {
    closeSync(fd)
  }

  if (header.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    // EI_CLASS 2: 64-bit; EI_DATA 1: little-endian; e_type 2 (EXEC) or 3 (DYN); e_machine at 18
    const bits = header[4] === 2 ? '64' : '32'
    const machine = {0x3e: 'x86_64', 0xb7: 'aarch64'}[header.readUInt16LE(18)] ?? `machine 0x${header.readUInt16LE(18).toString(16)}`
    return `ELF${bits} ${header[5] === 1 ? 'LE' : 'BE'} type ${header.readUInt16LE(16)} ${machine}`
  }

  if (header.readUInt32LE(0) === 0xfe_ed_fa_cf) {
    // 64-bit Mach-O, little-endian: cputype at 4 (CPU_ARCH_ABI64 | x86 7 / arm 12), filetype at 12 (2: MH_EXECUTE)
    const cpu = {0x01_00_00_07: 'x86_64', 0x01_00_00_0c: 'arm64'}[header.readUInt32LE(4)] ?? `cputype 0x${header.readUInt32LE(4).toString(16)}`
    return `Mach-O64 type ${header.readUInt32LE(12)} ${cpu}`
  }

  return `unknown (${header.subarray(0, 4).toString('hex')})`
}

const EXPECTED_KIND: Record<string, string> = {
  'darwin-arm64': 'Mach-O64 type 2 arm64',
  'darwin-x64': 'Mach-O64 type 2 x86_64',
  'linux-arm64': 'ELF64 LE type 2 aarch64',
  'linux-x64': 'ELF64 LE type 2 x86_64',
}

describe('standalone tarballs for every target', () => {
  it('covers darwin-arm64, darwin-x64, linux-arm64 and linux-x64', () => {
    expect(ALL_TARGETS).to.deep.equal(['darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64'])
  })

  for (const target of ['darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64']) {
    it(`${target}: bin/node is an executable for ${EXPECTED_KIND[target]}, of Node ${BUNDLED_NODE}`, function () {
      this.timeout(120_000)
      const node = join(unpack(releaseTarball(target)), 'regshape', 'bin', 'node')
      expect(executableKind(node)).to.equal(EXPECTED_KIND[target])
      // process.version is compiled in as "v<major>.<minor>.<patch>"; no other release's string is
      expect(readFileSync(node).includes(`v${BUNDLED_NODE}\0`)).to.equal(true)
      const launcher = readFileSync(join(dirname(node), 'regshape'), 'utf8')
      expect(launcher).to.include('scripts/tarball-launcher.mjs')
    })
  }

  it('the Homebrew formula names each tarball with its sha256, under its own OS and CPU block', async function () {
    this.timeout(60_000)
    const formula = join(RELEASE_DIR, 'Formula', 'regshape.rb')
    const summary = await new Promise<{platforms: Record<string, {sha256: string; url: string}>}>((resolve, reject) => {
      execFile('ruby', ['-w', STUB, formula, RELEASE_DIR], (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(JSON.parse(stdout))))
    })
    expect(Object.keys(summary.platforms).sort()).to.deep.equal(Object.values(HOMEBREW_PLATFORM).sort())
    for (const target of ALL_TARGETS) {
      const entry = summary.platforms[HOMEBREW_PLATFORM[target]]
      expect(entry.url, target).to.match(new RegExp(`/regshape-${VERSION}-${target}\\.tar\\.gz$`))
      expect(entry.sha256, target).to.equal(createHash('sha256').update(readFileSync(releaseTarball(target))).digest('hex'))
    }

    // and SHA256SUMS agrees
    const sums = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], {cwd: RELEASE_DIR, encoding: 'utf8'})
    for (const target of ALL_TARGETS) expect(sums).to.include(`regshape-${VERSION}-${target}.tar.gz: OK`)
  })
})
