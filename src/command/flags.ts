import {Args, Flags} from '@oclif/core'

import {type ImageRef, type ParseImageOptions, isRepositoryPath, parseDigest, parseImageRef} from '../reference/image.js'
import {type RegistryRef, parseRegistry} from '../reference/registry.js'
import {InputError, UsageError} from '../errors.js'

/**
 * The flags and arguments that name what a registry command works on, shared by every command of
 * the registry groups: the reference may come positionally (as crane, oras and regctl take it) or
 * through upstream's option, never both (registry.md §1). A reference that does not parse is a
 * usage error (exit 2), raised before any request.
 */

export const referenceArgs = {
  /** The positional image reference, `[host[:port]/]path[:tag][@digest]`. */
  // ignoreStdin: oclif would otherwise read a missing argument from piped stdin, which for
  // `auth login --password-stdin` is the password.
  image: (description = 'Image reference, host[:port]/repository[:tag][@digest] (instead of -i)') => Args.string({description, ignoreStdin: true}),
  /** The positional registry of registry-scoped commands. */
  registry: (description = 'Registry hostname, host[:port] (instead of -r)') => Args.string({description, ignoreStdin: true}),
}

export const referenceFlags = {
  /** Upstream's `-i/--image-ref`. */
  imageRef: (description = 'Image reference with embedded registry (e.g. registry/repo:tag, registry/repo@sha256:...)') =>
    Flags.string({char: 'i', description, helpValue: 'REF'}),
  /** Upstream's `-r/--registry`, for registry-scoped commands. */
  registry: (description = 'Registry hostname (e.g. registry.example.com or localhost:5000)') => Flags.string({char: 'r', description, helpValue: 'HOST'}),
  /** Upstream's `-r/--repo` of the blob group: `registry/name`, no tag, no digest. */
  repo: (description = 'Repository in registry/name format (no tag, no digest)') => Flags.string({char: 'r', description, helpValue: 'REPO'}),
  /** Upstream's `-d/--digest` of the blob group. */
  digest: (description = 'Blob digest in algorithm:hex format (sha256:...)') => Flags.string({char: 'd', description, helpValue: 'DIGEST'}),
  /** `-o/--output FILE`, where upstream has it. */
  output: (description = 'Write the output to this file instead of stdout') => Flags.string({char: 'o', description, helpValue: 'FILE'}),
  /** `--accept`, for manifest reads. */
  accept: () => Flags.string({description: 'Send this Accept header instead of every OCI and Docker manifest type', helpValue: 'MEDIA-TYPE'}),
}

const messages = {
  both: (option: string) => `give the reference once: as the argument or with ${option}, not both`,
  neither: (option: string, example: string) => `name the target: ${example} (or ${option} ...)`,
  repoHasReference: 'invalid --repo: give registry/name only; the digest goes in --digest',
}

/** Turns a reference parse failure into a usage error: the command line is what is wrong. */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof InputError) throw new UsageError(error.message)
    throw error
  }
}

/** One of the two forms, exactly. */
export function oneOf(positional: string | undefined, option: string | undefined, optionName: string, example: string): string {
  if (positional !== undefined && option !== undefined) throw new UsageError(messages.both(optionName))
  const given = positional ?? option
  if (given === undefined) throw new UsageError(messages.neither(optionName, example))
  return given
}

/** The registry of a command that takes `HOST` or `-r HOST` (ping, auth login, auth logout), unparsed. */
export function registryName(positional: string | undefined, option: string | undefined, command: string): string {
  if (positional !== undefined && option !== undefined) throw new UsageError('give the registry once: as the argument or with -r, not both')
  const given = positional ?? option
  if (given === undefined) throw new UsageError(`name the registry: regshape ${command} <registry> (or -r <registry>)`)
  return given
}

/** The image reference of a command that takes `REF` or `-i REF`. */
export function imageRefFrom(positional: string | undefined, option: string | undefined, options: ParseImageOptions & {example?: string} = {}): ImageRef {
  const input = oneOf(positional, option, '-i/--image-ref', options.example ?? 'regshape <command> host/repository[:tag]')
  return asUsage(() => parseImageRef(input, options))
}

/** The registry of a registry-scoped command (`HOST` or `-r HOST`). */
export function registryFrom(positional: string | undefined, option: string | undefined, example: string): RegistryRef {
  const input = oneOf(positional, option, '-r/--registry', example)
  return asUsage(() => parseRegistry(input))
}

/**
 * A blob's repository and digest: `host/repo@sha256:…` positionally, or upstream's
 * `-r host/repo -d sha256:…`; the two forms do not mix.
 */
export function blobRefFrom(positional: string | undefined, repo: string | undefined, digest: string | undefined, example: string): ImageRef & {digest: string} {
  if (positional !== undefined && (repo !== undefined || digest !== undefined)) throw new UsageError(messages.both('-r/--repo and -d/--digest'))
  if (positional !== undefined) return asUsage(() => parseImageRef(positional, {requireDigest: true})) as ImageRef & {digest: string}
  if (repo === undefined || digest === undefined) throw new UsageError(messages.neither('-r/--repo with -d/--digest', example))
  const ref = asUsage(() => parseImageRef(repo))
  if (ref.tag !== undefined || ref.digest !== undefined) throw new UsageError(messages.repoHasReference)
  asUsage(() => parseDigest(digest))
  return {...ref, digest, input: `${repo}@${digest}`}
}

/**
 * The repository a blob goes to (`blob upload`): `host/repo` positionally or with `-r`, no tag. A
 * digest written in the reference (`host/repo@sha256:…`) is the expected one, as `-d` would give it.
 */
export function uploadRefFrom(positional: string | undefined, repo: string | undefined, digest: string | undefined, example: string): ImageRef {
  const input = oneOf(positional, repo, '-r/--repo', example)
  const ref = asUsage(() => parseImageRef(input))
  if (ref.tag !== undefined) throw new UsageError(`invalid reference "${input}": a blob is not tagged; give host/repository (and the digest with -d, if known)`)
  if (repo !== undefined && ref.digest !== undefined) throw new UsageError(messages.repoHasReference)
  if (ref.digest !== undefined && digest !== undefined) throw new UsageError('give the digest once: in the reference or with -d/--digest, not both')
  if (digest !== undefined) asUsage(() => parseDigest(digest))
  return {...ref, digest: ref.digest ?? digest}
}

/** A repository path on the same registry (`--from-repo team/base`), validated before any request. */
export function repositoryPathFrom(path: string, flag: string): string {
  if (!isRepositoryPath(path)) throw new UsageError(`invalid ${flag} "${path}": give a repository path on the same registry (lowercase components, e.g. team/base)`)
  return path
}
