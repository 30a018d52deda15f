import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type SeededImages, seedImages} from '../fixtures/images.js'
import {runProcess} from '../fixtures/proc.js'
import type {RegistryHandle} from '../fixtures/registry.js'
import {basicRegistry, tokenRegistry, USERS} from '../fixtures/servers.js'
import {runCli} from '../helpers/cli.js'

/**
 * Independent clients as witnesses: skopeo (Debian's, see scripts/test-prereqs.mjs) and the docker
 * CLI (client only, `docker manifest inspect`) read the same images from the real registry, and
 * must agree with regshape on bytes, digests and media types.
 */

const REPO = 'witness/app'
const DOCKER = '/usr/local/bin/docker'
const {alice} = USERS
const sha = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

describe('witnesses: skopeo and docker read what regshape reads', function () {
  this.timeout(120_000)
  const registries: Array<{handle: RegistryHandle; images: SeededImages; kind: string}> = []
  let dockerConfig: string

  before(async () => {
    for (const [kind, handle] of [['basic', await basicRegistry()], ['token', await tokenRegistry()]] as const) {
      registries.push({handle, images: await seedImages(handle, REPO, {bigLayerBytes: 4096}), kind})
    }

    dockerConfig = mkdtempSync(join(tmpdir(), 'regshape-witness-'))
    const auth = Buffer.from(`${alice.username}:${alice.password}`).toString('base64')
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({auths: Object.fromEntries(registries.map(({handle}) => [handle.host, {auth}]))}))
  })

  const env = () => ({DOCKER_CONFIG: dockerConfig, HOME: dockerConfig, PATH: process.env.PATH})

  for (const kind of ['basic', 'token']) {
    for (const tag of ['oci', 'docker', 'multi']) {
      it(`skopeo inspect --raw gives the bytes of manifest get --raw (${kind} auth, ${tag})`, async () => {
        const {handle} = registries.find((entry) => entry.kind === kind)!
        const reference = `${handle.host}/${REPO}:${tag}`
        const skopeo = await runProcess('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${alice.username}:${alice.password}`, `docker://${reference}`], {env: env()})
        expect(skopeo.code, skopeo.stderr).to.equal(0)
        const ours = await runCli(['manifest', 'get', reference, '--raw'], {env: {DOCKER_CONFIG: dockerConfig}})
        expect(ours.code, ours.stderr).to.equal(0)
        expect(ours.stdout).to.equal(skopeo.stdout)
        const descriptor = await runCli(['manifest', 'descriptor', reference, '--json'], {env: {DOCKER_CONFIG: dockerConfig}})
        expect(JSON.parse(descriptor.stdout).digest).to.equal(sha(skopeo.stdout))
      })
    }
  }

  it('skopeo inspect (the digest it reports) agrees with manifest info', async () => {
    const {handle} = registries[0]
    const reference = `${handle.host}/${REPO}:docker`
    const skopeo = await runProcess('skopeo', ['inspect', '--tls-verify=false', '--creds', `${alice.username}:${alice.password}`, `docker://${reference}`], {env: env()})
    expect(skopeo.code, skopeo.stderr).to.equal(0)
    const info = await runCli(['--json', 'manifest', 'info', reference], {env: {DOCKER_CONFIG: dockerConfig}})
    expect(JSON.parse(info.stdout).digest).to.equal(JSON.parse(skopeo.stdout).Digest)
  })

  for (const tag of ['oci', 'docker']) {
    it(`docker manifest inspect -v agrees on digest, size, media type and bytes (${tag})`, async () => {
      const {handle} = registries[0]
      const reference = `${handle.host}/${REPO}:${tag}`
      const docker = await runProcess(DOCKER, ['manifest', 'inspect', '--insecure', '-v', reference], {env: env()})
      expect(docker.code, docker.stderr).to.equal(0)
      const seen = JSON.parse(docker.stdout) as {Descriptor: {digest: string; mediaType: string; size: number}; Raw: string}
      const descriptor = await runCli(['manifest', 'descriptor', reference], {env: {DOCKER_CONFIG: dockerConfig}})
      expect(JSON.parse(descriptor.stdout)).to.deep.equal({mediaType: seen.Descriptor.mediaType, digest: seen.Descriptor.digest, size: seen.Descriptor.size})
      const raw = await runCli(['manifest', 'get', reference, '--raw'], {env: {DOCKER_CONFIG: dockerConfig}})
      expect(raw.stdout).to.equal(Buffer.from(seen.Raw, 'base64').toString())
    })
  }

  it('docker manifest inspect of the index lists the platforms manifest get --platform resolves', async () => {
    const {handle} = registries[0]
    const reference = `${handle.host}/${REPO}:multi`
    const docker = await runProcess(DOCKER, ['manifest', 'inspect', '--insecure', reference], {env: env()})
    expect(docker.code, docker.stderr).to.equal(0)
    const list = JSON.parse(docker.stdout) as {manifests: Array<{digest: string; platform: {architecture: string; os: string; variant?: string}}>; mediaType: string}
    const ours = JSON.parse((await runCli(['manifest', 'get', reference], {env: {DOCKER_CONFIG: dockerConfig}})).stdout)
    expect(ours.mediaType).to.equal(list.mediaType)
    for (const entry of list.manifests) {
      const platform = [entry.platform.os, entry.platform.architecture, entry.platform.variant].filter(Boolean).join('/')
      const resolved = await runCli(['manifest', 'get', reference, '--platform', platform, '--raw'], {env: {DOCKER_CONFIG: dockerConfig}})
      expect(sha(resolved.stdout), platform).to.equal(entry.digest)
    }
  })
})
