#!/usr/bin/env node
// Builds @regshape/sdk (packages/sdk) from the CLI's own sources: src/index.ts and everything it
// imports (RegshapeCommand, the services), never src/commands. Its version and dependency ranges
// are kept equal to the CLI's, so a plugin gets exactly the code the CLI runs.
import {execFileSync} from 'node:child_process'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const sdk = join(root, 'packages', 'sdk')
const cli = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const pjsonPath = join(sdk, 'package.json')
const pjson = JSON.parse(readFileSync(pjsonPath, 'utf8'))
pjson.version = cli.version
for (const name of Object.keys(pjson.dependencies)) {
  if (!cli.dependencies[name]) throw new Error(`@regshape/sdk depends on ${name}, which the CLI does not`)
  pjson.dependencies[name] = cli.dependencies[name]
}

const text = `${JSON.stringify(pjson, null, 2)}\n`
if (readFileSync(pjsonPath, 'utf8') !== text) writeFileSync(pjsonPath, text)
rmSync(join(sdk, 'dist'), {force: true, recursive: true})
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(sdk, 'tsconfig.json')], {stdio: 'inherit'})
