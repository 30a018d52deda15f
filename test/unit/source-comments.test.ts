import {expect} from 'chai'
import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * Comments that name a function (`replace()`, `RuleSet.apply()`) name one that exists in src/: a
 * comment naming a function that was renamed or never written sends the reader looking for it
 * (src/break/rules.ts named an applyRules() that did not exist).
 */

const SRC = fileURLToPath(new URL('../../src', import.meta.url))

/** Named in comments, and not regshape's: Node's, JavaScript's, or a placeholder in a code sample. */
const NOT_OURS = new Set(['flock', 'fn', 'import', 'Number', 'os.homedir'])

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, {withFileTypes: true}).flatMap((entry) => {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

function escape(name: string): string {
  return name.replaceAll(/[$]/g, '\\$&')
}

/** A function, a method or a function-valued constant called `name`, somewhere in `code`. */
function defines(code: string, name: string): boolean {
  const n = escape(name)
  return [
    new RegExp(`\\bfunction\\s*\\*?\\s*${n}\\s*[(<]`),
    new RegExp(`^\\s*(?:(?:public|private|protected|static|override|async|readonly|get|set)\\s+)*${n}\\s*(?:<[^>]*>)?\\(.*\\)(?:\\s*:.*)?\\s*\\{\\s*$`, 'm'),
    new RegExp(`\\b(?:const|let)\\s+${n}\\s*(?::[^=]+)?=\\s*(?:async\\s*)?(?:\\(|function\\b|[\\w$]+\\s*=>)`),
    new RegExp(`\\bclass\\s+${n}\\b`),
  ].some((pattern) => pattern.test(code))
}

describe('source comments', () => {
  it('every function a comment names with () is defined in src/', () => {
    const files = sourceFiles(SRC)
    const code = files.map((file) => readFileSync(file, 'utf8')).join('\n')
    const missing: string[] = []
    for (const file of files) {
      for (const [index, line] of readFileSync(file, 'utf8').split('\n').entries()) {
        const comment = /^\s*(?:\*|\/\/|\/\*\*)(.*)$/.exec(line)?.[1] ?? /\s\/\/\s(.*)$/.exec(line)?.[1]
        if (!comment) continue
        for (const [, named] of comment.matchAll(/\b([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\(\)/g)) {
          if (NOT_OURS.has(named!)) continue
          // `Class.method()`: the class (or object) and the method both exist.
          if (!named!.split('.').every((part) => defines(code, part))) missing.push(`${relative(SRC, file)}:${index + 1}: ${named}()`)
        }
      }
    }

    expect(missing).to.deep.equal([])
  })
})
