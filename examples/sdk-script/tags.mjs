// A script on the registry library alone, with no oclif: the tags of a repository, then one
// manifest (the tag given, else the last one). Credentials come from Docker's config and its
// helpers, as regshape's own do.
//
//   node tags.mjs registry.example.com/team/app[:tag]
import {dockerChain, terminalSafe} from '@regshape/sdk'
import {openRepository, parseManifest} from '@regshape/sdk/registry'

try {
  const repository = await openRepository(process.argv[2] ?? '', {credentials: dockerChain()})
  try {
    // Every page; sorted here, since a registry need not sort them (distribution 2.8 does not).
    const tags = (await repository.tags({follow: true})).tags.sort()
    for (const tag of tags) console.log(terminalSafe(tag))
    const tag = repository.reference.tag ?? tags.at(-1)
    if (tag !== undefined) {
      const fetched = await repository.getManifest(tag)
      const manifest = parseManifest(fetched.bytes, fetched.contentType)
      console.log(`${terminalSafe(tag)}: ${fetched.digest} ${terminalSafe(manifest.mediaType)}`)
      for (const entry of manifest.kind === 'index' ? manifest.manifests : [manifest.config, ...manifest.layers]) {
        console.log(`  ${entry.digest} ${entry.size} bytes ${terminalSafe(entry.mediaType)}`)
      }
    }
  } finally {
    // The repository opened its own connections: close them, so that the process ends now.
    repository.close()
  }
} catch (error) {
  // The SDK's errors are one line that names what failed, and never hold a secret.
  console.error(`Error: ${error.message}`)
  process.exitCode = 1
}
