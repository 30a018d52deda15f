import {UsageError} from '../../errors.js'
import {readRegularFile} from '../../util/files.js'
import {AREAS, LEVELS} from './case.js'

/**
 * `--config probe.yaml`: everything a probe flag can say, in one file a CI job commits. Its keys
 * are the flags' names; a flag given on the command line wins over the file. A password is never
 * written in the file: `reader-password-env` names the environment variable that holds it.
 *
 *   repository: registry.example.com/scratch/probe
 *   level: must
 *   skip: [robust-*]
 *   junit: probe.xml
 *   reader-username: ci-reader
 *   reader-password-env: PROBE_READER_PASSWORD
 */

export interface ProbeConfig {
  area?: string[]
  'ca-file'?: string
  case?: string[]
  html?: string
  image?: string
  insecure?: boolean
  junit?: string
  'large-blob-size'?: number | string
  level?: string
  'mount-source'?: string
  'read-only'?: boolean
  'reader-password-env'?: string
  'reader-username'?: string
  repository?: string
  skip?: string[]
}

const list = {items: {minLength: 1, type: 'string'}, type: 'array'}
const text = {minLength: 1, type: 'string'}

export const CONFIG_SCHEMA = {
  additionalProperties: false,
  properties: {
    area: {items: {enum: [...AREAS]}, type: 'array'},
    'ca-file': text,
    case: list,
    html: text,
    image: text,
    insecure: {type: 'boolean'},
    junit: text,
    'large-blob-size': {oneOf: [{minimum: 1, type: 'integer'}, text]},
    level: {enum: LEVELS.map((level) => level.toLowerCase())},
    'mount-source': text,
    'read-only': {type: 'boolean'},
    'reader-password-env': {pattern: '^[A-Za-z_][A-Za-z0-9_]*$', type: 'string'},
    'reader-username': text,
    repository: text,
    skip: list,
  },
  type: 'object',
}

/** A config file is small: anything larger is not one. */
const MAX_CONFIG_BYTES = 1024 * 1024

export async function loadProbeConfig(file: string): Promise<ProbeConfig> {
  let bytes: Buffer
  try {
    ;({bytes} = await readRegularFile(file, MAX_CONFIG_BYTES))
  } catch (error) {
    const {code, message} = error as NodeJS.ErrnoException
    throw new UsageError(`--config ${file}: cannot read it (${code ?? message})`)
  }

  const [{Ajv}, {parse: parseYaml}] = await Promise.all([import('ajv'), import('yaml')])
  let document: unknown
  try {
    document = parseYaml(bytes.toString('utf8'), {prettyErrors: true, uniqueKeys: true}) ?? {}
  } catch (error) {
    const {linePos, message} = error as {linePos?: Array<{col: number; line: number}>; message: string}
    const where = linePos?.[0] ? ` (line ${linePos[0].line}, column ${linePos[0].col})` : ''
    throw new UsageError(`--config ${file}: not valid YAML or JSON${where}: ${message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`)
  }

  const ajv = new Ajv({allErrors: false, strict: true, strictTypes: false})
  const validate = ajv.compile(CONFIG_SCHEMA)
  if (!validate(document)) {
    const error = validate.errors![0]!
    const params = error.params as {additionalProperty?: string; allowedValues?: unknown[]}
    const field = [...error.instancePath.split('/').slice(1), ...(params.additionalProperty ? [params.additionalProperty] : [])].join('.')
    const why =
      error.keyword === 'additionalProperties'
        ? 'not a setting of the probe (the settings are the flags\' names)'
        : error.keyword === 'enum'
          ? `must be one of ${params.allowedValues!.map((v) => String(v)).join(', ')}`
          : (error.message ?? 'invalid')
    throw new UsageError(`--config ${file}: ${field === '' ? 'the file' : `"${field}"`}: ${why}`)
  }

  return document as ProbeConfig
}

const UNITS: Record<string, number> = {'': 1, b: 1, gib: 1024 ** 3, kib: 1024, mib: 1024 ** 2}

/** `67108864`, `64MiB`, `512 KiB`, `1GiB`: a size in bytes, from 1 byte to 64 GiB. */
export function parseSize(value: number | string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(String(value))
  const unit = match?.[2]?.toLowerCase().replace(/^([kmg])b$/, '$1ib') ?? ''
  const bytes = match ? Math.round(Number(match[1]) * (UNITS[unit] ?? Number.NaN)) : Number.NaN
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 64 * 1024 ** 3) throw new UsageError(`${what} expects a size such as 67108864, 64MiB or 1GiB (1 byte to 64 GiB)`)
  return bytes
}
