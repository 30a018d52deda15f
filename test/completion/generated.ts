/**
 * The completion scripts exactly as users get them: `regshape autocomplete --refresh-cache` run on
 * the built CLI, with the cache in a temp dir (REGSHAPE_CACHE_DIR) and a temp HOME, so neither a
 * developer's own cache nor their user-installed plugins leak into what is tested.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {runCli} from '../helpers/cli.js'

export interface CompletionFiles {
  /** functions/bash/regshape.bash: defines _regshape_autocomplete and registers it with `complete`. */
  bash: string
  /** The directory holding `_regshape` (the zsh completion function), for fpath. */
  zshDir: string
}

let generated: Promise<CompletionFiles> | undefined

export function generatedCompletions(): Promise<CompletionFiles> {
  generated ??= (async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'regshape-ac-'))
    const result = await runCli(['autocomplete', '--refresh-cache'], {env: {REGSHAPE_CACHE_DIR: cacheDir}})
    expect(result.code, result.stderr).to.equal(0)
    const functions = join(cacheDir, 'autocomplete', 'functions')
    const files = {bash: join(functions, 'bash', 'regshape.bash'), zshDir: join(functions, 'zsh')}
    expect(existsSync(files.bash), files.bash).to.equal(true)
    expect(existsSync(join(files.zshDir, '_regshape')), files.zshDir).to.equal(true)
    return files
  })()
  return generated
}

export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, {env: {HOME: tmpdir(), LANG: 'C.UTF-8', PATH: process.env.PATH, ...env}, timeout: 20_000}, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/** Distinct candidates, sorted, so assertions do not depend on the shell's order or repeats. */
export const distinct = (words: string[]): string[] => [...new Set(words.filter(Boolean))].sort()
