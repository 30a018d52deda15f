/**
 * What bin/run.js runs before oclif, bundled on its own as dist/bundle/startup.cjs (CommonJS:
 * importing Node's built-in modules from an ES module costs more, and this runs on every start).
 */
export {installCodeCache} from './code-cache.js'
export {type Cli, loadCli} from './load-cli.js'
export {prepareStart, type Start} from './prepare.js'
export {versionLine} from './version.js'
