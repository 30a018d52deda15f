/**
 * The CLI's commands for oclif's `explicit` discovery strategy (package.json oclif.commands), and
 * the entry of the production bundle (scripts/bundle.mjs), which bin/run.js takes oclif's
 * execute from. Each file of src/commands/ is listed under the id oclif gives it by its path
 * (test/unit/bundle.test.ts checks it).
 */
import {execute as oclifExecute} from '@oclif/core'

import {reportPluginWarnings} from './command/plugin-warnings.js'
import AuthGet from './commands/auth/get.js'
import AuthLogin from './commands/auth/login.js'
import AuthLogout from './commands/auth/logout.js'
import AuthStatus from './commands/auth/status.js'
import AuthToken from './commands/auth/token.js'
import AutocompleteScript from './commands/autocomplete/script.js'
import BlobDelete from './commands/blob/delete.js'
import Copy from './commands/copy.js'
import BlobGet from './commands/blob/get.js'
import BlobHead from './commands/blob/head.js'
import BlobMount from './commands/blob/mount.js'
import BlobUpload from './commands/blob/upload.js'
import CatalogList from './commands/catalog/list.js'
import LayoutAddLayer from './commands/layout/add/layer.js'
import LayoutAnnotateLayer from './commands/layout/annotate/layer.js'
import LayoutAnnotateManifest from './commands/layout/annotate/manifest.js'
import LayoutGenerateConfig from './commands/layout/generate/config.js'
import LayoutGenerateManifest from './commands/layout/generate/manifest.js'
import LayoutInit from './commands/layout/init.js'
import LayoutPush from './commands/layout/push.js'
import LayoutShow from './commands/layout/show.js'
import LayoutStatus from './commands/layout/status.js'
import LayoutUpdateConfig from './commands/layout/update/config.js'
import LayoutValidate from './commands/layout/validate.js'
import ManifestDelete from './commands/manifest/delete.js'
import ManifestDescriptor from './commands/manifest/descriptor.js'
import ManifestGet from './commands/manifest/get.js'
import ManifestInfo from './commands/manifest/info.js'
import ManifestPut from './commands/manifest/put.js'
import Ping from './commands/ping.js'
import Probe from './commands/probe.js'
import ProbeCompare from './commands/probe/compare.js'
import RateLimit from './commands/ratelimit.js'
import ReferrerList from './commands/referrer/list.js'
import Sync from './commands/sync.js'
import TagDelete from './commands/tag/delete.js'
import TagList from './commands/tag/list.js'

/** oclif's execute, with a plugin that cannot load reported in one line (./command/plugin-warnings.ts). */
export async function execute(options: Parameters<typeof oclifExecute>[0]): Promise<unknown> {
  const restore = reportPluginWarnings('regshape')
  try {
    return await oclifExecute(options)
  } finally {
    restore()
  }
}

/** oclif's command_not_found hook (package.json oclif.hooks): regshape's error line and a suggestion. */
export {commandNotFound as COMMAND_NOT_FOUND, RegshapeHelp} from './command/not-found.js'
/** oclif's postrun hook: the completion functions put right after @oclif/plugin-autocomplete writes them. */
export {completionPostrun as COMPLETION_POSTRUN} from './command/completion.js'

export const COMMANDS = {
  'auth:get': AuthGet,
  'auth:login': AuthLogin,
  'auth:logout': AuthLogout,
  'auth:status': AuthStatus,
  'auth:token': AuthToken,
  'autocomplete:script': AutocompleteScript,
  'blob:delete': BlobDelete,
  'blob:get': BlobGet,
  'blob:head': BlobHead,
  'blob:mount': BlobMount,
  'blob:upload': BlobUpload,
  'catalog:list': CatalogList,
  copy: Copy,
  'layout:add:layer': LayoutAddLayer,
  'layout:annotate:layer': LayoutAnnotateLayer,
  'layout:annotate:manifest': LayoutAnnotateManifest,
  'layout:generate:config': LayoutGenerateConfig,
  'layout:generate:manifest': LayoutGenerateManifest,
  'layout:init': LayoutInit,
  'layout:push': LayoutPush,
  'layout:show': LayoutShow,
  'layout:status': LayoutStatus,
  'layout:update:config': LayoutUpdateConfig,
  'layout:validate': LayoutValidate,
  'manifest:delete': ManifestDelete,
  'manifest:descriptor': ManifestDescriptor,
  'manifest:get': ManifestGet,
  'manifest:info': ManifestInfo,
  'manifest:put': ManifestPut,
  ping: Ping,
  probe: Probe,
  'probe:compare': ProbeCompare,
  ratelimit: RateLimit,
  'referrer:list': ReferrerList,
  sync: Sync,
  'tag:delete': TagDelete,
  'tag:list': TagList,
}
