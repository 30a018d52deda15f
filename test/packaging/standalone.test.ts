/**
 * The standalone tarball (npm run pack:tarballs) as a user gets it: unpacked anywhere and run with
 * no Node on PATH, so everything it does runs on the Node inside it.
 */
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {expect} from 'chai'

import {basicRegistry, USERS} from '../fixtures/servers.js'
import {BUNDLED_NODE, HOST_TARGET, pathWithoutNode, releaseTarball, unpack, VERSION} from './helpers.js'

interface Result {
  code: null | number
  stderr: string
  stdout: string
}

describe(`standalone tarball regshape-${VERSION}-${HOST_TARGET}.tar.gz`, () => {
  let unpacked: string
  let noNodePath: string

  before(function () {
    this.timeout(120_000)
    unpacked = join(unpack(releaseTarball()), 'regshape')
    noNodePath = pathWithoutNode()
  })

  /** bin/regshape of the unpacked tarball, with only noNodePath on PATH and a fresh HOME. */
  function regshape(args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string} = {}): Promise<Result> {
    const env: NodeJS.ProcessEnv = {HOME: mkdtempSync(join(tmpdir(), 'regshape-home-')), LANG: 'C.UTF-8', PATH: noNodePath, ...options.env}
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
    return new Promise((resolve, reject) => {
      const child = spawn(join(unpacked, 'bin', 'regshape'), args, {cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe']})
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
      child.on('error', reject)
      child.on('close', (code) => resolve({code, stderr: Buffer.concat(stderr).toString(), stdout: Buffer.concat(stdout).toString()}))
      child.stdin.end(options.stdin ?? '')
    })
  }

  it('finds no node on the PATH the tests use', () => {
    // stdin not a socket (Node's default pipe), or bash would read ~/.bashrc as if run by sshd
    const found = execFileSync('bash', ['-c', 'command -v node || echo none'], {encoding: 'utf8', env: {HOME: tmpdir(), PATH: noNodePath}, stdio: ['ignore', 'pipe', 'inherit']}).trim()
    expect(found).to.equal('none')
  })

  it('carries its own Node, the current LTS, with nothing from the dev tree', () => {
    const node = join(unpacked, 'bin', 'node')
    expect(execFileSync(node, ['--version'], {encoding: 'utf8'}).trim()).to.equal(`v${BUNDLED_NODE}`)
    expect(existsSync(join(unpacked, 'oclif.manifest.json')), 'oclif.manifest.json').to.equal(true)
    for (const devOnly of ['typescript', 'mocha', 'oclif', 'tsx', 'src']) {
      expect(existsSync(join(unpacked, 'node_modules', devOnly)), `node_modules/${devOnly}`).to.equal(false)
    }
  })

  it('carries the bash and zsh completion scripts the Homebrew formula installs', () => {
    const bash = readFileSync(join(unpacked, 'completions', 'bash', 'regshape'), 'utf8')
    const zsh = readFileSync(join(unpacked, 'completions', 'zsh', '_regshape'), 'utf8')
    expect(bash).to.match(/^complete -F _regshape_autocomplete regshape$/m)
    expect(bash).to.include('auth:login')
    expect(zsh.split('\n')[0]).to.equal('#compdef regshape')
    execFileSync('bash', ['-n', join(unpacked, 'completions', 'bash', 'regshape')])
    execFileSync('zsh', ['-n', join(unpacked, 'completions', 'zsh', '_regshape')])
  })

  it('regshape --version reports the bundled Node', async () => {
    const result = await regshape(['--version'])
    expect(result.stderr).to.equal('')
    expect(result.code).to.equal(0)
    expect(result.stdout.trim()).to.equal(`regshape/${VERSION} ${HOST_TARGET} node-v${BUNDLED_NODE}`)
  })

  it('runs only the Node inside it, whatever HOME is: nothing from the current directory or ~/.local', async () => {
    // oclif's own launcher finds HOME with `cd && pwd` (the current directory when HOME is empty)
    // and then runs ./.local/share/regshape/client/bin/regshape or ./.local/share/oclif/node/node-custom.
    const cwd = mkdtempSync(join(tmpdir(), 'regshape-cwd-'))
    const marker = join(cwd, 'planted-ran')
    for (const planted of [join('.local', 'share', 'regshape', 'client', 'bin', 'regshape'), join('.local', 'share', 'oclif', 'node', 'node-custom')]) {
      mkdirSync(dirname(join(cwd, planted)), {recursive: true})
      writeFileSync(join(cwd, planted), `#!/bin/sh\necho planted >> '${marker}'\n`, {mode: 0o755})
    }

    for (const home of ['', undefined, cwd]) {
      const result = await regshape(['--version'], {cwd, env: {HOME: home}})
      expect(result.stderr, `HOME=${home}`).to.equal('')
      expect(result.stdout, `HOME=${home}`).to.include(`node-v${BUNDLED_NODE}`)
    }

    expect(existsSync(marker), 'a planted launcher target ran').to.equal(false)
    expect(readFileSync(join(unpacked, 'bin', 'regshape'), 'utf8')).not.to.include('.local/share')
  })

  it('auth login --password-stdin and auth logout work against a real registry', async () => {
    const registry = await basicRegistry()
    const dockerConfig = mkdtempSync(join(tmpdir(), 'regshape-dc-'))
    const configFile = join(dockerConfig, 'config.json')
    const env = {DOCKER_CONFIG: dockerConfig}

    const login = await regshape(['auth', 'login', '-r', registry.host, '-u', USERS.alice.username, '--password-stdin'], {env, stdin: `${USERS.alice.password}\n`})
    expect(login.stderr).to.equal('')
    expect(login.stdout).to.equal('Login succeeded.\n')
    expect(login.code).to.equal(0)
    const auth = Buffer.from(`${USERS.alice.username}:${USERS.alice.password}`).toString('base64')
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).to.deep.equal({auths: {[registry.host]: {auth}}})

    const logout = await regshape(['auth', 'logout', '-r', registry.host], {env})
    expect(logout.stderr).to.equal('')
    expect(logout.stdout).to.equal(`Removing login credentials for ${registry.host}.\n`)
    expect(logout.code).to.equal(0)
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).to.deep.equal({auths: {}})
  })
})
