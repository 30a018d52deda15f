/**
 * What `npm pack` ships. It must not carry the standalone tarballs, which oclif writes into dist/
 * (also tsc's outDir), and it must carry nothing that nothing loads: every .js/.cjs is reached
 * from the package's entries by Node, every .d.ts from its `types` entry by TypeScript
 * (scripts/prune-dist.mjs removes the rest of tsc's output at build time).
 */
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, normalize} from 'node:path'

import {expect} from 'chai'

import {ROOT} from '../helpers/cli.js'

function packedFiles(): string[] {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {cwd: ROOT, encoding: 'utf8'}))
  return (packed.files as Array<{path: string}>).map((file) => file.path).sort()
}

/**
 * The files reachable from the entries through relative specifiers: `from '…'`, `import '…'`,
 * `import('…')`, `require('…')` and bin/run.js's `createRequire(…)('…')`. For declarations, a
 * specifier ending in .js names the .d.ts beside it.
 */
function reachable(entries: string[], declarations: boolean): Set<string> {
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+|\)\s*\(\s*)(["'])(\.{1,2}\/[^"'\n]+)\1/g
  const seen = new Set<string>()
  const pending = [...entries]
  while (pending.length > 0) {
    const file = pending.pop() as string
    if (seen.has(file)) continue
    expect(existsSync(join(ROOT, file)), `${file} is imported but missing`).to.equal(true)
    seen.add(file)
    for (const match of readFileSync(join(ROOT, file), 'utf8').matchAll(specifier)) {
      const target = normalize(join(dirname(file), match[2]))
      pending.push(declarations ? target.replace(/\.js$/, '.d.ts') : target)
    }
  }

  return seen
}

describe('npm package contents', () => {
  it('lists no tarball, even with one left in dist/', () => {
    const stray = join(ROOT, 'dist', 'regshape-v0.0.0-stray00-linux-x64.tar.gz')
    writeFileSync(stray, 'not a tarball')
    let files: string[]
    try {
      files = packedFiles()
    } finally {
      rmSync(stray, {force: true})
    }

    expect(files).to.include.members(['bin/run.js', 'dist/index.js', 'oclif.manifest.json', 'completions/bash/regshape', 'completions/zsh/_regshape'])
    expect(files.filter((file) => /\.(tgz|tar\.gz|tar\.xz)$/.test(file) || /^(release|tmp)\//.test(file))).to.deep.equal([])
  })

  it('ships exactly the code that its entries load (the SDK subpaths included), and the declarations their types read', () => {
    const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    const entries = Object.values(pjson.exports as Record<string, unknown>).filter((target): target is {default: string; types: string} => typeof target === 'object')
    expect(entries.map((target) => target.default)).to.include.members(['./dist/index.js', './dist/sdk/registry.js', './dist/sdk/layout.js', './dist/sdk/copy.js', './dist/sdk/break.js', './dist/sdk/probe.js'])
    const code = reachable(['bin/run.js', ...entries.map((target) => target.default), pjson.oclif.commands.target].map((file: string) => normalize(file)), false)
    const declarations = reachable(entries.map((target) => normalize(target.types)), true)
    // the bundles that the main bundle requires lazily are reached through require('./got.cjs') and such
    expect([...code].filter((file) => file.startsWith('dist/bundle/')).sort()).to.include.members(['dist/bundle/got.cjs', 'dist/bundle/regshape.cjs', 'dist/bundle/startup.cjs'])

    const files = packedFiles()
    const shippedCode = files.filter((file) => /\.(c?js|d\.ts)$/.test(file))
    expect(shippedCode.filter((file) => !(file.endsWith('.d.ts') ? declarations : code).has(file)), 'shipped, never loaded').to.deep.equal([])
    expect([...code, ...declarations].filter((file) => !files.includes(file)).sort(), 'loaded, not shipped').to.deep.equal([])
    const rest = files.filter((file) => !shippedCode.includes(file))
    expect(rest.filter((file) => !/^(package\.json|README\.md|LICENSE|oclif\.manifest\.json|completions\/(bash\/regshape|zsh\/_regshape))$/.test(file))).to.deep.equal([])
  })
})
