import {imageRefFrom, referenceArgs, referenceFlags} from '../command/flags.js'
import {RegistryCommand} from '../command/registry-command.js'
import {terminalSafe} from '../util/text.js'

/** `regshape ratelimit`'s result: what the registry announced, null where it said nothing. */
export interface RateLimitResult {
  registry: string
  repository: string
  /** Whether the registry announced a rate limit at all. */
  announced: boolean
  limit: null | number
  remaining: null | number
  window_seconds: null | number
  source: null | string
}

export default class RateLimit extends RegistryCommand<typeof RateLimit, RateLimitResult> {
  static override args = {reference: referenceArgs.image('Repository, host[:port]/repository[:tag] (instead of -i); the tag is latest by default')}

  static override description = `Sends one HEAD for a manifest of the repository (latest unless a tag is given) and prints the rate limit the registry announces on its answer: Docker Hub's RateLimit-Limit (pulls per window) and RateLimit-Remaining (pulls left), with the window in seconds and Docker-RateLimit-Source (what the limit is counted for). Docker Hub does not count a HEAD as a pull, so asking costs nothing. A registry that announces no limit is reported as such (exit 0); a missing tag still tells, as the HEAD's answer carries the headers.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> docker.io/library/alpine',
    '<%= config.bin %> <%= command.id %> docker.io/ratelimitpreview/test --json',
  ]

  static override flags = {
    'image-ref': referenceFlags.imageRef(),
  }

  static override summary = 'Show the pulls a registry allows and has left (Docker Hub rate limits)'

  async run(): Promise<RateLimitResult> {
    const ref = imageRefFrom(this.args.reference, this.flags['image-ref'], {example: 'regshape ratelimit host/repository[:tag]'})
    const repository = await this.repository(ref)
    const limit = await repository.rateLimit(ref.digest ?? ref.tag ?? 'latest')
    return {
      registry: ref.registry.input,
      repository: ref.repository,
      announced: limit !== undefined,
      limit: limit?.limit ?? null,
      remaining: limit?.remaining ?? null,
      window_seconds: limit?.windowSeconds ?? null,
      source: limit?.source ?? null,
    }
  }

  protected override renderText(result: RateLimitResult): string {
    if (!result.announced) return `${terminalSafe(result.registry)} announces no rate limit (no RateLimit-Limit or RateLimit-Remaining header)`
    const window = result.window_seconds === null ? '' : ` per ${result.window_seconds} s (${hours(result.window_seconds)})`
    return [
      `Limit:       ${result.limit ?? 'not given'}${result.limit === null ? '' : window}`,
      `Remaining:   ${result.remaining ?? 'not given'}`,
      ...(result.source === null ? [] : [`Counted for: ${terminalSafe(result.source)}`]),
    ].join('\n')
  }
}

function hours(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} h` : `${(seconds / 60).toFixed(0)} min`
}
