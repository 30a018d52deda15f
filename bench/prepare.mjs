#!/usr/bin/env node
// `npm run bench`, step 1: make a clean checkout (after `npm ci`) ready to be measured.
// - the Debian packages behind what the bench starts and reads: the registry, htpasswd for its
//   bcrypt users, openssl for the token signer, GNU time for peak RSS, curl for the blob download
//   reference. Installed with apt-get
//   only when missing and when running as root; otherwise the exact apt-get line is printed.
//   skopeo is optional: its rows are skipped when it is not installed, never installed here.
// - a build (dist/, its bundles and oclif.manifest.json) when there is none or it is older than the sources,
//   so the bench never measures stale code, and never pays for a build it does not need.
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {ensureDebianPackages} from '../scripts/debian-packages.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** command on PATH (or absolute path) → Debian package providing it */
const needed = {
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  '/usr/bin/time': 'time',
  curl: 'curl',
}

ensureDebianPackages(needed, 'The bench')

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.error('bench: node_modules is missing; run `npm ci` first')
  process.exit(1)
}

function newestMtime(path) {
  const info = statSync(path)
  if (!info.isDirectory()) return info.mtimeMs
  let newest = info.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)))
  return newest
}

const outputs = ['dist/bundle/regshape.cjs', 'dist/bundle/startup.cjs', 'dist/cli.js', 'oclif.manifest.json'].map((p) => join(root, p))
const inputs = ['src', 'package.json', 'tsconfig.json', 'scripts/bundle.mjs'].map((p) => join(root, p))
const stale = outputs.some((p) => !existsSync(p)) || Math.max(...inputs.map(newestMtime)) > Math.min(...outputs.map((p) => statSync(p).mtimeMs))
if (stale) {
  console.error('bench: building (dist/ or oclif.manifest.json is missing or older than the sources)...')
  execFileSync('npm', ['run', 'build'], {cwd: root, stdio: ['ignore', 'ignore', 'inherit']})
}
