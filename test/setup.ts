/**
 * Root hooks (loaded via `.mocharc.json` "require"): stop every shared real server once the
 * whole run is over, so no registry, token server or gpg-agent outlives mocha.
 */
import {stopAll} from './fixtures/servers.js'

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopAll()
  },
}
