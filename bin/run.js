#!/usr/bin/env node

import {execute} from '@oclif/core'

import {hoistGlobalFlags} from '../dist/argv.js'

await execute({args: hoistGlobalFlags(process.argv.slice(2)), dir: import.meta.url})
