import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ROOT} from '../helpers/cli.js'

const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {oclif: {update: {node: {version: string}}}; version: string}

export const VERSION = pjson.version
/** The Node the tarballs bundle (oclif.update.node.version). */
export const BUNDLED_NODE = pjson.oclif.update.node.version
export const RELEASE_DIR = join(ROOT, 'release')
/** This machine's target, the one tarball that can be run here. */
export const HOST_TARGET = `${process.platform}-${process.arch}`

/** release/regshape-<version>-<target>.tar.gz, which `npm run pack:tarballs` builds. */
export function releaseTarball(target = HOST_TARGET): string {
  const file = join(RELEASE_DIR, `regshape-${VERSION}-${target}.tar.gz`)
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run pack:tarballs (npm run test:packaging does)`)
  return file
}

/** Unpacks a tarball into a fresh temp dir; returns that dir. */
export function unpack(tarball: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-standalone-'))
  execFileSync('tar', ['-xzf', tarball, '-C', directory])
  return directory
}

/**
 * A PATH directory holding only what the tarball's bin/regshape wrapper script needs (bash and a
 * few tools), so no Node can be found on PATH.
 */
export function pathWithoutNode(): string {
  const directory = mkdtempSync(join(tmpdir(), 'regshape-path-'))
  for (const tool of ['sh', 'bash', 'dirname', 'readlink', 'cat', 'ls']) {
    const found = execFileSync('sh', ['-c', `command -v ${tool}`], {encoding: 'utf8'}).trim()
    symlinkSync(found, join(directory, tool))
  }

  return directory
}
