/**
 * The base command's one result path, in process: a command's run() returns a typed result, and
 * the base prints it as text or as the --json object, to stdout or to -o FILE, wrapped with break
 * mode's changed requests under --break --json, before telemetry's summary. The commands here are
 * small ones made for the test; the real commands' bytes are checked by their own tests.
 */
import {Config, Flags} from '@oclif/core'
import {expect} from 'chai'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BreakModeCommand} from '../../src/command/break-command.js'
import {type JsonObject, RegshapeCommand} from '../../src/command/base-command.js'
import {RegistryCommand} from '../../src/command/registry-command.js'
import {ROOT} from '../helpers/cli.js'

interface Greeting {
  name: string
  greeting: string
}

/** A typed result with a text form of its own; --fail-after makes afterResult exit 1. */
class Greet extends RegshapeCommand<typeof Greet, Greeting> {
  static override flags = {
    name: Flags.string({default: 'world'}),
    'fail-after': Flags.boolean(),
  }

  async run(): Promise<Greeting> {
    // A step, so that --time-scenarios has a summary to print in finally().
    return this.step('greet', async () => ({name: this.flags.name, greeting: 'hello'}))
  }

  protected override renderText(result: Greeting): string {
    return result.name === '' ? '' : `${result.greeting}, ${result.name}`
  }

  protected override async afterResult(result: Greeting): Promise<void> {
    if (!this.flags['fail-after']) return
    process.stderr.write(`after ${result.name}\n`)
    this.exitWith(1)
  }
}

/** No text form of its own: the JSON object, indented. A JSON form that differs from the result. */
class Metadata extends RegshapeCommand<typeof Metadata, {digest: string; size: number; extra: string}> {
  async run(): Promise<{digest: string; size: number; extra: string}> {
    return {digest: 'sha256:abc', size: 3, extra: 'for the text only'}
  }

  protected override renderJson(result: {digest: string; size: number}): JsonObject {
    return {digest: result.digest, size: result.size}
  }
}

/** A plugin's command as the SDK's guide wrote them before typed results: emitResult from run(). */
class Legacy extends RegshapeCommand<typeof Legacy> {
  async run(): Promise<void> {
    this.emitResult('legacy text', {legacy: true})
  }
}

/** A list that -o FILE may take, as tag list and catalog list do. */
class Listing extends RegistryCommand<typeof Listing, {items: string[]}> {
  static override flags = {
    item: Flags.string({multiple: true}),
    output: Flags.string({char: 'o'}),
  }

  async run(): Promise<{items: string[]}> {
    return {items: this.flags.item ?? []}
  }

  protected override outputFile(): string | undefined {
    return this.flags.output
  }

  protected override renderText(result: {items: string[]}): string {
    return result.items.join('\n')
  }
}

/** A break-mode command's result. */
class Broken extends BreakModeCommand<typeof Broken, {done: boolean}> {
  async run(): Promise<{done: boolean}> {
    return {done: true}
  }
}

/** stdout and stderr as one sequence, so the order between them shows; and how the run ended. */
async function capture(run: () => Promise<unknown>): Promise<{exit?: number; stderr: string; stdout: string; writes: Array<[string, string]>}> {
  const writes: Array<[string, string]> = []
  const original = {stderr: process.stderr.write, stdout: process.stdout.write}
  const tap = (stream: 'stderr' | 'stdout') =>
    ((chunk: string | Uint8Array) => {
      writes.push([stream, chunk.toString()])
      return true
    }) as typeof process.stdout.write
  process.stdout.write = tap('stdout')
  process.stderr.write = tap('stderr')
  let exit: number | undefined
  try {
    await run()
  } catch (error) {
    exit = (error as {oclif?: {exit?: number}}).oclif?.exit
    if (exit === undefined) throw error
  } finally {
    process.stdout.write = original.stdout
    process.stderr.write = original.stderr
  }

  const of = (stream: string) => writes.filter(([name]) => name === stream).map(([, text]) => text).join('')
  return {exit, stderr: of('stderr'), stdout: of('stdout'), writes}
}

describe('typed command results', () => {
  let config: Config
  let directory: string
  before(async () => {
    config = await Config.load(ROOT)
    directory = mkdtempSync(join(tmpdir(), 'regshape-typed-'))
  })

  it('prints a returned result as its text', async () => {
    const {exit, stderr, stdout} = await capture(() => Greet.run(['--name', 'Ada'], config))
    expect({exit, stderr, stdout}).to.deep.equal({exit: undefined, stderr: '', stdout: 'hello, Ada\n'})
  })

  it('prints a returned result as the --json object', async () => {
    const {stdout} = await capture(() => Greet.run(['--name', 'Ada', '--json'], config))
    expect(stdout).to.equal('{"name": "Ada", "greeting": "hello"}\n')
  })

  it('prints a result without a text form as its JSON form, indented; renderJson shapes both', async () => {
    expect((await capture(() => Metadata.run([], config))).stdout).to.equal('{\n  "digest": "sha256:abc",\n  "size": 3\n}\n')
    expect((await capture(() => Metadata.run(['--json'], config))).stdout).to.equal('{"digest": "sha256:abc", "size": 3}\n')
  })

  it('prints nothing for an empty text, not an empty line; --json still prints the object', async () => {
    expect((await capture(() => Greet.run(['--name', ''], config))).stdout).to.equal('')
    expect((await capture(() => Greet.run(['--name', '', '--json'], config))).stdout).to.equal('{"name": "", "greeting": "hello"}\n')
  })

  it('masks a secret the run held, in the text and in the JSON values', async () => {
    const text = await capture(() => Greet.run(['--name', 's3cr3t-name', '-p', 's3cr3t-name'], config))
    expect(text.stdout).to.equal('hello, ***\n')
    const json = await capture(() => Greet.run(['--name', 's3cr3t-name', '-p', 's3cr3t-name', '--json'], config))
    expect(json.stdout).to.equal('{"name": "***", "greeting": "hello"}\n')
  })

  it('prints the result before telemetry\'s summary, which finally() writes', async () => {
    const {writes} = await capture(() => Greet.run(['--time-scenarios'], config))
    expect(writes[0]).to.deep.equal(['stdout', 'hello, world\n'])
    const rest = writes.slice(1)
    expect(rest.map(([stream]) => stream)).to.not.include('stdout')
    expect(rest.map(([, text]) => text).join('')).to.match(/greet/)
  })

  it('runs afterResult once the result is printed, and its exit code ends the command', async () => {
    const {exit, writes} = await capture(() => Greet.run(['--fail-after'], config))
    expect(exit).to.equal(1)
    expect(writes).to.deep.equal([
      ['stdout', 'hello, world\n'],
      ['stderr', 'after world\n'],
    ])
  })

  it('keeps emitResult working for commands that print their result themselves', async () => {
    expect((await capture(() => Legacy.run([], config))).stdout).to.equal('legacy text\n')
    expect((await capture(() => Legacy.run(['--json'], config))).stdout).to.equal('{"legacy": true}\n')
  })

  describe('-o FILE', () => {
    it('writes the text, or the JSON object, to the file and nothing to stdout', async () => {
      const file = join(directory, 'list.txt')
      const text = await capture(() => Listing.run(['--item', 'a', '--item', 'b', '-o', file], config))
      expect(text.stdout).to.equal('')
      expect(readFileSync(file, 'utf8')).to.equal('a\nb\n')
      const json = await capture(() => Listing.run(['--item', 'a', '-o', file, '--json'], config))
      expect(json.stdout).to.equal('')
      expect(readFileSync(file, 'utf8')).to.equal('{"items": ["a"]}\n')
    })

    it('empties the file for an empty list', async () => {
      const file = join(directory, 'emptied.txt')
      writeFileSync(file, 'old contents\n')
      const {stdout} = await capture(() => Listing.run(['-o', file], config))
      expect(stdout).to.equal('')
      expect(readFileSync(file, 'utf8')).to.equal('')
    })

    it('fails with one line naming the file when it cannot be written', async () => {
      const {exit, stderr, stdout} = await capture(() => Listing.run(['--item', 'a', '-o', directory], config))
      expect({exit, stderr, stdout}).to.deep.equal({exit: 1, stderr: `Error: cannot write ${directory}: EISDIR\n`, stdout: ''})
    })
  })

  describe('break mode', () => {
    let rules: string
    before(() => {
      rules = join(directory, 'rules.yaml')
      writeFileSync(rules, 'rules:\n  - use: skip_auth\n')
    })

    it('under --break --json, wraps the result with the changed requests', async () => {
      const {stdout} = await capture(() => Broken.run(['--break', '--break-rules', rules, '--json'], config))
      expect(stdout).to.equal('{"result": {"done": true}, "mutations": []}\n')
    })

    it('without --json, prints the text alone', async () => {
      const {stdout} = await capture(() => Broken.run(['--break', '--break-rules', rules], config))
      expect(stdout).to.equal('{\n  "done": true\n}\n')
    })

    it('writes the result alone to -o FILE, as before typed results', async () => {
      const file = join(directory, 'broken.json')
      const {stdout} = await capture(() => Listing.run(['--item', 'a', '-o', file, '--json', '--break', '--break-rules', rules], config))
      expect(stdout).to.equal('')
      expect(readFileSync(file, 'utf8')).to.equal('{"items": ["a"]}\n')
    })
  })
})
