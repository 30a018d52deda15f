#!/usr/bin/env node
// Bundles the CLI for production with esbuild (run by `npm run build`, after tsc):
//
//   dist/bundle/regshape.cjs   the commands, RegshapeCommand, the services, @oclif/core and its
//                              dependencies: everything a command needs before it talks to a network
//   dist/bundle/got.cjs        got and its dependencies, loaded on the first registry request
//   dist/bundle/prompts.cjs    @inquirer/input and @inquirer/password, loaded only to prompt
//   dist/bundle/lockfile.cjs   proper-lockfile, loaded only to write config.json
//   dist/bundle/telemetry.cjs  the telemetry, loaded only with --time-methods, --time-scenarios
//                              or --debug-calls
//   dist/cli.js                oclif's `explicit` command target (package.json oclif.commands): a
//                              few lines handing oclif the COMMANDS of the bundle already loaded
//
// Why:
// - Importing @oclif/core unbundled means ~160 CommonJS files, each resolved, read and compiled:
//   one file is much cheaper.
// - CommonJS, not ESM: the lazy parts are separate bundles, each `require`d by the main one where
//   src has a dynamic import() of that package, so that a later step can load every one of them
//   with a V8 code cache (Node 20 has none for ES modules); esbuild splits code only for ESM.
// - Heavy things stay as lazy as they are in src: got, the prompts and proper-lockfile are only
//   read when used, the telemetry module only with a telemetry flag.
// - src stays the source of truth: src/cli.ts lists the commands of src/commands/, and tsc still
//   writes dist/ for the library entry (dist/index.js).
import {build} from 'esbuild'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'dist', 'bundle')

/**
 * The lazily loaded bundles: each one's entry, and for each module that src imports dynamically
 * and that the chunk carries, what the main bundle gets in its place (a module requiring the
 * chunk). The specifiers are matched as src writes them.
 */
const CHUNKS = {
  got: {entry: `export {default} from 'got'`, modules: {got: `export default require('./got.cjs').default`}},
  lockfile: {entry: `module.exports = require('proper-lockfile')`, modules: {'proper-lockfile': `export default require('./lockfile.cjs')`}},
  prompts: {
    entry: `export {default as input} from '@inquirer/input'\nexport {default as password} from '@inquirer/password'`,
    modules: {'@inquirer/input': `export default require('./prompts.cjs').input`, '@inquirer/password': `export default require('./prompts.cjs').password`},
  },
  // Not heavy, but "without a telemetry flag the telemetry code is not even loaded" stays true
  // and checkable: test/commands/telemetry.test.ts watches which files are read.
  telemetry: {
    entry: `export * from './src/services/telemetry/telemetry.ts'`,
    modules: {'./services/telemetry/telemetry.js': `module.exports = require('./telemetry.cjs')`},
  },
}

const common = {
  bundle: true,
  format: 'cjs',
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  platform: 'node',
  target: 'node20',
  // oclif requires typescript only for linked plugins written in TypeScript, from the plugin's
  // own node_modules if need be; the compiler must never be part of the bundle.
  external: ['typescript'],
}

/** In the main bundle, a dynamic import() of a chunked module becomes a require of its chunk. */
const chunkModules = {
  name: 'chunk-modules',
  setup(pluginBuild) {
    const replacements = new Map(Object.values(CHUNKS).flatMap(({modules}) => Object.entries(modules)))
    const filter = new RegExp(`^(${[...replacements.keys()].map((name) => name.replaceAll(/[/.]/g, '\\$&')).join('|')})$`)
    pluginBuild.onResolve({filter}, (args) => {
      if (args.kind !== 'dynamic-import') throw new Error(`${args.path} is imported statically by ${args.importer}: it must stay a dynamic import()`)
      return {namespace: 'chunk', path: args.path}
    })
    pluginBuild.onLoad({filter: /.*/, namespace: 'chunk'}, (args) => ({contents: replacements.get(args.path), loader: 'js'}))
    pluginBuild.onResolve({filter: /^\.\/\w+\.cjs$/, namespace: 'chunk'}, (args) => ({external: true, path: args.path}))
  },
}

rmSync(outdir, {force: true, recursive: true})
mkdirSync(outdir, {recursive: true})
const results = await Promise.all([
  build({...common, entryPoints: {regshape: join(root, 'src', 'cli.ts')}, outdir, outExtension: {'.js': '.cjs'}, plugins: [chunkModules]}),
  ...Object.entries(CHUNKS).map(([chunk, {entry}]) =>
    build({
      ...common,
      outfile: join(outdir, `${chunk}.cjs`),
      stdin: {contents: entry, loader: entry.startsWith('module.exports') ? 'js' : 'ts', resolveDir: root, sourcefile: `${chunk}-entry.ts`},
    }),
  ),
])

// oclif's explicit target. bin/run.js has loaded the bundle already, and require() hands back
// that instance; `oclif manifest` and `oclif readme` load it here.
writeFileSync(
  join(root, 'dist', 'cli.js'),
  `// Generated by scripts/bundle.mjs: oclif's explicit command target (package.json oclif.commands).
import {createRequire} from 'node:module'

export const {COMMANDS} = createRequire(import.meta.url)('./bundle/regshape.cjs')
`,
)

for (const result of results) {
  for (const [file, {bytes}] of Object.entries(result.metafile.outputs)) if (file.endsWith('.cjs')) console.error(`bundle: ${file} ${(bytes / 1024).toFixed(0)} KiB`)
}
