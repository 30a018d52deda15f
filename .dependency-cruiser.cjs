/**
 * The layering of src/ (README: "Architecture"), checked by `npm run lint`. A module may import
 * from its own layer's folder and from the layers below it; never from a layer above, nor from a
 * sibling on its own level. Type-only imports count too: a layer that needs a type from above has
 * its layers the wrong way round.
 *
 *   entries      src/cli.ts, src/index.ts, src/sdk/        (only cli.ts imports commands/)
 *   commands     src/commands/                           thin oclif commands
 *   command      src/command/, src/startup/              oclif glue, start-up
 *   workflows    src/workflows/                          login, ping, copy, probe
 *   stores       src/registry/ | src/layout/             the two back ends of one Store interface
 *   services     src/credentials/ | src/break/           Docker credentials | break mode's rules
 *   transport    src/transport/                          the HTTP pipeline
 *   data         src/content/ | src/telemetry/           descriptors, manifests, digests | tracer
 *   reference    src/reference/                          references, scopes
 *   util         src/util/                               locks, files, secrets, text
 *   errors       src/errors.ts
 */
const levels = [
  ['errors', ['^src/errors\\.ts$']],
  ['util', ['^src/util/']],
  ['reference', ['^src/reference/']],
  ['content', ['^src/content/'], 'telemetry', ['^src/telemetry/']],
  ['transport', ['^src/transport/']],
  ['credentials', ['^src/credentials/'], 'break', ['^src/break/']],
  ['registry', ['^src/registry/'], 'layout', ['^src/layout/']],
  ['workflows', ['^src/workflows/']],
  ['command', ['^src/command/', '^src/startup/']],
  ['commands', ['^src/commands/']],
  ['entries', ['^src/cli\\.ts$', '^src/index\\.ts$', '^src/sdk/']],
]

/** [name, paths] pairs of a level (a level may hold two siblings). */
const layersOf = (level) => {
  const layers = []
  for (let at = 0; at < level.length; at += 2) layers.push({name: level[at], paths: level[at + 1]})
  return layers
}

const forbidden = []
levels.forEach((level, index) => {
  const above = levels.slice(index + 1).flatMap((higher) => layersOf(higher))
  const here = layersOf(level)
  for (const layer of here) {
    if (above.length > 0) {
      forbidden.push({
        name: `${layer.name}-imports-above`,
        comment: `${layer.name} is below ${above.map((other) => other.name).join(', ')}: it may not import them`,
        severity: 'error',
        from: {path: layer.paths},
        to: {path: above.flatMap((other) => other.paths)},
      })
    }

    const siblings = here.filter((other) => other !== layer)
    if (siblings.length > 0) {
      forbidden.push({
        name: `${layer.name}-imports-sibling`,
        comment: `${layer.name} and ${siblings.map((other) => other.name).join(', ')} are two back ends of one level: neither imports the other`,
        severity: 'error',
        from: {path: layer.paths},
        to: {path: siblings.flatMap((other) => other.paths)},
      })
    }
  }
})

forbidden.push(
  {
    name: 'only-cli-imports-commands',
    comment: 'commands/ are reached through the COMMANDS map of src/cli.ts only',
    severity: 'error',
    from: {path: '^src/', pathNot: ['^src/cli\\.ts$', '^src/commands/']},
    to: {path: '^src/commands/'},
  },
  {
    name: 'no-circular',
    comment: 'modules that import each other, however indirectly, cannot be understood (or loaded lazily) one at a time',
    severity: 'error',
    from: {path: '^src/'},
    to: {circular: true},
  },
)

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden,
  options: {
    doNotFollow: {path: 'node_modules'},
    tsConfig: {fileName: 'tsconfig.json'},
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {extensions: ['.ts', '.js']},
  },
}
