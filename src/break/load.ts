import {type Stats, closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync} from 'node:fs'

import type {ErrorObject} from 'ajv'

import {UsageError} from '../errors.js'
import {ACTIONS, ACTIONS_FOR, BUILTIN_RULE_NAMES, type BreakMatch, type BreakRule, type BuiltinRuleName, RuleSet, TARGETS, builtinRules} from './rules.js'

/**
 * A --break-rules file: YAML or JSON (JSON is YAML), checked against a JSON schema by Ajv, then
 * turned into a RuleSet. Ajv and the YAML parser are imported only with --break (a chunk of their
 * own in the bundle): without it, neither is even read.
 *
 *   rules:
 *     - name: wrong digest on upload
 *       match: {operation: blob.upload}
 *       target: digest
 *       action: corrupt
 *     - use: skip_auth            # a built-in rule, by name
 *       match: {operation: manifest.get}
 */

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT']
const stringOrList = (item: object) => ({oneOf: [item, {items: item, minItems: 1, type: 'array'}]})

const match = {
  additionalProperties: false,
  properties: {
    method: stringOrList({enum: METHODS}),
    operation: stringOrList({minLength: 1, type: 'string'}),
    path: {minLength: 1, type: 'string'},
  },
  type: 'object',
}

const common = {
  limit: {minimum: 1, type: 'integer'},
  match,
  name: {minLength: 1, type: 'string'},
}

/** A rule spelt out: target and action, with the key a header or query rule needs. */
const ownRule = {
  additionalProperties: false,
  allOf: [
    ...TARGETS.map((target) => ({if: {properties: {target: {const: target}}}, then: {properties: {action: {enum: [...ACTIONS_FOR[target]]}}}})),
    {if: {properties: {target: {enum: ['header', 'query']}}}, then: {required: ['key']}},
    {if: {not: {properties: {target: {const: 'body'}}}}, then: {not: {required: ['size']}}},
    {if: {properties: {target: {const: 'method'}}}, then: {properties: {value: {enum: METHODS}}, required: ['value']}},
  ],
  properties: {
    ...common,
    action: {enum: [...ACTIONS]},
    key: {minLength: 1, type: 'string'},
    size: {maximum: 1024 * 1024 * 1024, minimum: 0, type: 'integer'},
    target: {enum: [...TARGETS]},
    value: {type: 'string'},
  },
  required: ['name', 'target', 'action'],
  type: 'object',
}

/** A built-in rule by name, with what it lets a file set. */
const builtinRule = {
  additionalProperties: false,
  allOf: [
    {if: {properties: {use: {const: 'custom_header'}}}, then: {required: ['key', 'value']}},
    {if: {properties: {use: {const: 'wrong_method'}}}, then: {properties: {value: {enum: METHODS}}, required: ['value']}},
    {if: {properties: {use: {not: {enum: ['custom_header']}}}}, then: {not: {required: ['key']}}},
    {if: {properties: {use: {not: {const: 'oversized_payload'}}}}, then: {not: {required: ['size']}}},
  ],
  properties: {
    ...common,
    key: {minLength: 1, type: 'string'},
    size: {maximum: 1024 * 1024 * 1024, minimum: 0, type: 'integer'},
    use: {enum: BUILTIN_RULE_NAMES},
    value: {type: 'string'},
  },
  required: ['use'],
  type: 'object',
}

export const RULES_SCHEMA = {
  $id: 'https://regshape.dev/schemas/break-rules.json',
  additionalProperties: false,
  properties: {
    rules: {items: {if: {required: ['use']}, then: builtinRule, else: ownRule}, minItems: 1, type: 'array'},
    version: {const: 1},
  },
  required: ['rules'],
  type: 'object',
}

/** A rules file is read whole up to this size: 10,000 rules are about 1 MiB. */
export const MAX_RULES_BYTES = 16 * 1024 * 1024

/** What HTTP (and Node, which refuses the rest when sending) takes as a header: a token for the name... */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** ... and a value without CR, LF or any other control character but tab. */
const BAD_HEADER_VALUE = /[^\t\u0020-\u007E\u0080-\u00FF]/

interface RawRule extends Omit<BreakRule, 'match'> {
  match?: {method?: string | string[]; operation?: string | string[]; path?: string}
  use?: BuiltinRuleName
}

const list = (value: string | string[] | undefined) => (value === undefined ? undefined : Array.isArray(value) ? value : [value])

/** The rules a file holds; a UsageError (exit 2) naming the rule and the field when it is wrong. */
export async function loadRules(file: string): Promise<RuleSet> {
  return parseRules(readRulesFile(file), file)
}

/**
 * A regular file (or a link to one), read up to MAX_RULES_BYTES. A FIFO would hold the open until
 * some writer came, and a device such as /dev/zero would be read until memory ran out.
 */
function readRulesFile(file: string): string {
  const refuse = (why: string) => new UsageError(`--break-rules ${file}: ${why}`)
  const tooLarge = () => refuse(`larger than ${MAX_RULES_BYTES / 1024 / 1024} MiB; regshape will not read it`)
  const checkKind = (info: Stats) => {
    if (info.isFile()) return
    throw refuse(`${info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO' : info.isCharacterDevice() ? 'a character device' : info.isBlockDevice() ? 'a block device' : info.isSocket() ? 'a socket' : 'not a file'}, not a regular file`)
  }

  let fd: number | undefined
  try {
    // Looked at before it is opened, and again once open: O_NONBLOCK, so a FIFO put in its place
    // meanwhile does not make the open wait either.
    checkKind(statSync(file))
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY)
    const info = fstatSync(fd)
    checkKind(info)
    if (info.size > MAX_RULES_BYTES) throw tooLarge()
    // Read to the end, not to the size the stat gave: the file may be growing.
    const chunks: Buffer[] = []
    let length = 0
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024)
      const read = readSync(fd, chunk, 0, chunk.length, null)
      if (read === 0) break
      chunks.push(chunk.subarray(0, read))
      length += read
      if (length > MAX_RULES_BYTES) throw tooLarge()
    }

    return Buffer.concat(chunks, length).toString('utf8')
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw refuse(`cannot read it (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

export async function parseRules(text: string, file = 'rules'): Promise<RuleSet> {
  const [{Ajv}, {parse: parseYaml}] = await Promise.all([import('ajv'), import('yaml')])
  let document: unknown
  try {
    document = parseYaml(text, {prettyErrors: true, uniqueKeys: true})
  } catch (error) {
    const {linePos, message} = error as {linePos?: Array<{col: number; line: number}>; message: string}
    const where = linePos?.[0] ? ` (line ${linePos[0].line}, column ${linePos[0].col})` : ''
    throw new UsageError(`--break-rules ${file}: not valid YAML or JSON${where}: ${message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`)
  }

  const ajv = new Ajv({allErrors: false, strict: true, strictRequired: false, strictTypes: false})
  const validate = ajv.compile(RULES_SCHEMA)
  if (!validate(document)) throw new UsageError(`--break-rules ${file}: ${describe(validate.errors![0]!, document)}`)
  const raw = (document as {rules: RawRule[]}).rules
  const rules = raw.map((entry, index) => toRule(entry, index, file))
  const names = new Map<string, number>()
  for (const [index, rule] of rules.entries()) {
    const earlier = names.get(rule.name)
    if (earlier !== undefined) throw new UsageError(`--break-rules ${file}: ${ruleLabel(index, rule)}: field "name": already the name of rule ${earlier + 1}`)
    names.set(rule.name, index)
  }

  return new RuleSet(rules)
}

function toRule(entry: RawRule, index: number, file: string): BreakRule {
  const matchSpec: BreakMatch | undefined = entry.match && {method: list(entry.match.method), operation: list(entry.match.operation), path: entry.match.path}
  if (matchSpec?.path !== undefined) {
    try {
      new RegExp(matchSpec.path)
    } catch (error) {
      throw new UsageError(`--break-rules ${file}: ${ruleLabel(index, entry)}: field "match.path": not a regular expression (${(error as Error).message})`)
    }
  }

  const overrides = {limit: entry.limit, match: matchSpec, name: entry.name ?? entry.use!}
  const defined = <V extends object>(value: V): V => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as V
  let rule: BreakRule
  if (entry.use === undefined) {
    rule = defined({...entry, ...overrides}) as BreakRule
  } else {
    const build = builtinRules[entry.use] as (options: object) => BreakRule
    const built = build(defined({...overrides, key: entry.key, size: entry.size, value: entry.value}))
    // A built-in's own match (invalid_content_type's methods) stands unless the file gives one.
    rule = defined({...built, match: matchSpec ?? built.match})
  }

  checkHeader(rule, (field, why) => new UsageError(`--break-rules ${file}: ${ruleLabel(index, entry)}: field "${field}": ${why}`))
  return rule
}

/**
 * A rule that writes a header must write one HTTP can carry: a name that is a token, a value
 * without CR or LF (which would end the header, or be refused when sending), checked here rather
 * than met as a failure (exit 1) at the first request.
 */
function checkHeader(rule: BreakRule, fail: (field: string, why: string) => Error): void {
  if (rule.target !== 'header' && rule.target !== 'auth' && rule.target !== 'content_type') return
  if (rule.target === 'header' && !HEADER_NAME.test(rule.key!)) {
    throw fail('key', 'not a header name (letters, digits and !#$%&\'*+-.^_`|~, nothing else)')
  }

  if (rule.value !== undefined && BAD_HEADER_VALUE.test(rule.value)) {
    throw fail('value', 'a header value may not hold CR, LF or other control characters, nor characters past U+00FF')
  }
}

function ruleLabel(index: number, entry: {name?: unknown; use?: unknown} | undefined): string {
  const name = typeof entry?.name === 'string' ? entry.name : typeof entry?.use === 'string' ? entry.use : undefined
  return `rule ${index + 1}${name === undefined ? '' : ` (${JSON.stringify(name)})`}`
}

/** Ajv's first error as "rule 2 ("name"): field "action": must be one of ...". */
function describe(error: ErrorObject, document: unknown): string {
  const path = error.instancePath.split('/').slice(1)
  const params = error.params as {additionalProperty?: string; allowedValues?: unknown[]; missingProperty?: string}
  let where = 'the file'
  let field: string[] = path
  if (path[0] === 'rules' && path.length >= 2) {
    const index = Number(path[1])
    where = ruleLabel(index, (document as {rules: Array<{name?: unknown; use?: unknown}>}).rules[index])
    field = path.slice(2)
  }

  if (params.additionalProperty !== undefined) field = [...field, params.additionalProperty]
  if (params.missingProperty !== undefined) field = [...field, params.missingProperty]
  const fieldText = field.length === 0 ? '' : `field "${field.join('.')}": `
  let problem: string
  switch (error.keyword) {
    case 'additionalProperties': {
      problem = 'not a field a rule has here'
      break
    }

    case 'const': {
      problem = `must be ${JSON.stringify((error.params as {allowedValue: unknown}).allowedValue)}`
      break
    }

    case 'enum': {
      problem = `must be one of ${params.allowedValues!.map((v) => String(v)).join(', ')}`
      break
    }

    case 'not': {
      problem = 'not a field this kind of rule takes'
      // Which field: the one the failing "not: required" names is not in the error; find it.
      field = [...field, ...['size', 'key'].filter((name) => hasField(document, path, name)).slice(0, 1)]
      return `${where}: ${field.length === 0 ? '' : `field "${field.join('.')}": `}${problem}`
    }

    case 'oneOf': {
      problem = 'must be a string or a list of strings'
      break
    }

    case 'required': {
      problem = 'missing'
      break
    }

    default: {
      problem = error.message ?? 'invalid'
    }
  }

  return `${where}: ${fieldText}${problem}`
}

function hasField(document: unknown, path: string[], name: string): boolean {
  let node = document as Record<string, unknown> | undefined
  for (const part of path) node = node?.[part] as Record<string, unknown> | undefined
  return node !== undefined && typeof node === 'object' && name in node
}

export {TARGETS, ACTIONS, BUILTIN_RULE_NAMES} from './rules.js'
