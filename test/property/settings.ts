import fc from 'fast-check'

/**
 * Property tests run with a fixed seed in the default suite, so CI is repeatable; the separate
 * `npm run test:property` raises the count (and may set another seed) through the environment.
 */
export const runs = Number(process.env.REGSHAPE_PROPERTY_RUNS ?? 200)
export const seed = Number(process.env.REGSHAPE_PROPERTY_SEED ?? 20_261_126)

export function check<Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>): Promise<void> | void {
  return fc.assert(property as fc.IProperty<Ts>, {numRuns: runs, seed})
}
