import {join} from 'node:path'

import {DockerConfigError} from '../errors.js'
import {type RegistryRef, normalizeStoredKey} from '../reference/registry.js'
import {FileTooLargeError, NotRegularFileError, readRegularFile} from '../util/files.js'
import {type StoredCredentials, credentialsFromEntry} from './credential-store.js'
import {type AuthEntry, MAX_CONFIG_BYTES, describeFsError} from './docker-config.js'

/**
 * The containers tools' auth.json (podman, skopeo, buildah): read as the resolution chain's last
 * file source, never written. regshape's logins go to Docker's config, as before; a podman login
 * is still found.
 *
 * Its path, as containers/image finds it: REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/<uid>/auth.json (Linux, where
 * XDG_RUNTIME_DIR is unset: root in a container, say). A missing file holds nothing.
 *
 * Only `auths` entries keyed by a registry (`host[:port]`, `docker.io` for Docker Hub, legacy
 * `https://host`) are used: the resolution chain is per registry, so an entry for one namespace
 * (`host/team`) is not applied to the whole registry. Its `credHelpers` are not run.
 *
 * Read as config.json is (util/files.ts): only a regular file, up to the same size, so that a FIFO
 * or a link to /dev/zero at that path neither hangs the run nor fills memory.
 */

export function containersAuthPath(env: NodeJS.ProcessEnv, uid: number | undefined = process.getuid?.()): string | undefined {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json')
  return process.platform === 'linux' && uid !== undefined ? `/run/containers/${uid}/auth.json` : undefined
}

export interface ContainersAuthEntry {
  credentials: StoredCredentials
  /** The key as stored. */
  key: string
  /** The canonical registry key it stands for. */
  registry: string
}

export class ContainersAuthFile {
  private loaded?: Promise<ContainersAuthEntry[]>

  constructor(readonly path: string) {}

  /** Every usable registry entry, read once per run. */
  entries(): Promise<ContainersAuthEntry[]> {
    this.loaded ??= this.read()
    return this.loaded
  }

  /** The entry for a registry: its canonical spelling first, then another one of the same host. */
  async find(ref: RegistryRef): Promise<ContainersAuthEntry | undefined> {
    const matching = (await this.entries()).filter((entry) => entry.registry === ref.key)
    return matching.find((entry) => entry.key === ref.key) ?? matching[0]
  }

  private async read(): Promise<ContainersAuthEntry[]> {
    const file = `the containers auth file ${this.path}`
    let text: string
    try {
      text = (await readRegularFile(this.path, MAX_CONFIG_BYTES)).bytes.toString('utf8')
    } catch (error) {
      // In config.json's words (docker-config.ts), but never "replaced": this file is only read.
      if (error instanceof NotRegularFileError) {
        if (error.kind === 'a directory') throw new DockerConfigError(`${file} is a directory, not a file`, this.path)
        throw new DockerConfigError(`${file} is ${error.kind}, not a regular file; regshape will not read it`, this.path)
      }

      if (error instanceof FileTooLargeError) throw new DockerConfigError(`${file} is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB; regshape will not read it`, this.path)
      const {code} = error as NodeJS.ErrnoException
      if (code === 'ENOENT' || code === 'ENOTDIR') return []
      throw new DockerConfigError(`${file} cannot be read: ${describeFsError(error)}`, this.path, {cause: error})
    }

    let data: unknown
    try {
      data = JSON.parse(text.replace(/^\uFEFF/, ''))
    } catch {
      throw new DockerConfigError(`the containers auth file ${this.path} is not valid JSON`, this.path)
    }

    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new DockerConfigError(`the containers auth file ${this.path} is not a JSON object`, this.path)
    const auths = (data as {auths?: unknown}).auths
    if (auths === undefined || auths === null) return []
    if (typeof auths !== 'object' || Array.isArray(auths)) throw new DockerConfigError(`"auths" in the containers auth file ${this.path} is not an object`, this.path)
    const entries: ContainersAuthEntry[] = []
    for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
      // A namespaced key (`host/team/app`) is for part of a registry: not for the whole of it.
      if (key.replace(/^[a-z][a-z\d+.-]*:\/\//i, '').replace(/\/$/, '').includes('/') && !key.endsWith('/v1/')) continue
      const registry = normalizeStoredKey(key)
      if (registry === undefined || entry === null || typeof entry !== 'object' || Array.isArray(entry)) continue
      const credentials = credentialsFromEntry(entry as AuthEntry)
      if (credentials) entries.push({credentials, key, registry})
    }

    return entries
  }
}
