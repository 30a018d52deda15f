import {expect} from 'chai'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, dirname, join} from 'node:path'

import {runProcess} from '../fixtures/proc.js'
import {basicRegistry, USERS} from '../fixtures/servers.js'
import {RUN_JS, expectNoStackTrace, runCli, tempHome} from '../helpers/cli.js'

/**
 * Files renamed into place are flushed first, and their directory after, as the system calls
 * show them (strace -f -y, which names the file behind each descriptor): a crash must not leave a
 * layout with a truncated blob under a valid digest's name, an index.json or config.json whose
 * new name points at bytes that never reached the disk, or a rename that is forgotten.
 *
 * Each scenario is chosen so that every flush is seen by a call of its own: `layout add layer`
 * renames the layer blob and then writes nothing else into blobs/sha256, so only putBlob's own
 * flush of that directory can follow its rename; a copy into a new layout ends with index.json's
 * rename; `auth login` ends with config.json's.
 */

interface Call {
  /** fsync: the path behind the descriptor; rename: the new name; mkdir: the directory made. */
  path: string
  /** rename: the old name. */
  from?: string
  kind: 'fsync' | 'mkdir' | 'rename'
}

const STRING = String.raw`"((?:[^"\\]|\\.)*)"`
const FSYNC = /^\d+\s+f(?:data)?sync\(\d+<([^>]*)>/
const RENAME = new RegExp(String.raw`^\d+\s+rename(?:at2?)?\((?:AT_FDCWD, )?${STRING}, (?:AT_FDCWD, )?${STRING}`)
const MKDIR = new RegExp(String.raw`^\d+\s+mkdir(?:at)?\((?:AT_FDCWD, )?${STRING}, 0\d+\) = 0$`)

/** The calls in the order they started (a call another thread interrupts shows as `<unfinished ...>` there). */
function parseTrace(text: string): Call[] {
  const calls: Call[] = []
  for (const line of text.split('\n')) {
    let match: null | RegExpExecArray
    if ((match = FSYNC.exec(line))) calls.push({kind: 'fsync', path: match[1]})
    else if ((match = RENAME.exec(line))) calls.push({from: match[1], kind: 'rename', path: match[2]})
    else if ((match = MKDIR.exec(line))) calls.push({kind: 'mkdir', path: match[1]})
  }

  return calls
}

/** Lock directories (src/util/lock.ts) are made and renamed too; they hold no data to keep. */
const isLock = (path: string) => /\.lock(?:\.\d+\.[0-9a-f]{8}\.new)?(?:\/|$)/.test(path)

/**
 * Every rename under `root`: an fsync of the old name before it and of the directory after it;
 * every directory made under `root`: an fsync of its parent after. Returns the names renamed.
 */
function expectFlushed(calls: Call[], root: string): string[] {
  const renamed: string[] = []
  for (const [at, call] of calls.entries()) {
    if (!call.path.startsWith(`${root}/`) || isLock(call.path)) continue
    const before = calls.slice(0, at)
    const after = calls.slice(at + 1)
    if (call.kind === 'rename') {
      renamed.push(call.path)
      expect(before.some((other) => other.kind === 'fsync' && other.path === call.from), `${call.from} flushed before its rename to ${call.path}`).to.equal(true)
      expect(after.some((other) => other.kind === 'fsync' && other.path === dirname(call.path)), `${dirname(call.path)} flushed after the rename to ${basename(call.path)}`).to.equal(true)
    }

    if (call.kind === 'mkdir') {
      expect(after.some((other) => other.kind === 'fsync' && other.path === dirname(call.path)), `${dirname(call.path)} flushed after ${basename(call.path)} was made in it`).to.equal(true)
    }
  }

  return renamed
}

async function traced(args: string[], options: {env?: NodeJS.ProcessEnv; stdin?: string} = {}): Promise<Call[]> {
  const trace = join(mkdtempSync(join(tmpdir(), 'regshape-strace-')), 'trace')
  const result = await runProcess('strace', ['-f', '-y', '-qq', '-o', trace, '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat', process.execPath, RUN_JS, ...args], {
    env: {HOME: tempHome(), LANG: 'C.UTF-8', PATH: process.env.PATH, ...options.env},
    input: options.stdin,
    timeoutMs: 60_000,
  })
  expect(result.code, `regshape ${args.join(' ')}: ${result.stderr}`).to.equal(0)
  expectNoStackTrace({...result, signal: null})
  return parseTrace(readFileSync(trace, 'utf8'))
}

describe('hardening: files renamed into place are flushed before, and their directory after', function () {
  this.timeout(180_000)
  let work: string
  let source: string

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'regshape-durable-'))
    source = join(work, 'src')
    writeFileSync(join(work, 'f.txt'), 'a layer\n')
    expect((await runProcess('tar', ['-C', work, '-cf', join(work, 'layer.tar'), 'f.txt'])).code).to.equal(0)
    // The source of the copy, made without a trace.
    for (const args of [
      ['layout', 'init', '-p', source],
      ['layout', 'add', 'layer', '-p', source, '-f', join(work, 'layer.tar')],
      ['layout', 'generate', 'config', '-p', source],
      ['layout', 'generate', 'manifest', '-p', source, '--ref-name', 'v1'],
    ]) {
      const result = await runCli(args)
      expect(result.code, result.stderr).to.equal(0)
    }
  })

  it('layout add layer: the layer blob (streamed) and the staging file', async () => {
    const layout = join(work, 'staged')
    expect((await runCli(['layout', 'init', '-p', layout])).code).to.equal(0)
    const calls = await traced(['layout', 'add', 'layer', '-p', layout, '-f', join(work, 'layer.tar')])
    const renamed = expectFlushed(calls, layout)
    expect(renamed.filter((path) => path.startsWith(join(layout, 'blobs', 'sha256')))).to.have.length(1)
    expect(renamed).to.include(join(layout, '.regshape-stage.json'))
  })

  it('copy into a new layout: its directories, every blob, the manifest, oci-layout and index.json', async () => {
    const destination = join(work, 'new', 'dst')
    const calls = await traced(['copy', `oci:${source}:v1`, `oci:${destination}`])
    const renamed = expectFlushed(calls, join(work, 'new'))
    // The layer and the config (streamed), the manifest (from bytes), the marker, index.json twice.
    expect(renamed.filter((path) => path.startsWith(join(destination, 'blobs', 'sha256')))).to.have.length(3)
    for (const name of ['oci-layout', 'index.json']) expect(renamed).to.include(join(destination, name))
    expect(calls.filter((call) => call.kind === 'mkdir').map((call) => call.path)).to.include.members([join(work, 'new'), destination, join(destination, 'blobs', 'sha256')])
    // The first directory made (new/) is in the test's directory: its entry is flushed there.
    expect(calls.findIndex((call) => call.kind === 'fsync' && call.path === work)).to.be.greaterThan(calls.findIndex((call) => call.kind === 'mkdir' && call.path === join(work, 'new')))
  })

  it('auth login: config.json', async () => {
    const registry = await basicRegistry()
    const config = join(mkdtempSync(join(tmpdir(), 'regshape-durable-cfg-')), 'docker')
    const calls = await traced(['auth', 'login', '-r', registry.host, '-u', USERS.alice.username, '--password-stdin', '--docker-config', join(config, 'config.json')], {stdin: USERS.alice.password})
    expect(expectFlushed(calls, config)).to.deep.equal([join(config, 'config.json')])
  })
})
