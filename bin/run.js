#!/usr/bin/env node
// The production entry point. Start-up is paid by every command, so (README, "Development"):
// `--version` is answered here without loading oclif when that gives oclif's exact answer, and
// everything else runs from the esbuild bundle (scripts/bundle.mjs), loaded with a compile cache.
// First of all, HOME is settled and oclif's directories checked (src/startup/prepare.ts): plugins
// and cached code are only ever loaded from directories nobody else can write.
import {createRequire} from 'node:module'

const {loadCli, prepareStart, versionLine} = createRequire(import.meta.url)('../dist/bundle/startup.cjs')
const argv = process.argv.slice(2)
const start = prepareStart(import.meta.url, argv)
if (start.error) {
  process.stderr.write(`${start.error}\n`)
  process.exitCode = 1
} else {
  if (start.warning) process.stderr.write(`${start.warning}\n`)
  // oclif's rule: --version only as the very first argument
  const version = argv[0] === '--version' ? versionLine(import.meta.url) : undefined
  if (version === undefined) {
    // @oclif/core warns when Node does not satisfy its engines range, which means loading semver
    // on every run; package.json's engines field already tells npm what regshape needs.
    process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true'
    // A plugin from `plugins link` runs its compiled code, as docs/plugins.md says; oclif would
    // say so again on every command ("is a linked ESM module and cannot be auto-transpiled").
    process.env.OCLIF_DISABLE_LINKED_ESM_WARNING ??= 'true'
    const {execute} = loadCli(import.meta.url, (specifier) => import(specifier), start.cacheDirectory)
    await execute({args: start.args, loadOptions: start.loadOptions})
  } else {
    process.stdout.write(`${version}\n`)
  }
}
