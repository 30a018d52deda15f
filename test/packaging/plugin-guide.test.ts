/**
 * docs/plugins.md as a newcomer follows it. The commands are read out of the guide's `console`
 * blocks, not copied here: every `$ ` line runs in bash, in order, from an empty directory, with
 * npm's global prefix in a temporary directory (for `npm link`) and regshape's data, cache and
 * config directories of its own. The guide's `git clone` URL is the only thing swapped (for this
 * checkout, cloned as it is committed), and the guide's registry.example.com, alice's password
 * file and ~/.docker for a real registry, that password and a temporary DOCKER_CONFIG. The
 * registry holds what the guide says it does (team/app:1.0 and 2.0, built in January and June)
 * before the first block runs. The lines under a regshape or node command are its whole output,
 * stdout then stderr (so a warning fails it); `…` stands for any text. Commands of npm and git
 * must succeed; their output is not compared.
 *
 * The guide's listings of the examples must be the examples' files, byte for byte.
 */
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {pushDatedImage} from '../fixtures/images.js'
import {basicRegistry, USERS} from '../fixtures/servers.js'
import {ROOT} from '../helpers/cli.js'

const GUIDE = readFileSync(join(ROOT, 'docs', 'plugins.md'), 'utf8')
const CLONE_URL = 'https://github.com/regshape/regshape.git'

interface Step {
  command: string
  expected: string[]
}

/** The fenced blocks of a language, in order. */
function blocks(language: string): string[] {
  return [...GUIDE.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((match) => match[1])
}

function steps(block: string): Step[] {
  const result: Step[] = []
  for (const line of block.replace(/\n$/, '').split('\n')) {
    if (line.startsWith('$ ')) result.push({command: line.slice(2), expected: []})
    else result.at(-1)?.expected.push(line)
  }

  return result
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv, cwdFile: string): Promise<{code: null | number; cwd: string; stderr: string; stdout: string}> {
  return new Promise((resolve, reject) => {
    // the directory the command ends in (the guide's `&& cd regshape`) is where the next one runs
    const child = spawn('bash', ['-c', `${command}\nstatus=$?\npwd > ${JSON.stringify(cwdFile)}\nexit $status`], {cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, cwd: readFileSync(cwdFile, 'utf8').trim(), stderr, stdout}))
  })
}

function matches(expected: string, actual: string): boolean {
  const pattern = expected
    .split('…')
    .map((part) => part.replaceAll(/[.*+?^${}()|[\]\\]/g, String.raw`\$&`))
    .join('.*')
  return new RegExp(`^${pattern}$`).test(actual)
}

describe('docs/plugins.md', () => {
  it('shows the examples as they are: their files, package.json, command sources and the script', () => {
    const examples = ['plugin-whoami', 'plugin-promote'].map((name) => join(ROOT, 'examples', name))
    const trees = blocks('text')
    expect(trees).to.have.length(examples.length)
    for (const [index, example] of examples.entries()) {
      const listed = trees[index]
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/)[0])
        .filter(Boolean)
      const tracked = execFileSync('git', ['ls-files'], {cwd: example, encoding: 'utf8'}).trim().split('\n')
      expect(listed.sort()).to.deep.equal(tracked.sort())
    }

    const [whoami, promote] = examples
    expect(blocks('json')).to.deep.equal([readFileSync(join(whoami, 'package.json'), 'utf8')])
    // The guide says promote's package.json is whoami's with another name and description, and no hooks.
    const [first, second] = [whoami, promote].map((example) => JSON.parse(readFileSync(join(example, 'package.json'), 'utf8')))
    const {hooks: _hooks, ...firstOclif} = first.oclif
    expect({...second, description: first.description, name: first.name}).to.deep.equal({...first, oclif: firstOclif})
    const sources = [join(whoami, 'src', 'commands', 'example', 'whoami.ts'), join(whoami, 'src', 'hooks', 'probe-cases.ts'), join(promote, 'src', 'commands', 'example', 'promote.ts')]
    expect(blocks('ts')).to.deep.equal(sources.map((file) => readFileSync(file, 'utf8')))
    expect(blocks('js')).to.deep.equal([readFileSync(join(ROOT, 'examples', 'sdk-script', 'tags.mjs'), 'utf8')])
  })

  it('works from a fresh clone as written: build, link, login, run both examples and the script, install from a directory, pack', async function () {
    this.timeout(900_000)
    const guide = blocks('console').flatMap((block) => steps(block))
    expect(guide[0].command).to.include(`git clone ${CLONE_URL}`)
    expect(guide.map((step) => step.command)).to.include.members([
      'npm run build:sdk',
      'regshape plugins link examples/plugin-whoami --no-install',
      'regshape plugins link examples/plugin-promote --no-install',
      'node examples/sdk-script/tags.mjs registry.example.com/team/app',
    ])

    const registry = await basicRegistry()
    await pushDatedImage(registry, 'team/app', '1.0', '2024-01-15T09:00:00Z')
    await pushDatedImage(registry, 'team/app', '2.0', '2024-06-03T14:30:00Z')
    const work = mkdtempSync(join(tmpdir(), 'regshape-guide-'))
    const origin = join(mkdtempSync(join(tmpdir(), 'regshape-guide-origin-')), 'regshape.git')
    symlinkSync(ROOT, origin)
    const dockerConfig = join(work, 'docker')
    const prefix = join(work, 'npm-prefix')
    const env: NodeJS.ProcessEnv = {
      // npm reaches its registry as this machine's does (proxy and CA variables, and the global
      // npmrc, which npm would look for under the temporary prefix), but nothing of an `npm run`
      // around mocha (npm_config_local_prefix and such) leaks in, nor the user's ~/.npmrc
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name))),
      npm_config_globalconfig: execFileSync('npm', ['config', 'get', 'globalconfig'], {encoding: 'utf8', env: {...process.env, npm_config_prefix: undefined}}).trim(),
      DOCKER_CONFIG: dockerConfig,
      HOME: mkdtempSync(join(tmpdir(), 'regshape-guide-home-')),
      LANG: 'C.UTF-8',
      PATH: `${join(prefix, 'bin')}:${process.env.PATH}`,
      REGSHAPE_CACHE_DIR: join(work, 'cache'),
      REGSHAPE_CONFIG_DIR: join(work, 'config'),
      REGSHAPE_DATA_DIR: join(work, 'data'),
      npm_config_audit: 'false',
      npm_config_cache: join(homedir(), '.npm'),
      npm_config_fund: 'false',
      npm_config_prefer_offline: 'true',
      npm_config_prefix: prefix,
      npm_config_update_notifier: 'false',
    }
    const substitute = (text: string) =>
      text
        .replaceAll(CLONE_URL, origin)
        .replaceAll('registry.example.com', registry.host)
        .replaceAll('/home/alice/.docker/config.json', join(dockerConfig, 'config.json'))

    let cwd = join(work, 'start')
    execFileSync('mkdir', ['-p', cwd])
    const cwdFile = join(work, '.cwd')
    for (const step of guide) {
      if (step.command.includes('password.txt')) writeFileSync(join(cwd, 'password.txt'), `${USERS.alice.password}\n`)
      const result = await run(substitute(step.command), cwd, env, cwdFile)
      const context = `$ ${step.command}\n${result.stdout}${result.stderr}`
      expect(result.code, context).to.equal(0)
      cwd = result.cwd
      if (step.command.startsWith('regshape ') || step.command.startsWith('node ')) {
        // Colour aside: oclif colours the plugins commands' paths when CI is set (supports-color
        // takes CI for a colour terminal); the guide shows the text.
        // eslint-disable-next-line no-control-regex
        const output = `${result.stdout}${result.stderr}`.replaceAll(/\u001B\[[0-9;]*m/g, '').replace(/\n$/, '')
        const lines = output === '' ? [] : output.split('\n')
        const expected = step.expected.map((line) => substitute(line))
        expect(lines.length, context).to.equal(expected.length)
        for (const [index, line] of lines.entries()) expect(matches(expected[index], line), `${context}\nline ${index + 1} does not match: ${expected[index]}`).to.equal(true)
      } else {
        expect(step.expected, `${step.command}: the guide shows no output for npm and git`).to.deep.equal([])
        expect(result.stderr, context).not.to.match(/prepare script did not produce/)
      }
    }

    // `npm pack -w …` left both tarballs, with what the plugin needs in them
    const clone = join(work, 'start', 'regshape')
    const plugin = execFileSync('tar', ['-tzf', join(clone, 'regshape-plugin-whoami-0.1.0.tgz')], {encoding: 'utf8'}).trim().split('\n').sort()
    expect(plugin).to.deep.equal(['package/README.md', 'package/dist/commands/example/whoami.js', 'package/dist/hooks/probe-cases.js', 'package/oclif.manifest.json', 'package/package.json'])
    const sdk = execFileSync('tar', ['-tzf', join(clone, 'regshape-sdk-0.1.0.tgz')], {encoding: 'utf8'})
    expect(sdk).to.include('package/dist/index.js').and.include('package/dist/index.d.ts')
  })
})
