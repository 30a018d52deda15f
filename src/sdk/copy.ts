/**
 * @regshape/sdk/copy: copy an image, an index or an artifact (and its referrers) from one Store
 * to another: a registry Repository or an OciLayout on either side, or a Store of your own.
 */
export {Copier, CopyError, type CopyOptions, type CopyProgress, type CopyResult, type CopyRoot, UploadCoordinator} from '../workflows/copy.js'
export type {BlobDownload, BlobOutcome, FetchedManifest, MountSource, PushBlobOptions, Store} from '../content/store.js'
export type {Descriptor, Platform} from '../content/descriptor.js'
