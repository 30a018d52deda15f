/**
 * @regshape/sdk/layout: OCI image layouts on disk, as a Store like a registry repository:
 * blobs streamed in and out verified, index.json changed under a lock and written whole.
 */
export {type IndexJson, LAYOUT_VERSION, OciLayout, type PutManifestOptions, REF_NAME} from '../layout/store.js'
export {LayoutError, NotLayoutError} from '../layout/errors.js'
export type {BlobDownload, FetchedManifest, Store} from '../content/store.js'
