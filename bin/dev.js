#!/usr/bin/env -S node --import tsx

import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {execute} from '@oclif/core'

import {hoistGlobalFlags} from '../src/command/argv.ts'

// The commands come from src/cli.ts, not from the production bundle that package.json names as
// oclif's target (dist/cli.js): oclif 4.14 cannot register tsx a second time, under --import tsx,
// so it would not map that target to src by itself.
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif.commands = {...pjson.oclif.commands, target: './src/cli.ts'}
pjson.oclif.helpClass = {...pjson.oclif.helpClass, target: './src/cli.ts'}
pjson.oclif.hooks = Object.fromEntries(Object.entries(pjson.oclif.hooks).map(([event, hook]) => [event, {...hook, target: './src/cli.ts'}]))
await execute({
  args: hoistGlobalFlags(process.argv.slice(2)),
  development: true,
  loadOptions: {pjson, root: fileURLToPath(new URL('..', import.meta.url))},
})
