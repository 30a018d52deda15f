#!/usr/bin/env node
// The production entry point. Start-up is paid by every command, so (README, "Development"):
// `--version` is answered here without loading oclif when that gives oclif's exact answer, and
// everything else runs from the esbuild bundle (scripts/bundle.mjs), loaded with a compile cache.
import {createRequire} from 'node:module'

const {loadCli, versionLine} = createRequire(import.meta.url)('../dist/bundle/startup.cjs')
const argv = process.argv.slice(2)
// oclif's rule: --version only as the very first argument
const version = argv[0] === '--version' ? versionLine(import.meta.url) : undefined
if (version === undefined) {
  // @oclif/core warns when Node does not satisfy its engines range, which means loading semver
  // on every run; package.json's engines field already tells npm what regshape needs.
  process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true'
  const {execute, hoistGlobalFlags} = loadCli(import.meta.url, (specifier) => import(specifier))
  await execute({args: hoistGlobalFlags(argv), dir: import.meta.url})
} else {
  process.stdout.write(`${version}\n`)
}
