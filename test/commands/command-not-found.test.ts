import {expect} from 'chai'

import {commandWords, editDistance, suggestions, type Vocabulary} from '../../src/command/not-found.js'
import {expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * A mistyped command, as a newcomer types one: regshape's own one-line error with a suggestion
 * (skopeo's "Did you mean"), exit 2, the JSON error object under --json, and `-h` as help on
 * every command and topic. Run through the built CLI, so the hook and help class wiring of
 * package.json is what is tested.
 */
describe('a mistyped command', () => {
  const cases: Array<{args: string[]; line: string}> = [
    {args: ['auth', 'lgoin'], line: 'Error: command auth lgoin not found. Did you mean auth login?\n'},
    {args: ['blob', 'gett'], line: 'Error: command blob gett not found. Did you mean blob get?\n'},
    // a prefix of two commands: both, and the argument after it is not quoted
    {args: ['auth', 'lo', 'x'], line: 'Error: command auth lo not found. Did you mean auth login or auth logout?\n'},
    // a mistyped topic: the whole command is guessed
    {args: ['atuh', 'login', '-r', 'registry.example.com'], line: 'Error: command atuh login not found. Did you mean auth login?\n'},
    // the alias, as docker spells it
    {args: ['lgoin', 'registry.example.com'], line: 'Error: command lgoin not found. Did you mean login?\n'},
    {args: ['blbo'], line: 'Error: command blbo not found. Did you mean blob?\n'},
    {args: ['frobnicate'], line: 'Error: command frobnicate not found (see regshape --help)\n'},
  ]
  for (const {args, line} of cases) {
    it(`regshape ${args.join(' ')}: one Error: line, exit 2`, async () => {
      const result = await runCli(args)
      expect(result.stderr).to.equal(line)
      expect(result.stdout).to.equal('')
      expect(result.code).to.equal(2)
      expectNoStackTrace(result)
    })
  }

  it('never quotes the words after the first unknown one (they may be a secret typed in the wrong place)', async () => {
    const result = await runCli(['auth', 'lgoin', 'registry.example.com', 's3cr3t-typed-here'])
    expect(result.stderr).to.equal('Error: command auth lgoin not found. Did you mean auth login?\n')
  })

  it('under --json, before or after the command, is the JSON error object on stdout', async () => {
    for (const args of [['--json', 'auth', 'lgoin'], ['auth', 'lgoin', '--json']]) {
      const result = await runCli(args)
      expect(JSON.parse(result.stdout), args.join(' ')).to.deep.equal({error: 'command auth lgoin not found. Did you mean auth login?', status: 'error'})
      expect(result.stderr).to.equal('')
      expect(result.code).to.equal(2)
    }
  })

  it('asked for help (-h, --help, help ...) gets the same error, not oclif\'s', async () => {
    for (const args of [['auth', 'lgoin', '-h'], ['auth', 'lgoin', '--help'], ['help', 'auth', 'lgoin']]) {
      const result = await runCli(args)
      expect(result.stderr, args.join(' ')).to.equal('Error: command auth lgoin not found. Did you mean auth login?\n')
      expect(result.code).to.equal(2)
    }
  })

  it('flags with no command after them: a plain error', async () => {
    const result = await runCli(['-p', 's3cr3t'])
    expect(result.stderr).to.equal('Error: no command given (see regshape --help)\n')
    expect(result.code).to.equal(2)
  })
})

describe('-h is help everywhere', () => {
  const subjects = [[], ['auth'], ['blob'], ['auth', 'login'], ['login'], ['auth', 'logout'], ['auth', 'status'], ['blob', 'get'], ['tag', 'list'], ['ping'], ['plugins']]
  for (const words of subjects) {
    it(`regshape ${[...words, '-h'].join(' ')} prints what --help prints`, async () => {
      const [short, long] = await Promise.all([runCli([...words, '-h']), runCli([...words, '--help'])])
      expect(short.code, short.stderr).to.equal(0)
      expect(short.stdout).to.include('USAGE')
      expect(short.stdout).to.equal(long.stdout)
    })
  }
})

describe('suggestions (src/command/not-found.ts)', () => {
  const vocabulary: Vocabulary = {commands: ['auth:login', 'auth:logout', 'auth:status', 'login', 'logout', 'ping', 'tag:list'], topics: ['auth', 'tag']}

  it('edit distance is Levenshtein\'s', () => {
    expect(editDistance('lgoin', 'login')).to.equal(2)
    expect(editDistance('', 'abc')).to.equal(3)
    expect(editDistance('kitten', 'sitting')).to.equal(3)
  })

  it('the command words end at the first unknown word', () => {
    expect(commandWords(['auth', 'lo', 'x'], vocabulary)).to.deep.equal(['auth', 'lo'])
    expect(commandWords(['auth', 'login'], vocabulary)).to.deep.equal(['auth', 'login'])
  })

  it('nothing far from every command is suggested', () => {
    expect(suggestions(['zzzzzz'], vocabulary)).to.deep.equal([])
    expect(suggestions(['auth', 'qqqqqq'], vocabulary)).to.deep.equal([])
  })

  it('the closest within two edits; prefixes only when nothing is that close', () => {
    expect(suggestions(['auth', 'sttaus'], vocabulary)).to.deep.equal(['auth:status'])
    expect(suggestions(['auth', 'log'], vocabulary)).to.deep.equal(['auth:login'])
    expect(suggestions(['auth', 'l'], vocabulary)).to.deep.equal(['auth:login', 'auth:logout'])
  })
})
