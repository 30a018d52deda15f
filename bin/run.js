#!/usr/bin/env node
// The production entry point: the commands and oclif run from the esbuild bundle
// (scripts/bundle.mjs), one file instead of a few hundred (README, "Development").
import {createRequire} from 'node:module'

const {execute, hoistGlobalFlags} = createRequire(import.meta.url)('../dist/bundle/regshape.cjs')
await execute({args: hoistGlobalFlags(process.argv.slice(2)), dir: import.meta.url})
