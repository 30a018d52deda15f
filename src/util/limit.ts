/**
 * `items.map(operation)` with at most `limit` operations running at once, results in order. Each
 * credential check holds a socket, a helper process or a file open: hundreds at once run out of
 * file descriptors (macOS allows 256 by default), one at a time waits out every slow one in turn.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, operation: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = Array.from<R>({length: items.length})
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await operation(items[index], index)
    }
  }

  await Promise.all(Array.from({length: Math.min(limit, items.length)}, () => worker()))
  return results
}

/** How many credential checks `auth status` runs at once. */
export const CHECK_PARALLELISM = 8
