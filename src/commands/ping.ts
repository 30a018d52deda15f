import {Flags} from '@oclif/core'

import type {JsonObject} from '../command/base-command.js'
import {BreakModeCommand} from '../command/break-command.js'
import {terminalSafe} from '../util/text.js'
import {referenceArgs, registryName} from '../command/flags.js'
import {parseRegistry} from '../reference/registry.js'
import {describeSource, sourceJson} from '../credentials/resolve.js'
import {NetworkError, ProtocolError, RegshapeError} from '../errors.js'
import {type PingResult, pingRegistry} from '../workflows/ping.js'

/** Every message `ping` prints. */
const messages = {
  loginHint: (registry: string) => `; log in with: regshape auth login -r ${registry}`,
  outcome: {
    accepted: 'accepted',
    missing: 'required but missing',
    'not-required': 'not required (/v2/ is open to anyone)',
    rejected: 'rejected',
  },
  notRegistry: (registry: string, reason: string) => `Registry ${registry} answered, but not as a registry: ${reason}`,
  unreachable: (registry: string, reason: string) => `Registry ${registry} is not reachable: ${reason}`,
}

/** The registry as named, and what the ping found; the --json object is built from both. */
export interface PingReport {
  registry: string
  result: PingResult
}

export default class Ping extends BreakModeCommand<typeof Ping, PingReport> {
  static override args = {
    registry: referenceArgs.registry('Registry hostname (e.g., registry.example.com)'),
  }

  static override description = `Sends GET /v2/ without credentials and reports the HTTP status, the Docker-Distribution-API-Version header, the authentication the registry demands (Basic, or Bearer with its realm and service) and the round-trip time. If the registry asks for credentials, ping answers with what the credential resolution chain yields (flags, credential helper, config file, or anonymous) and says whether they were accepted and where they came from.

Exits 0 when the registry speaks the distribution API, even if it wants credentials that are missing or wrong; exits 1 when it is unreachable or not a registry.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> registry.example.com',
    '<%= config.bin %> --json <%= command.id %> -r registry.example.com',
  ]

  static override flags = {
    registry: Flags.string({char: 'r', description: 'Registry hostname (instead of the argument)'}),
  }

  static override summary = 'Check that a registry is reachable and which credentials it accepts'

  async run(): Promise<PingReport> {
    const ref = parseRegistry(registryName(this.args.registry, this.flags.registry, 'ping'))
    let result: PingResult
    try {
      const client = await this.services.transport()
      result = await pingRegistry(client, ref, () => this.resolveCredentials(ref))
    } catch (error) {
      // Not reachable means no HTTP answer at all (refused, reset, DNS, TLS, timeout)...
      if (error instanceof NetworkError) throw new RegshapeError(messages.unreachable(ref.input, error.message), {cause: error})
      // ... while a server that answered was reached: it is just not a registry (a web server's 404).
      if (error instanceof ProtocolError) throw new RegshapeError(messages.notRegistry(ref.input, error.message), {cause: error})

      throw error
    }

    return {registry: ref.input, result}
  }

  protected override renderText({registry, result}: PingReport): string {
    const {challenge, credentials} = result
    const auth =
      challenge === undefined
        ? 'none'
        : challenge.scheme === 'bearer'
          ? `Bearer (realm ${challenge.params.realm ?? '?'}${challenge.params.service ? `, service ${challenge.params.service}` : ''})`
          : `Basic${challenge.params.realm ? ` (realm ${challenge.params.realm})` : ''}`
    const held = credentials?.credentials
    const who = held?.username ?? (held?.identityToken ? 'identity token' : held?.registryToken ? 'registry token' : undefined)
    const origin = credentials ? ` — ${who === undefined ? '' : `${who} from `}${describeSource(credentials.source)}` : ''
    const lines: Array<[string, string]> = [
      ['Registry', `${registry} (${result.url})`],
      ['Status', result.finalStatus === result.status ? String(result.status) : `${result.status}, then ${result.finalStatus} after answering the challenge`],
      ['API version', result.apiVersion ?? '(no Docker-Distribution-API-Version header)'],
      ['Auth', auth],
      ['Credentials', `${messages.outcome[result.outcome]}${origin}${result.outcome === 'missing' ? messages.loginHint(registry) : ''}`],
      ['Round trip', `${result.roundTripMs.toFixed(1)} ms`],
    ]
    const width = Math.max(...lines.map(([label]) => label.length)) + 2
    // Realm, service, API version and username come from the registry and the config file.
    return lines.map(([label, value]) => `${`${label}:`.padEnd(width)}${terminalSafe(value)}`).join('\n')
  }

  protected override renderJson({registry, result}: PingReport): JsonObject {
    const {challenge, credentials} = result
    return {
      status: 'success',
      registry,
      url: result.url,
      reachable: true,
      status_code: result.status,
      final_status_code: result.finalStatus,
      api_version: result.apiVersion ?? null,
      auth: challenge ? {scheme: challenge.scheme, realm: challenge.params.realm, service: challenge.params.service} : null,
      credentials: {
        outcome: result.outcome,
        username: credentials?.credentials?.username ?? null,
        source: credentials ? sourceJson(credentials.source) : null,
      },
      latency_ms: Math.round(result.roundTripMs * 10) / 10,
    }
  }
}
