#!/usr/bin/env node
// Writes static bash and zsh completion scripts into completions/ (run by `prepack`, after the
// build), so the npm package and the standalone tarballs carry them and the Homebrew formula can
// install them into brew's completion directories:
//
//   completions/bash/regshape    defines _regshape_autocomplete; `complete -F … regshape`
//   completions/zsh/_regshape    #compdef regshape
//
// They are what @oclif/plugin-autocomplete generates: `regshape autocomplete --refresh-cache`
// writes them into its cache (<cacheDir>/autocomplete/functions/). Its own set-up line
// (`regshape autocomplete script bash|zsh`) sources files in the user's cache instead, which a
// package manager cannot install, so the generated functions are copied out here. They list the
// commands of regshape and its core plugins; commands of user-installed plugins are completed
// only through `regshape autocomplete` (whose cache is refreshed on plugin install).
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ROOT} from './release-layout.mjs'

const work = mkdtempSync(join(tmpdir(), 'regshape-completions-'))
try {
  // own HOME, cache, data and config dirs: no user plugin, linked plugin or old cache gets in
  const env = {
    HOME: work,
    LANG: 'C.UTF-8',
    PATH: process.env.PATH,
    REGSHAPE_CACHE_DIR: join(work, 'cache'),
    REGSHAPE_CONFIG_DIR: join(work, 'config'),
    REGSHAPE_DATA_DIR: join(work, 'data'),
  }
  execFileSync(process.execPath, [join(ROOT, 'bin', 'run.js'), 'autocomplete', '--refresh-cache'], {env, stdio: ['ignore', 'ignore', 'inherit']})
  const functions = join(work, 'cache', 'autocomplete', 'functions')
  const out = join(ROOT, 'completions')
  rmSync(out, {force: true, recursive: true})
  mkdirSync(join(out, 'bash'), {recursive: true})
  mkdirSync(join(out, 'zsh'), {recursive: true})
  copyFileSync(join(functions, 'bash', 'regshape.bash'), join(out, 'bash', 'regshape'))
  copyFileSync(join(functions, 'zsh', '_regshape'), join(out, 'zsh', '_regshape'))
} finally {
  rmSync(work, {force: true, recursive: true})
}
