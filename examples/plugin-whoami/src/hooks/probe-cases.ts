import {defineProbeCase, SPEC} from '@regshape/sdk/probe'

/**
 * The `regshape:probe-cases` hook (package.json `oclif.hooks`): the cases this plugin adds to
 * `regshape probe`. They run and report like the built-in ones, with the plugin's name.
 */
export default async function probeCases() {
  return [
    defineProbeCase({
      name: 'whoami-api-version-header',
      area: 'pull',
      level: 'MAY',
      spec: SPEC.support,
      request: 'GET of /v2/ with the credentials regshape resolves',
      expected: '200 and Docker-Distribution-API-Version: registry/2.0',
      writes: false,
      async run(context) {
        const response = await context.send({method: 'GET', operation: 'ping', path: '/v2/'})
        const version = response.headers['docker-distribution-api-version']?.[0]
        if (response.status !== 200) return context.judge(response, {statuses: [200]})
        if (version !== 'registry/2.0') return {verdict: 'fail', got: {status: response.status}, detail: `Docker-Distribution-API-Version is ${version ?? 'missing'}`}
        return {verdict: 'pass', got: {status: response.status}}
      },
    }),
  ]
}
