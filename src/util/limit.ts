/**
 * The one concurrency limiter of regshape: at most `limit` operations at once, the others waiting
 * their turn in order. A copy's transfers and manifest requests run through one (--concurrency);
 * `auth status` maps its credential checks through mapLimit. Each operation may hold a socket, a
 * helper process or a file open: hundreds at once run out of file descriptors (macOS allows 256
 * by default), one at a time waits out every slow one in turn.
 */
export class Limiter {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(readonly limit: number) {}

  async run<R>(operation: () => Promise<R> | R): Promise<R> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    try {
      return await operation()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }
}

/** `items.map(operation)` with at most `limit` operations running at once, results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, operation: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limiter = new Limiter(limit)
  return Promise.all(items.map((item, index) => limiter.run(() => operation(item, index))))
}

/** How many credential checks `auth status` runs at once. */
export const CHECK_PARALLELISM = 8
