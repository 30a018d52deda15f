#!/usr/bin/env node
// Makes a fresh machine ready for `npm test`: the Debian packages behind the real servers the
// suite starts (registry, credential helper, TLS tools), and the npm dependencies. Installs what
// is missing when it can (root with apt-get), and says exactly what is missing when it cannot.
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

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
  // the completion tests drive a real interactive zsh (bash is always there)
  zsh: 'zsh',
}

// npm run test:packaging also unpacks the standalone tarballs and checks the Homebrew formula
if (process.argv.includes('--packaging')) Object.assign(needed, {ruby: 'ruby', tar: 'tar'})

const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], {stdio: 'ignore'}).status === 0
const missing = [...new Set(Object.entries(needed).filter(([command]) => !onPath(command)).map(([, pkg]) => pkg))]

if (missing.length > 0) {
  const canInstall = process.getuid?.() === 0 && onPath('apt-get')
  if (!canInstall) {
    console.error(`The test suite needs these Debian packages: ${missing.join(' ')}\nInstall them with: sudo apt-get install -y ${missing.join(' ')}`)
    process.exit(1)
  }

  console.error(`Installing ${missing.join(' ')} with apt-get...`)
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'},
      stdio: ['ignore', 'ignore', 'inherit'],
    }).status === 0
  if (!install()) {
    execFileSync('apt-get', ['update'], {stdio: ['ignore', 'ignore', 'inherit']})
    if (!install()) {
      console.error(`apt-get could not install ${missing.join(' ')}`)
      process.exit(1)
    }
  }
}

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.error('Installing npm dependencies (npm ci)...')
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], {cwd: root, stdio: ['ignore', 'inherit', 'inherit']})
}
