import type {ErrorObject} from 'ajv'

import {type Platform, parsePlatform} from '../content/descriptor.js'
import {type ImageRef, parseImageRef} from '../reference/image.js'
import {isLayoutRef, parseLayoutRef} from '../reference/layout.js'
import {type RegistryRef, parseRegistry} from '../reference/registry.js'
import {InputError, UsageError} from '../errors.js'
import {FileTooLargeError, NotRegularFileError, readRegularFile} from '../util/files.js'
import {terminalSafe} from '../util/text.js'
import {FilterError, type TagFilter, type TagFilterSpec, compileFilter} from './sync-filter.js'

/**
 * What a sync is asked to do: entries of a source, a destination and filters, from the command
 * line (`regshape sync SRC DST --include …`) or from a file (`regshape sync -f sync.yaml`):
 *
 *   sync:
 *     - source: registry.example.com/team/app       # one repository
 *       destination: mirror.example.com/team/app
 *       semver: ">=1.2 <2"
 *       latest: 5
 *     - source: registry.example.com/tools/*         # every repository under tools/ (catalog)
 *       destination: oci:/media/usb/tools            # one layout per repository under it
 *       include: ['v\d+\.\d+\.\d+', latest]
 *       exclude: ['.*-debug']
 *       platforms: [linux/amd64]
 *       referrers: true
 *
 * The file is YAML (or JSON), checked against SYNC_SCHEMA by Ajv; Ajv and the YAML parser are
 * the break chunk's, loaded only when a file is read. Every mistake is a UsageError (exit 2)
 * naming the entry and the field, found before any request.
 */

/** Where a sync reads: one repository, the repositories of a registry under a prefix, one layout, or the layouts under a directory. */
export type SyncSource =
  | {kind: 'catalog'; prefix: string; registry: RegistryRef}
  | {kind: 'layout'; path: string}
  | {kind: 'layouts'; path: string}
  | {kind: 'repository'; ref: ImageRef}

/**
 * Where it writes. For a source of one repository or layout: that repository (a bare registry:
 * the source's path) or that layout. For a source of many: a prefix that takes the place of the
 * source's (`path`, '' for none), or the directory that holds one layout per repository.
 */
export type SyncDestination = {kind: 'layout'; path: string} | {kind: 'registry'; path: string; registry: RegistryRef}

export interface SyncEntry {
  destination: SyncDestination
  filter: TagFilter
  platforms: Platform[]
  referrers: boolean
  /** How messages name the entry: its source, as written. */
  source: SyncSource
  sourceText: string
}

export interface SyncEntrySpec extends TagFilterSpec {
  destination: string
  platforms?: readonly string[]
  referrers?: boolean
  source: string
}

/** A sync file is read whole up to this size. */
export const MAX_SYNC_FILE_BYTES = 4 * 1024 * 1024

const stringOrList = {oneOf: [{minLength: 1, type: 'string'}, {items: {minLength: 1, type: 'string'}, minItems: 1, type: 'array'}]}

export const SYNC_SCHEMA = {
  $id: 'https://regshape.dev/schemas/sync.json',
  additionalProperties: false,
  properties: {
    sync: {
      items: {
        additionalProperties: false,
        properties: {
          destination: {minLength: 1, type: 'string'},
          exclude: stringOrList,
          include: stringOrList,
          latest: {minimum: 1, type: 'integer'},
          platforms: stringOrList,
          referrers: {type: 'boolean'},
          semver: {minLength: 1, type: 'string'},
          source: {minLength: 1, type: 'string'},
        },
        required: ['source', 'destination'],
        type: 'object',
      },
      minItems: 1,
      type: 'array',
    },
    version: {const: 1},
  },
  required: ['sync'],
  type: 'object',
}

/** `host/repo`, `host/prefix/*`, `host/*`, `oci:DIR` or `oci:DIR/*`. */
export function parseSyncSource(text: string): SyncSource {
  if (isLayoutRef(text)) {
    const ref = parseLayoutRef(text)
    if (ref.tag !== undefined || ref.digest !== undefined) throw new InputError(terminalSafe(`"${text}": a sync reads every tag of a layout; name the layout (oci:DIR), and choose tags with --include`))
    if (ref.path === '*' || ref.path.endsWith('/*')) return {kind: 'layouts', path: ref.path.slice(0, -2) || '.'}
    return {kind: 'layout', path: ref.path}
  }

  if (text.endsWith('/*')) {
    const rest = text.slice(0, -2)
    if (!rest.includes('/')) return {kind: 'catalog', prefix: '', registry: parseRegistry(rest)}
    const ref = parseImageRef(rest)
    if (ref.tag !== undefined || ref.digest !== undefined) throw new InputError(terminalSafe(`"${text}": a prefix of repositories has no tag or digest`))
    return {kind: 'catalog', prefix: ref.repository, registry: ref.registry}
  }

  const ref = parseImageRef(text)
  if (ref.tag !== undefined || ref.digest !== undefined) throw new InputError(terminalSafe(`"${text}": sync and copy --all-tags copy the tags of a repository: name the repository (host/repository), and choose tags with --include`))
  return {kind: 'repository', ref}
}

/** `host/repo` (or a prefix), `host` alone, or `oci:DIR`. */
export function parseSyncDestination(text: string): SyncDestination {
  if (isLayoutRef(text)) {
    const ref = parseLayoutRef(text)
    if (ref.tag !== undefined || ref.digest !== undefined) throw new InputError(terminalSafe(`"${text}": a sync's layout takes the source's tags; name the directory (oci:DIR)`))
    return {kind: 'layout', path: ref.path}
  }

  if (!text.includes('/')) return {kind: 'registry', path: '', registry: parseRegistry(text)}
  const ref = parseImageRef(text)
  if (ref.tag !== undefined || ref.digest !== undefined) throw new InputError(terminalSafe(`"${text}": a sync's destination takes the source's tags; name the repository`))
  return {kind: 'registry', path: ref.repository, registry: ref.registry}
}

/**
 * One entry, checked whole: its endpoints, filters and platforms. `fail` turns a field's problem
 * into the error to throw (a usage error naming the flag, or the file's entry and field).
 */
export async function parseSyncEntry(spec: SyncEntrySpec, fail: (field: string, problem: string) => Error): Promise<SyncEntry> {
  const field = <R>(name: string, parse: () => R): R => {
    try {
      return parse()
    } catch (error) {
      if (error instanceof InputError || error instanceof UsageError) throw fail(name, error.message)
      throw error
    }
  }

  const source = field('source', () => parseSyncSource(spec.source))
  const destination = field('destination', () => parseSyncDestination(spec.destination))
  if (source.kind === 'layout' && destination.kind === 'registry' && destination.path === '') {
    throw fail('destination', `${JSON.stringify(spec.destination)} names no repository, and a layout has no path to take: name one (host/repository)`)
  }

  const platforms = field('platforms', () =>
    (spec.platforms ?? []).map((text) => {
      try {
        return parsePlatform(text)
      } catch (error) {
        throw new InputError((error as Error).message)
      }
    }),
  )
  let filter: TagFilter
  try {
    filter = await compileFilter(spec)
  } catch (error) {
    if (error instanceof FilterError) throw fail(error.field, error.message)
    throw error
  }

  return {destination, filter, platforms, referrers: spec.referrers ?? false, source, sourceText: spec.source}
}

/** The entries of a sync file; a UsageError (exit 2) naming the entry and the field when one is wrong. */
export async function loadSyncFile(file: string): Promise<SyncEntry[]> {
  let text: string
  try {
    text = (await readRegularFile(file, MAX_SYNC_FILE_BYTES)).bytes.toString('utf8')
  } catch (error) {
    if (error instanceof NotRegularFileError) throw new UsageError(`-f ${file}: ${error.kind}, not a regular file`)
    if (error instanceof FileTooLargeError) throw new UsageError(`-f ${file}: larger than ${MAX_SYNC_FILE_BYTES / 1024 / 1024} MiB; regshape will not read it`)
    throw new UsageError(`-f ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`)
  }

  return parseSyncFile(text, file)
}

export async function parseSyncFile(text: string, file = 'sync.yaml'): Promise<SyncEntry[]> {
  const [{Ajv}, {parse: parseYaml}] = await Promise.all([import('ajv'), import('yaml')])
  let document: unknown
  try {
    document = parseYaml(text, {prettyErrors: true, uniqueKeys: true})
  } catch (error) {
    const {linePos, message} = error as {linePos?: Array<{col: number; line: number}>; message: string}
    const where = linePos?.[0] ? ` (line ${linePos[0].line}, column ${linePos[0].col})` : ''
    throw new UsageError(terminalSafe(`${file}: not valid YAML or JSON${where}: ${message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`))
  }

  const ajv = new Ajv({allErrors: false, strict: true})
  const validate = ajv.compile(SYNC_SCHEMA)
  if (!validate(document)) throw new UsageError(terminalSafe(`${file}: ${describe(validate.errors![0]!, document)}`))
  const raw = (document as {sync: Array<Record<string, unknown>>}).sync
  const list = (value: unknown) => (value === undefined ? undefined : Array.isArray(value) ? (value as string[]) : [value as string])
  return Promise.all(
    raw.map((entry, index) =>
      parseSyncEntry(
        {
          destination: entry.destination as string,
          exclude: list(entry.exclude),
          include: list(entry.include),
          latest: entry.latest as number | undefined,
          platforms: list(entry.platforms),
          referrers: entry.referrers as boolean | undefined,
          semver: entry.semver as string | undefined,
          source: entry.source as string,
        },
        (field, problem) => new UsageError(terminalSafe(`${file}: ${entryLabel(index, entry)}: field "${field}": ${problem}`)),
      ),
    ),
  )
}

function entryLabel(index: number, entry: unknown): string {
  const source = (entry as {source?: unknown} | undefined)?.source
  return `entry ${index + 1}${typeof source === 'string' ? ` (source ${JSON.stringify(source)})` : ''}`
}

/** Ajv's first error as `entry 2 (source "…"): field "latest": must be >= 1`. */
function describe(error: ErrorObject, document: unknown): string {
  const path = error.instancePath.split('/').slice(1)
  const params = error.params as {additionalProperty?: string; missingProperty?: string}
  let where = 'the file'
  let field = path
  if (path[0] === 'sync' && path.length >= 2) {
    const index = Number(path[1])
    where = entryLabel(index, (document as {sync: unknown[]}).sync[index])
    field = path.slice(2)
  } else if (path[0] === 'sync') {
    where = 'field "sync"'
    field = []
  }

  if (params.additionalProperty !== undefined) field = [...field, params.additionalProperty]
  if (params.missingProperty !== undefined) field = [...field, params.missingProperty]
  // An item of a list is named by the list (`include`), not by its position.
  field = field.filter((part) => !/^\d+$/.test(part))
  const problem =
    error.keyword === 'additionalProperties'
      ? where === 'the file'
        ? 'not a field of a sync file (sync, version)'
        : 'not a field of an entry (source, destination, include, exclude, semver, latest, platforms, referrers)'
      : error.keyword === 'required'
        ? 'missing'
        : error.keyword === 'oneOf'
          ? 'must be a string or a list of strings'
          : error.keyword === 'type' && path.length === 0
            ? 'must be a mapping with a "sync" list'
            : (error.message ?? 'invalid')
  return `${where}: ${field.length === 0 ? '' : `field "${field.join('.')}": `}${problem}`
}
