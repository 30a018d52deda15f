import {type Dirent} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import {LayoutError} from './errors.js'

/**
 * The OCI image layouts under a directory (a sync's `oci:DIR/*`: one layout per repository, at
 * the repository's path): every directory that holds an `oci-layout` file, by its path relative
 * to `root` with `/` between components, sorted. A layout's own directories are not searched,
 * symbolic links are not followed (a link to `..` would never end), and the walk stops at a depth
 * and a count that no mirror reaches.
 */

export const MAX_LAYOUT_DEPTH = 16
export const MAX_LAYOUTS = 100_000

export async function findLayouts(root: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (relative: string[]): Promise<void> => {
    let entries: Dirent[]
    try {
      entries = await readdir(join(root, ...relative), {withFileTypes: true})
    } catch (error) {
      if (relative.length === 0) throw new LayoutError(`cannot read the directory ${root}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      throw new LayoutError(`cannot read ${join(root, ...relative)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }

    if (entries.some((entry) => entry.name === 'oci-layout' && entry.isFile())) {
      // The directory itself is one layout, not a directory of them: its repository has no path.
      if (relative.length === 0) throw new LayoutError(`${root} is an OCI Image Layout itself, not a directory of layouts: name it as oci:${root}`)
      found.push(relative.join('/'))
      if (found.length > MAX_LAYOUTS) throw new LayoutError(`more than ${MAX_LAYOUTS} layouts under ${root}; sync them a part at a time`)
      return
    }

    if (relative.length >= MAX_LAYOUT_DEPTH) return
    const directories = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)
    for (const name of directories.sort()) await walk([...relative, name])
  }

  await walk([])
  return found.sort()
}
