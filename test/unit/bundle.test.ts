import type {Command} from '@oclif/core'

import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join, relative, sep} from 'node:path'
import {pathToFileURL} from 'node:url'

import {COMMANDS} from '../../src/cli.js'
import {basicRegistry, USERS} from '../fixtures/servers.js'
import {ROOT, runCli, tempHome} from '../helpers/cli.js'

/** Every file under src/commands/, by the id oclif's `pattern` strategy would give it. */
async function commandFiles(directory = join(ROOT, 'src', 'commands')): Promise<Map<string, Command.Class>> {
  const found = new Map<string, Command.Class>()
  for (const entry of readdirSync(directory, {recursive: true, withFileTypes: true})) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue
    const file = join(entry.parentPath, entry.name)
    const id = relative(directory, file).replace(/\.ts$/, '').split(sep).filter((part) => part !== 'index').join(':')
    found.set(id, ((await import(pathToFileURL(file).href)) as {default: Command.Class}).default)
  }

  return found
}

describe('src/cli.ts, the commands for oclif\'s explicit strategy', () => {
  it('lists every command of src/commands/ under the id of its path, and nothing else', async () => {
    const files = await commandFiles()
    expect(Object.keys(COMMANDS).sort()).to.deep.equal([...files.keys()].sort())
    // the same class (mocha may hold the two as different module instances: compare what they say)
    for (const [id, command] of Object.entries(COMMANDS)) {
      expect([command.name, command.summary], id).to.deep.equal([files.get(id)?.name, files.get(id)?.summary])
    }
  })
})

describe('bin/dev.js', () => {
  it('runs the commands from src/, through tsx, never the bundle', async () => {
    const home = tempHome()
    const env = {...process.env, DOCKER_CONFIG: join(home, 'docker'), HOME: home, NODE_DEBUG: 'module'}
    const result = await new Promise<{code: null | number; stderr: string; stdout: string}>((resolvePromise, reject) => {
      const child = execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'bin', 'dev.js'), 'auth', 'logout', '-r', 'registry.example.com'], {env}, (error, stdout, stderr) =>
        error && typeof error.code !== 'number' ? reject(error) : resolvePromise({code: child.exitCode, stderr, stdout}),
      )
    })
    expect(result.stdout).to.equal('Not logged in to registry.example.com.\n')
    expect(result.code).to.equal(0)
    expect(result.stderr).not.to.include(`${join(ROOT, 'dist')}${sep}`)
  })
})

describe('the production bundle (scripts/bundle.mjs)', () => {
  it('logs in with got, without ever loading HTTP/2 support', async () => {
    const registry = await basicRegistry()
    const home = tempHome()
    const result = await runCli(['auth', 'login', '-r', registry.host, '-u', 'alice', '--password-stdin'], {
      env: {DOCKER_CONFIG: join(home, 'docker'), HOME: home, NODE_DEBUG: 'module'},
      stdin: USERS.alice.password,
    })
    expect(result.code, result.stderr).to.equal(0)
    const requested = result.stderr.split('\n').flatMap((line) => line.match(/^MODULE \d+: Module\._load REQUEST (\S+)/)?.slice(1) ?? [])
    expect(requested).to.include('./got.cjs')
    expect(requested.filter((name) => /http2/.test(name))).to.deep.equal([])
  })
})
