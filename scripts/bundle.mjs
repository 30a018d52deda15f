#!/usr/bin/env node
// Bundles the CLI for production with esbuild (run by `npm run build`, after tsc):
//
//   dist/bundle/regshape.cjs   the commands, RegshapeCommand, the services, @oclif/core and its
//                              dependencies: everything a command needs before it talks to a network
//   dist/bundle/got.cjs        got and its dependencies, loaded on the first registry request
//   dist/bundle/prompts.cjs    @inquirer/input and @inquirer/password, loaded only to prompt
//   dist/bundle/progress.cjs   cli-progress, loaded only to draw a transfer's progress bar
//   dist/bundle/break.cjs      Ajv and yaml, loaded only to read a --break-rules file
//   dist/bundle/telemetry.cjs  the telemetry, loaded only with --time-methods, --time-scenarios
//                              or --debug-calls
//   dist/bundle/startup.cjs    what bin/run.js runs first: it loads the others with a code cache
//                              (src/startup/)
//   dist/cli.js                oclif's `explicit` command target (package.json oclif.commands): a
//                              few lines handing oclif the COMMANDS of the bundle already loaded
//
// Why:
// - Importing @oclif/core unbundled means ~160 CommonJS files, each resolved, read and compiled:
//   one file is much cheaper, and bin/run.js gives V8 a code cache for it (src/startup/).
// - CommonJS, not ESM: Node 20 can give a script a V8 code cache (vm.Script cachedData), not an
//   ES module, and esbuild splits code only for ESM. So the lazy parts are separate bundles, each
//   `require`d by the main one where src has a dynamic import() of that package.
// - Heavy things stay as lazy as they are in src: got and the prompts are only read when
//   used, the telemetry module only with a telemetry flag.
// - http2-wrapper (a dependency of got) is loaded only if a request asks for HTTP/2, which
//   regshape never does: at import it loads node:http2 and creates a throw-away TLS socket.
// - A few changes to dependencies' code do the same with less start-up work (PATCHES).
// - A dynamic import() cannot run inside a vm.Script that was given cached data on Node 20 (the
//   script's host-defined options do not survive the cache, and import() fails with
//   ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING). oclif imports plugins' ES modules with import(), so
//   every import() of the output goes through __regshapeImport, which the loader supplies
//   (src/startup/code-cache.ts); under Node's own require it is plain import().
// - src stays the source of truth: src/cli.ts lists the commands of src/commands/, and tsc still
//   writes dist/ for the library entry (dist/index.js).
import {build} from 'esbuild'
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'dist', 'bundle')

/**
 * semver (sync's --semver and --latest) has no chunk of its own: @oclif/core requires it, so the
 * main bundle carries it already, and evaluates it only when it is first required.
 *
 * The lazily loaded bundles: each one's entry, and for each module that src imports dynamically
 * and that the chunk carries, what the main bundle gets in its place (a module requiring the
 * chunk). The specifiers are matched as src writes them.
 */
const CHUNKS = {
  got: {entry: `export {default} from 'got'`, modules: {got: `export default require('./got.cjs').default`}},
  // Break mode's rules file: the schema validator and the YAML parser, loaded only with --break.
  break: {
    entry: `export {Ajv} from 'ajv'\nexport {parse} from 'yaml'`,
    modules: {ajv: `export const Ajv = require('./break.cjs').Ajv`, yaml: `export const parse = require('./break.cjs').parse`},
  },
  // The transfer progress bar, loaded only when blob get draws one.
  progress: {entry: `module.exports = require('cli-progress')`, modules: {'cli-progress': `module.exports = require('./progress.cjs')`}},
  prompts: {
    entry: `export {default as input} from '@inquirer/input'\nexport {default as password} from '@inquirer/password'`,
    modules: {'@inquirer/input': `export default require('./prompts.cjs').input`, '@inquirer/password': `export default require('./prompts.cjs').password`},
  },
  // Not heavy, but "without a telemetry flag the telemetry code is not even loaded" stays true
  // and checkable: test/commands/telemetry.test.ts watches which files are read.
  telemetry: {
    entry: `export * from './src/telemetry/telemetry.ts'`,
    modules: {'../telemetry/telemetry.js': `module.exports = require('./telemetry.cjs')`},
  },
}

const common = {
  bundle: true,
  format: 'cjs',
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  // Smaller files read, hash and compile faster (~3 ms a start); names stay as they are, and the
  // source maps (not shipped) give readable stack traces with node --enable-source-maps.
  minifySyntax: true,
  minifyWhitespace: true,
  platform: 'node',
  sourcemap: 'linked',
  target: 'node20',
  // oclif requires typescript only for linked plugins written in TypeScript, from the plugin's
  // own node_modules if need be; the compiler must never be part of the bundle.
  external: ['typescript'],
}

// Defined at the top of every output file; see the header. `import()` here is the only one left.
const IMPORT_HELPER = `var __regshapeImport = typeof __regshapeHostImport === "function" ? __regshapeHostImport : (specifier) => import(specifier);`

/** Serves http2-wrapper to got as a stand-in that loads the real module on first use. */
const lazyHttp2Wrapper = {
  name: 'lazy-http2-wrapper',
  setup(pluginBuild) {
    pluginBuild.onResolve({filter: /^http2-wrapper$/}, (args) =>
      args.importer.includes(`${sep}node_modules${sep}got${sep}`) ? {namespace: 'lazy', path: 'http2-wrapper'} : undefined,
    )
    pluginBuild.onLoad({filter: /.*/, namespace: 'lazy'}, () => ({
      // ESM, so that got's default import takes the Proxy as it is (a CommonJS module would be
      // copied property by property, which loads the real one)
      contents: `let real
const load = () => (real ??= require('http2-wrapper'))
export default new Proxy({}, {get: (_, key) => load()[key], has: (_, key) => key in load()})`,
      loader: 'js',
      resolveDir: root,
    }))
  },
}

/**
 * Changes to dependencies' code inside the bundles, each one doing the same thing with less
 * start-up work (but the last two, which say why). Each one's saving is written beside it: instructions counted by
 * `valgrind --tool=callgrind` (repeatable to about 2% on a loaded machine, where wall-clock times
 * are not), the build with the patch against the build without it, NODE_EXTRA_CA_CERTS unset,
 * LANG=C.UTF-8. Each `find` must occur exactly once in its file, or the build fails: a new
 * version of the dependency must be looked at again. `helpers` are imported from
 * src/startup/oclif-patches.ts (tested against the originals by test/unit/startup/startup.test.ts).
 */
const PATCHES = [
  {
    // oclif sorts each plugin's commands with localeCompare on every start; its first call builds
    // an ICU collator. For ids like regshape's the plain comparison gives the same order.
    // Measured (2026-12-01, callgrind, `regshape auth status`, warm code cache): saves 61 M of
    // 490 M instructions, 12% of the command.
    file: '@oclif/core/lib/config/plugin.js',
    find: '.sort((a, b) => a.id.localeCompare(b.id))',
    helpers: ['compareCommandIds'],
    replace: '.sort((a, b) => compareCommandIds(a.id, b.id))',
  },
  {
    // oclif finds the core plugins by matching every dependency against every oclif.plugins
    // pattern with minimatch; the plugins are listed by plain name. With the next patch, measured
    // as for the one above: saves 14 to 22 M of 446 M instructions, 3 to 5% of the command.
    file: '@oclif/core/lib/config/plugin-loader.js',
    find: 'patterns.some((w) => (0, minimatch_1.minimatch)(p, w))',
    helpers: ['isLiteralPattern'],
    replace: 'patterns.some((w) => (isLiteralPattern(w) ? p === w : (0, minimatch_1.minimatch)(p, w)))',
  },
  {
    // ... and then minimatch itself is only loaded for a pattern that needs it
    file: '@oclif/core/lib/config/plugin-loader.js',
    find: 'const minimatch_1 = require("minimatch");',
    helpers: [],
    replace: 'const minimatch_1 = { get minimatch() { return require("minimatch").minimatch; } };',
  },
  ...['andFormatter', 'orFormatter'].map((name) => ({
    // @sindresorhus/is (a dependency of got) builds two Intl.ListFormat objects when it is loaded,
    // for the wording of its assertion errors; the first Intl object initialises ICU, on every
    // registry request. They are built on first use instead, with the same arguments. Measured
    // (callgrind, `node -e "require('./dist/bundle/got.cjs')"`): loading got takes 167 M
    // instructions instead of 278 to 285 M, 111 M saved.
    file: '@sindresorhus/is/distribution/index.js',
    find: `const ${name} = new Intl.ListFormat('en', { style: 'long', type: '${name === 'andFormatter' ? 'conjunction' : 'disjunction'}' });`,
    helpers: [],
    replace: `let ${name}Instance;\nconst ${name} = { format: (list) => (${name}Instance ??= new Intl.ListFormat('en', { style: 'long', type: '${name === 'andFormatter' ? 'conjunction' : 'disjunction'}' })).format(list) };`,
  })),
  {
    // Not for speed: a user or linked plugin that cannot load makes oclif print a 7-line warning
    // naming regshape, not the plugin, on every command. The error gets its plugin here, so that
    // src/command/plugin-warnings.ts can say in one line which plugin it is and what to do.
    file: '@oclif/core/lib/config/plugin-loader.js',
    find: 'this.errors.push(error);',
    helpers: ['withPlugin'],
    replace: "this.errors.push(withPlugin(error, typeof plugin === 'string' ? { name: plugin, root, type } : { name: plugin.name, root: plugin.root || root, type }));",
  },
  {
    // ... and the same for a command of a plugin without a manifest (a linked one) that fails to load
    file: '@oclif/core/lib/config/plugin.js',
    find: 'const warning = this.addErrorScope(err, scope);',
    helpers: ['withPlugin'],
    replace: 'const warning = withPlugin(this.addErrorScope(err, scope), { name: this.name, root: this.root, scope, type: this.type });',
  },
]

// Each patch is written against one version: package.json pins every patched package exactly
// (@sindresorhus/is, got's dependency, is a direct dependency for that reason alone), and the
// build stops when node_modules holds another version.
{
  const {dependencies} = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  for (const name of new Set(PATCHES.map(({file}) => file.split('/').slice(0, file.startsWith('@') ? 2 : 1).join('/')))) {
    const installed = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
    if (dependencies[name] !== installed) {
      throw new Error(`${name} is patched by scripts/bundle.mjs, so package.json must pin it exactly: it says ${dependencies[name] ?? 'nothing'}, node_modules holds ${installed}`)
    }
  }
}

const appliedPatches = new Set()
const sourcePatches = {
  name: 'source-patches',
  setup(pluginBuild) {
    const byFile = new Map()
    for (const patch of PATCHES) {
      const path = join(root, 'node_modules', ...patch.file.split('/'))
      byFile.set(path, [...(byFile.get(path) ?? []), patch])
    }

    pluginBuild.onLoad({filter: /\.js$/}, (args) => {
      const patches = byFile.get(args.path)
      if (!patches) return
      let source = readFileSync(args.path, 'utf8')
      const helpers = new Set()
      for (const patch of patches) {
        if (source.split(patch.find).length !== 2) throw new Error(`${patch.file}: "${patch.find}" is not there exactly once; check scripts/bundle.mjs against this version`)
        source = source.replace(patch.find, patch.replace)
        for (const helper of patch.helpers) helpers.add(helper)
        appliedPatches.add(patch)
      }

      if (helpers.size > 0) {
        const [directive, ...rest] = source.split('\n')
        if (directive !== '"use strict";') throw new Error(`${args.path}: a CommonJS file with "use strict" first was expected`)
        const from = JSON.stringify(join(root, 'src', 'startup', 'oclif-patches.ts'))
        source = [directive, `const {${[...helpers].join(', ')}} = require(${from});`, ...rest].join('\n')
      }

      return {contents: source, loader: 'js'}
    })
  },
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

// import( not preceded by an identifier character or a dot, and not followed by ")" (as in an
// error message's "import()")
const DYNAMIC_IMPORT = /(?<![\w$.])import\((?!\s*\))/g

/** Routes every dynamic import() left in an output file through __regshapeImport (see the header). */
function routeDynamicImports(file) {
  const [first, ...rest] = readFileSync(file, 'utf8').replaceAll(DYNAMIC_IMPORT, '__regshapeImport(').split('\n')
  // on the first line, after the "use strict" esbuild writes, so that no line moves (source maps)
  const strict = first.match(/^["']use strict["'];/)?.[0] ?? ''
  const text = [`${strict}${IMPORT_HELPER}${first.slice(strict.length)}`, ...rest].join('\n')
  writeFileSync(file, text)
  const left = text.replace(IMPORT_HELPER, '').match(DYNAMIC_IMPORT)
  if (left) throw new Error(`${relative(root, file)}: ${left.length} dynamic import() left`)
}

rmSync(outdir, {force: true, recursive: true})
mkdirSync(outdir, {recursive: true})
const results = await Promise.all([
  build({...common, entryPoints: {regshape: join(root, 'src', 'cli.ts')}, outdir, outExtension: {'.js': '.cjs'}, plugins: [chunkModules, sourcePatches]}),
  build({...common, entryPoints: {startup: join(root, 'src', 'startup', 'index.ts')}, outdir, outExtension: {'.js': '.cjs'}}),
  ...Object.entries(CHUNKS).map(([chunk, {entry}]) =>
    build({
      ...common,
      outfile: join(outdir, `${chunk}.cjs`),
      plugins: chunk === 'got' ? [lazyHttp2Wrapper, sourcePatches] : [],
      stdin: {contents: entry, loader: entry.startsWith('module.exports') ? 'js' : 'ts', resolveDir: root, sourcefile: `${chunk}-entry.ts`},
    }),
  ),
])
for (const patch of PATCHES) if (!appliedPatches.has(patch)) throw new Error(`${patch.file} is in no bundle: its patch in scripts/bundle.mjs is stale`)
for (const result of results) for (const file of Object.keys(result.metafile.outputs)) if (file.endsWith('.cjs')) routeDynamicImports(join(root, file))

// oclif's explicit target, and that of its hooks (command_not_found, postrun) and help class. bin/run.js has loaded the bundle already (with its code cache), and
// require() hands back that instance; `oclif manifest` and `oclif readme` load it here.
writeFileSync(
  join(root, 'dist', 'cli.js'),
  `// Generated by scripts/bundle.mjs: oclif's explicit command target (package.json oclif.commands).
import {createRequire} from 'node:module'

export const {COMMANDS, COMMAND_NOT_FOUND, COMPLETION_POSTRUN, RegshapeHelp} = createRequire(import.meta.url)('./bundle/regshape.cjs')
`,
)

for (const result of results) {
  for (const [file, {bytes}] of Object.entries(result.metafile.outputs)) if (file.endsWith('.cjs')) console.error(`bundle: ${file} ${(bytes / 1024).toFixed(0)} KiB`)
}
