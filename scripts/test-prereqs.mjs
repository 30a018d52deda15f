#!/usr/bin/env node
// Makes a fresh machine ready for `npm test`: the Debian packages behind the real servers the
// suite starts (registry, credential helper, TLS tools), and the npm dependencies. Installs what
// is missing when it can (root with apt-get), and says exactly what is missing when it cannot.
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {ensureDebianPackages} from './debian-packages.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** command on PATH → Debian package providing it */
const needed = {
  'docker-credential-pass': 'golang-docker-credential-helpers',
  'docker-registry': 'docker-registry',
  gpg: 'gnupg',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  pass: 'pass',
  python3: 'python3',
  setpriv: 'util-linux',
  // a witness: the registry read commands must agree with skopeo inspect
  skopeo: 'skopeo',
  // witnesses of the layouts regshape writes (test/commands/layout.test.ts)
  'oci-image-tool': 'oci-image-tool',
  umoci: 'umoci',
  // zstd layers: compressed and decompressed by the zstd program (node:zlib has no zstd on Node 20)
  zstd: 'zstd',
  // the proxy tests (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) go through a real squid
  '/usr/sbin/squid': 'squid',
  // the completion tests drive a real interactive zsh (bash is always there)
  zsh: 'zsh',
  // test/hardening/durable-writes.test.ts reads the fsync and rename calls of a run
  strace: 'strace',
  // the probe's HTML reports are looked at in a real headless browser (test/helpers/chromium.ts),
  // driven by playwright-core: Debian's chromium, never a browser build downloaded by Playwright
  chromium: 'chromium',
}

// npm run test:packaging also unpacks the standalone tarballs and checks the Homebrew formula
if (process.argv.includes('--packaging')) Object.assign(needed, {ruby: 'ruby', tar: 'tar'})

ensureDebianPackages(needed, 'The test suite')

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.error('Installing npm dependencies (npm ci)...')
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], {cwd: root, stdio: ['ignore', 'inherit', 'inherit']})
}
