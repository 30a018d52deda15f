import {Config} from '@oclif/core'
import {captureOutput} from '@oclif/test'
import {expect} from 'chai'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import AuthLogin from '../../src/commands/auth/login.js'
import {DefaultServices, setServiceFactory} from '../../src/command/services.js'
import type {Prompter} from '../../src/command/prompt.js'
import {basicRegistry, USERS} from '../fixtures/servers.js'
import {ROOT} from '../helpers/cli.js'

describe('the service factory', () => {
  it('lets a test replace a service: a scripted prompter answers login\'s questions', async () => {
    const registry = await basicRegistry()
    const dockerConfig = join(mkdtempSync(join(tmpdir(), 'regshape-dc-')), 'config.json')
    const asked: string[] = []
    const prompter: Prompter = {
      async ask(message, options) {
        asked.push(`${message}${options?.hidden ? ' (hidden)' : ''}`)
        return options?.hidden ? USERS.alice.password : USERS.alice.username
      },
      stdinIsInteractive: () => true,
      terminalAvailable: () => true,
    }
    const restore = setServiceFactory((options) => {
      const services = new DefaultServices(options)
      services.prompter = () => prompter
      return services
    })
    try {
      const config = await Config.load(ROOT)
      const {error, stdout} = await captureOutput(() => AuthLogin.run(['-r', registry.host, '--docker-config', dockerConfig], config))
      expect(error).to.equal(undefined)
      expect(stdout).to.equal('Login succeeded.\n')
    } finally {
      restore()
    }

    expect(asked).to.deep.equal([`Username for ${registry.host}:`, `Password for ${registry.host}: (hidden)`])
    const stored = JSON.parse(readFileSync(dockerConfig, 'utf8')).auths[registry.host].auth
    expect(Buffer.from(stored, 'base64').toString()).to.equal(`alice:${USERS.alice.password}`)
  })

  it('maps an error thrown in a command to the exit code on the error it raises', async () => {
    const config = await Config.load(ROOT)
    const {error, stderr} = await captureOutput(() => AuthLogin.run(['-r', 'bad name', '-u', 'a', '-p', 'b'], config))
    expect(error?.oclif?.exit).to.equal(1)
    expect(stderr).to.include('Error: invalid registry name "bad name": it contains whitespace\n')
  })
})
