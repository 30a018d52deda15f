/**
 * @regshape/sdk/registry: the registry library, with no oclif. openRepository and openRegistry
 * make a Repository or a Registry from a reference and plain options; a Transport can be shared
 * between them. Every request goes through the transport's pipeline (auth, TLS, proxies, retries,
 * redirects, break mode, telemetry), and every digest is verified.
 */
export {type OpenOptions, openRegistry, openRepository} from '../registry/open.js'
export {Registry} from '../registry/registry.js'
export {type BlobInfo, type ListOptions, type ManifestDescriptor, type ReferrerList, Repository} from '../registry/repository.js'
export {type LabelledRequest, MANIFEST_MAX_BYTES, RegistryConnection} from '../registry/connection.js'
export {RegistryApiError, type OciErrorEntry} from '../registry/api-error.js'
export {type BlobSource, type MountResult, type UploadOptions, type UploadResult, fileSource, stdinSource} from '../registry/upload.js'
export type {DeleteResult, PushResult, SubjectReport} from '../registry/manifest-writes.js'
export {type RegistryRequest, type RegistryResponse, type RegistryStreamResponse, Transport, type TransportOptions, TransportError} from '../transport/transport.js'
export type {HttpMethod, HttpRequest, HttpResponse} from '../transport/http.js'
export {type Descriptor, type Platform, formatPlatform, parseDescriptor, parsePlatform} from '../content/descriptor.js'
export {type ImageIndex, type ImageManifest, type Manifest, parseManifest, selectPlatform} from '../content/manifest.js'
export {INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType} from '../content/media-types.js'
export {DigestMismatchError, DigestVerifier, Digester, digestOf} from '../content/digest.js'
export type {BlobDownload, FetchedManifest, Store} from '../content/store.js'
