// Installs the Debian packages a script needs, when they are missing: with apt-get when running
// as root (refreshing the package lists only if the first attempt fails), otherwise by printing
// the exact apt-get line and exiting. Shared by the test prerequisites and the bench.
import {execFileSync, spawnSync} from 'node:child_process'

export const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], {stdio: 'ignore'}).status === 0

/** `needed` maps a command on PATH (or an absolute path) to the Debian package providing it. */
export function ensureDebianPackages(needed, who) {
  const missing = [...new Set(Object.entries(needed).filter(([command]) => !onPath(command)).map(([, pkg]) => pkg))]
  if (missing.length === 0) return
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    console.error(`${who} needs these Debian packages: ${missing.join(' ')}\nInstall them with: sudo apt-get install -y ${missing.join(' ')}`)
    process.exit(1)
  }

  console.error(`${who}: installing ${missing.join(' ')} with apt-get...`)
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'},
      stdio: ['ignore', 'ignore', 'inherit'],
    }).status === 0
  if (install()) return
  execFileSync('apt-get', ['update'], {stdio: ['ignore', 'ignore', 'inherit']})
  if (!install()) {
    console.error(`apt-get could not install ${missing.join(' ')}`)
    process.exit(1)
  }
}
