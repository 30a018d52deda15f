#!/usr/bin/env node
// Regenerates README.md's command reference (between <!-- commands --> and <!-- commandsstop -->)
// from the built commands with `oclif readme`. Run by `npm run build`, after `oclif manifest`.
//
//   node scripts/readme.mjs           rewrite README.md if the reference changed
//   node scripts/readme.mjs --check   write nothing; exit 1 if README.md is not current
//
// Why a wrapper and not `oclif readme` alone:
// - The output must not depend on who runs it. oclif wraps help text at $COLUMNS (default 120):
//   it is pinned here. The <!-- usage --> marker is not used, because oclif writes the running
//   Node version and platform into it (`regshape/0.1.0 linux-x64 node-v20.20.2`).
// - It must work offline: the oclif dev CLI's update check would call the npm registry.
// - oclif writes every command as a `##` heading; here they sit under `## Command reference`, so
//   they are moved one level down (their anchors stay the same).
// - oclif rewrites the file even when nothing changed; this writes only on a change.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const readmePath = join(root, 'README.md')
const check = process.argv.includes('--check')
const START = '<!-- commands -->'
const STOP = '<!-- commandsstop -->'

const current = readFileSync(readmePath, 'utf8')
if (!current.includes(START)) {
  console.error(`README.md has no ${START} marker: nothing to generate`)
  process.exit(1)
}

const work = mkdtempSync(join(tmpdir(), 'regshape-readme-'))
let generated
try {
  const draft = join(work, 'README.md')
  writeFileSync(draft, current)
  const oclif = join(dirname(createRequire(import.meta.url).resolve('oclif/package.json')), 'bin', 'run.js')
  execFileSync(process.execPath, [oclif, 'readme', '--readme-path', draft, '--no-aliases'], {
    cwd: root,
    env: {...process.env, COLUMNS: '120', OCLIF_SKIP_NEW_VERSION_CHECK: 'true'},
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  generated = readFileSync(draft, 'utf8')
} finally {
  rmSync(work, {force: true, recursive: true})
}

const start = generated.indexOf(START)
const stop = generated.indexOf(STOP, start)
const reference = generated.slice(start, stop).replaceAll(/^## `regshape/gm, '### `regshape')
generated = generated.slice(0, start) + reference + generated.slice(stop)

if (generated === current) process.exit(0)
if (check) {
  console.error('README.md: the command reference is out of date. Run `npm run build` (or `node scripts/readme.mjs`) and commit README.md.')
  process.exit(1)
}

writeFileSync(readmePath, generated)
console.error('README.md: command reference updated')
