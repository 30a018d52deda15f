/**
 * The CLI's commands for oclif's `explicit` discovery strategy (package.json oclif.commands), and
 * the entry of the production bundle (scripts/bundle.mjs), which bin/run.js takes oclif's
 * execute from. Each file of src/commands/ is listed under the id oclif gives it by its path
 * (test/unit/bundle.test.ts checks it).
 */
import AuthLogin from './commands/auth/login.js'
import AuthLogout from './commands/auth/logout.js'
import AuthStatus from './commands/auth/status.js'
import Ping from './commands/ping.js'

export {execute} from '@oclif/core'

export const COMMANDS = {
  'auth:login': AuthLogin,
  'auth:logout': AuthLogout,
  'auth:status': AuthStatus,
  ping: Ping,
}
