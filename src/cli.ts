/**
 * The CLI's commands for oclif's `explicit` discovery strategy (package.json oclif.commands), and
 * the entry of the production bundle (scripts/bundle.mjs), which bin/run.js takes oclif's
 * execute from. Each file of src/commands/ is listed under the id oclif gives it by its path
 * (test/unit/bundle.test.ts checks it).
 */
import AuthLogin from './commands/auth/login.js'
import AuthLogout from './commands/auth/logout.js'
import AuthStatus from './commands/auth/status.js'
import BlobDelete from './commands/blob/delete.js'
import BlobGet from './commands/blob/get.js'
import BlobHead from './commands/blob/head.js'
import BlobMount from './commands/blob/mount.js'
import BlobUpload from './commands/blob/upload.js'
import CatalogList from './commands/catalog/list.js'
import ManifestDescriptor from './commands/manifest/descriptor.js'
import ManifestGet from './commands/manifest/get.js'
import ManifestInfo from './commands/manifest/info.js'
import Ping from './commands/ping.js'
import ReferrerList from './commands/referrer/list.js'
import TagList from './commands/tag/list.js'

export {execute} from '@oclif/core'

export const COMMANDS = {
  'auth:login': AuthLogin,
  'auth:logout': AuthLogout,
  'auth:status': AuthStatus,
  'blob:delete': BlobDelete,
  'blob:get': BlobGet,
  'blob:head': BlobHead,
  'blob:mount': BlobMount,
  'blob:upload': BlobUpload,
  'catalog:list': CatalogList,
  'manifest:descriptor': ManifestDescriptor,
  'manifest:get': ManifestGet,
  'manifest:info': ManifestInfo,
  ping: Ping,
  'referrer:list': ReferrerList,
  'tag:list': TagList,
}
