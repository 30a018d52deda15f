import {readFileSync, readdirSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {InputError} from '../errors.js'

/**
 * Per-host TLS the docker way: a directory named after the host (`host` or `host:port`, as the
 * registry is written) holding
 *   *.crt          CA certificates trusted for that host, beside the system roots;
 *   <name>.cert    a client certificate, with its key <name>.key (mutual TLS).
 *
 * Searched, first existing directory wins (as containers/image does, so a user's directory
 * overrides the system's rather than mixing with it):
 *   $XDG_CONFIG_HOME/containers/certs.d   (~/.config/...: podman, skopeo, buildah for a user)
 *   $XDG_CONFIG_HOME/docker/certs.d       (~/.config/...: rootless docker)
 *   /etc/containers/certs.d
 *   /etc/docker/certs.d
 */

export interface HostTls {
  /** PEM texts of the directory's *.crt files, in name order. */
  ca: string[]
  /** The first client pair in name order, when there is one. */
  cert?: string
  /** The directory these came from, for messages. */
  directory: string
  key?: string
}

export function certsDirRoots(env: NodeJS.ProcessEnv): string[] {
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return [join(configHome, 'containers', 'certs.d'), join(configHome, 'docker', 'certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d']
}

export class CertsDirectories {
  private readonly cache = new Map<string, HostTls | undefined>()

  constructor(private readonly roots: string[]) {}

  /** The TLS settings for `host[:port]` (a URL's host), read once per run. */
  forHost(hostPort: string): HostTls | undefined {
    if (!this.cache.has(hostPort)) this.cache.set(hostPort, this.read(hostPort))
    return this.cache.get(hostPort)
  }

  private read(hostPort: string): HostTls | undefined {
    // A host never names a path: no separators, no `..` (a URL's host cannot hold them anyway).
    if (/[/\\]/.test(hostPort) || hostPort.startsWith('.')) return undefined
    for (const root of this.roots) {
      const directory = join(root, hostPort)
      let names: string[]
      try {
        names = readdirSync(directory).sort()
      } catch (error) {
        const {code} = error as NodeJS.ErrnoException
        if (code === 'ENOENT' || code === 'ENOTDIR') continue
        throw new InputError(`cannot read ${directory}: ${code ?? String(error)}`)
      }

      return readHostDirectory(directory, names)
    }

    return undefined
  }
}

function readHostDirectory(directory: string, names: string[]): HostTls {
  const read = (name: string) => {
    try {
      return readFileSync(join(directory, name), 'utf8')
    } catch (error) {
      throw new InputError(`cannot read ${join(directory, name)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
  }

  const present = new Set(names)
  const tls: HostTls = {ca: [], directory}
  for (const name of names) {
    if (name.endsWith('.crt')) {
      tls.ca.push(read(name))
    } else if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`
      // docker's words: a lone half of a pair is an error, not something to skip quietly.
      if (!present.has(keyName)) throw new InputError(`missing key ${keyName} for client certificate ${name} in ${directory}; CA certificates must use the extension .crt`)
      if (tls.cert === undefined) {
        tls.cert = read(name)
        tls.key = read(keyName)
      }
    } else if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -'.key'.length)}.cert`
      if (!present.has(certName)) throw new InputError(`missing client certificate ${certName} for key ${name} in ${directory}`)
    }
  }

  return tls
}
