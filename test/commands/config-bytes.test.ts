import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {formatConfigJson, parseJson} from '../../src/credentials/config-json.js'
import {DockerConfigFile, encodeAuth} from '../../src/credentials/docker-config.js'
import {basicRegistry, USERS} from '../fixtures/servers.js'
import {expectNoStackTrace, runCli} from '../helpers/cli.js'

/**
 * config.json byte for byte (issue 15): docker writes it with Go's encoder (`<`, `>`, `&` as
 * \u003c, \u003e, \u0026; big integers intact), and other tools write their own spellings. What
 * regshape does not change must come back exactly as it was.
 */

const {alice} = USERS

/** A config docker could have written, plus other tools' keys with spellings JSON.parse loses. */
const UNOWNED = [
  '\t"auths": {',
  '\t\t"other.example": {',
  '\t\t\t"auth": "b3RoZXI6cGFzcw==",',
  '\t\t\t"email": "a\\u0026b \\u003cme\\u003e"',
  '\t\t}',
  '\t},',
  '\t"HttpHeaders": {',
  '\t\t"X-Meta": "a\\u0026b\\/c \\u00e9"',
  '\t},',
  '\t"x-tool": {"big": 12345678901234567890, "float": 1.50, "list": [1e3, "\\ud83d\\ude00", null]}',
]

function configFile(lines: string[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-bytes-'))
  const path = join(directory, 'config.json')
  writeFileSync(path, `{\n${lines.join('\n')}\n}`, {mode: 0o600})
  return path
}

/** The text of each of the file's members other than `skip`, as written. */
function membersText(text: string, skip: string[] = []): string[] {
  return text
    .split('\n')
    .filter((_line, index, all) => {
      // Top-level members start with one tab; keep them with their continuation lines.
      const owner = all.slice(0, index + 1).reverse().find((candidate) => /^\t"/.test(candidate))
      return owner !== undefined && !skip.some((name) => owner.startsWith(`\t"${name}"`))
    })
}

describe('config.json byte for byte', () => {
  it('a login and a logout against a real registry leave every member regshape did not change as it was written', async () => {
    const registry = await basicRegistry()
    const path = configFile(UNOWNED)
    const before = readFileSync(path, 'utf8')
    const login = await runCli(['auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin', '--docker-config', path], {stdin: alice.password})
    expect(login.code, login.stderr).to.equal(0)
    const afterLogin = readFileSync(path, 'utf8')
    expect(JSON.parse(afterLogin).auths[registry.host]).to.deep.equal({auth: encodeAuth(alice.username, alice.password)})
    // Everything but auths is untouched, and inside auths the other registry's entry too.
    expect(membersText(afterLogin, ['auths'])).to.deep.equal(membersText(before, ['auths']))
    expect(afterLogin).to.include(['\t\t"other.example": {', '\t\t\t"auth": "b3RoZXI6cGFzcw==",', '\t\t\t"email": "a\\u0026b \\u003cme\\u003e"', '\t\t}'].join('\n'))
    expect(afterLogin).to.include('12345678901234567890').and.to.include('"a\\u0026b\\/c \\u00e9"').and.to.include('1.50')

    const logout = await runCli(['auth', 'logout', '-r', registry.host, '--docker-config', path])
    expect(logout.code, logout.stderr).to.equal(0)
    expect(readFileSync(path, 'utf8')).to.equal(before)
  })

  it('writes what it does change as Go does: tabs, no trailing newline, <, > and & escaped', async () => {
    const path = configFile(['\t"auths": {}'])
    const file = new DockerConfigFile(path)
    await file.update((data) => {
      data.auths = {'r.example': {auth: encodeAuth('a<b>&c', 'p\u2028q')}}
      data.note = 'x<y>&z\u2028'
    })
    expect(readFileSync(path, 'utf8')).to.equal(
      `{\n\t"auths": {\n\t\t"r.example": {\n\t\t\t"auth": "${encodeAuth('a<b>&c', 'p\u2028q')}"\n\t\t}\n\t},\n\t"note": "x\\u003cy\\u003e\\u0026z\\u2028"\n}`,
    )
  })

  it('formatConfigJson writes a parsed document back unchanged, and JSON.stringify(…, "\\t") for new data', () => {
    const text = `{\n${UNOWNED.join('\n')}\n}`
    expect(formatConfigJson(parseJson(text).value)).to.equal(text)
    const fresh = {a: [1, {b: 'c'}], d: {}, e: []}
    expect(formatConfigJson(fresh)).to.equal(JSON.stringify(fresh, null, '\t'))
  })

  it('accepts a UTF-8 byte order mark, as docker does, and drops it on a rewrite', async () => {
    const registry = await basicRegistry()
    const path = configFile(['\t"auths": {}'])
    writeFileSync(path, `\uFEFF${readFileSync(path, 'utf8')}`)
    const status = await runCli(['auth', 'status', '--docker-config', path])
    expect(status.code, status.stderr).to.equal(0)
    const login = await runCli(['auth', 'login', '-r', registry.host, '-u', alice.username, '--password-stdin', '--docker-config', path], {stdin: alice.password})
    expect(login.code, login.stderr).to.equal(0)
    expect(readFileSync(path, 'utf8').startsWith('{\n\t"auths"')).to.equal(true)
  })

  it('refuses a Windows path on this platform instead of creating a file of that name', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'regshape-winpath-'))
    for (const [args, env, source] of [
      [['auth', 'logout', '-r', 'r.example', '--docker-config', 'C:\\Users\\me\\.docker\\config.json'], {}, '--docker-config'],
      [['auth', 'status'], {DOCKER_CONFIG: 'D:/docker'}, 'DOCKER_CONFIG'],
    ] as const) {
      const result = await runCli([...args], {cwd, env: {...env}})
      expect(result.code, result.stderr).to.equal(1)
      expect(result.stderr).to.match(new RegExp(`^Error: .*${source} is a Windows path .*; on linux give a path such as ~/.docker/config.json\\n$`))
      expectNoStackTrace(result)
    }

    expect(readdirSync(cwd)).to.deep.equal([])
  })
})
