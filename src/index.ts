/**
 * @regshape/sdk: what a plugin or a script builds on. This entry holds what every plugin needs:
 * the command bases (shared flags, telemetry, errors, JSON output), the error vocabulary, registry
 * and image references, and Docker's credential chain. The registry library, OCI layouts, copy
 * and break mode have subpaths of their own:
 *
 *   @regshape/sdk/registry   openRepository, Repository, Registry, Transport, manifests, digests
 *   @regshape/sdk/layout     OciLayout
 *   @regshape/sdk/copy       Copier and the Store interface it copies between
 *   @regshape/sdk/break      break mode's rules
 *   @regshape/sdk/probe      defineProbeCase: cases a plugin adds to `regshape probe`
 *
 * Everything named in these six files is stable within a major version (README: "Plugins").
 * Nothing else of src/ is: import from these entries only.
 */
export {type JsonObject, RegshapeCommand, type RegshapeArgs, type RegshapeFlags} from './command/base-command.js'
export {RegistryCommand} from './command/registry-command.js'
export {type ServiceFactory, type ServiceOptions, type Services, setServiceFactory} from './command/services.js'
export {formatJson, terminalSafe} from './util/text.js'
export {
  AuthenticationError,
  type ErrorKind,
  ExitCode,
  InputError,
  NetworkError,
  ProtocolError,
  RegshapeError,
  UsageError,
  withContext,
} from './errors.js'
export {type ImageRef, formatImageRef, parseImageRef} from './reference/image.js'
export {type RegistryRef, parseRegistry} from './reference/registry.js'
export {type CredentialsFor, type DockerChainOptions, dockerChain, dockerCredentialResolver} from './credentials/chain.js'
export {type CredentialSource, type ResolvedCredentials, describeSource, sourceJson} from './credentials/resolve.js'
export type {Credentials, CredentialsProvider} from './transport/auth.js'
export type {HelperCall, Tracer} from './telemetry/tracer.js'
