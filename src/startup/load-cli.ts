import Module, {createRequire} from 'node:module'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {execute} from '@oclif/core'

import {installCodeCache} from './code-cache.js'

/** What bin/run.js needs from the bundle (src/cli.ts). */
export interface Cli {
  execute: typeof execute
}

/**
 * Loads the production bundle (dist/bundle/regshape.cjs, see scripts/bundle.mjs) with a compile
 * cache in `directory`, regshape's `<cacheDir>/code-cache` (e.g. ~/.cache/regshape/code-cache)
 * when ./prepare.ts found it safe to read, else none: Node's own where it has one
 * (module.enableCompileCache, Node 22.1 and later, as in the standalone tarballs), else a V8 code
 * cache of the bundles (./code-cache.ts), unless source maps are on. binUrl is bin/run.js's
 * import.meta.url; hostImport is import() from there, for the bundles (see ./code-cache.ts).
 */
export function loadCli(binUrl: string, hostImport: (specifier: string) => Promise<unknown>, directory: string | undefined): Cli {
  const root = fileURLToPath(new URL('..', binUrl))
  const bundles = join(root, 'dist', 'bundle')
  if (directory !== undefined) {
    try {
      const {enableCompileCache} = Module as unknown as {enableCompileCache?: (directory: string) => unknown}
      if (enableCompileCache) enableCompileCache(directory)
      // Source maps (node --enable-source-maps) apply to what Node's loader compiles, not to a
      // vm.Script: someone debugging gets readable stack traces rather than a cache.
      else if (!(process as {sourceMapsEnabled?: boolean}).sourceMapsEnabled) installCodeCache({directory, hostImport, scope: bundles})
    } catch {
      // no cache: slower, never broken
    }
  }

  return createRequire(join(bundles, 'regshape.cjs'))('./regshape.cjs') as Cli
}
