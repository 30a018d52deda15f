#!/usr/bin/env node
// Run by `npm run build` after scripts/bundle.mjs: removes from dist/ every .js, .cjs and .d.ts
// file that nothing in the npm package loads, so that `files` ("/dist/**/*.js", …) ships only
// what runs or what a type checker reads.
//
// tsc compiles all of src/ (that is the build's type check), but the commands, src/startup/ and
// src/cli.ts run from the esbuild bundles in dist/bundle/ (scripts/bundle.mjs), and dist/cli.js is
// the bundle's few-line stand-in: tsc's dist/commands/, dist/startup/ and dist/cli.d.ts (which
// described a file that no longer exists) would be shipped and never read. What stays:
// - what Node loads from the package's entries: bin/run.js (it loads dist/bundle/startup.cjs),
//   the `exports` targets (dist/index.js and the SDK's subpaths, dist/sdk/*.js), `main`, and
//   oclif's command target (oclif.commands.target),
//   with every relative import, import() and require() they make, transitively;
// - what TypeScript reads from the `types` of each `exports` entry, transitively.
// test/packaging/npm-package.test.ts checks `npm pack`'s list against the same rule.
import {existsSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {dirname, join, normalize, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

// from '…', import '…', import('…'), require('…'), createRequire(…)('…'): relative specifiers only
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+|\)\s*\(\s*)(["'])(\.{1,2}\/[^"'\n]+)\1/g

/** Every file reachable from the entries (paths relative to the package root). */
function closure(entries, {types}) {
  const seen = new Set()
  const pending = [...entries]
  while (pending.length > 0) {
    const file = pending.pop()
    if (seen.has(file) || !existsSync(join(root, file))) continue
    seen.add(file)
    for (const [, , specifier] of readFileSync(join(root, file), 'utf8').matchAll(SPECIFIER)) {
      const target = normalize(join(dirname(file), specifier))
      pending.push(types ? target.replace(/\.js$/, '.d.ts') : target)
    }
  }

  return seen
}

// Every subpath of `exports` (`.`, `./registry`, `./layout`, …) is an entry.
const entries = Object.values(pjson.exports).filter((target) => typeof target === 'object')
const runtime = closure(['bin/run.js', ...entries.map((target) => target.default), pjson.main, pjson.oclif.commands.target].map((file) => normalize(file)), {types: false})
const types = closure(entries.map((target) => normalize(target.types)), {types: true})

function* filesUnder(directory) {
  for (const entry of readdirSync(directory, {withFileTypes: true})) {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) yield* filesUnder(path)
    else yield relative(root, path).split(sep).join('/')
  }
}

let removed = 0
for (const file of filesUnder(join(root, 'dist'))) {
  const loaded = file.endsWith('.d.ts') ? types.has(file) : /\.c?js$/.test(file) ? runtime.has(file) : true
  if (!loaded) {
    rmSync(join(root, file))
    removed++
  }
}

/** Removes the directories that are left empty, deepest first. */
function removeEmpty(directory) {
  for (const entry of readdirSync(directory, {withFileTypes: true})) if (entry.isDirectory()) removeEmpty(join(directory, entry.name))
  if (readdirSync(directory).length === 0) rmSync(directory, {recursive: true})
}

removeEmpty(join(root, 'dist'))

console.error(`prune-dist: removed ${removed} files of dist/ that nothing in the package loads`)
