#!/usr/bin/env node
// The production entry point. Start-up is paid by every command, so (README, "Development") the
// commands and oclif run from the esbuild bundle (scripts/bundle.mjs), loaded with a compile cache.
import {createRequire} from 'node:module'

const {loadCli} = createRequire(import.meta.url)('../dist/bundle/startup.cjs')
const {execute, hoistGlobalFlags} = loadCli(import.meta.url, (specifier) => import(specifier))
await execute({args: hoistGlobalFlags(process.argv.slice(2)), dir: import.meta.url})
