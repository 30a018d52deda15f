import {RegshapeError} from '../errors.js'

/** An OCI image layout that is not one, lacks a blob, holds a blob whose bytes are wrong, or cannot be written. Exit 1. */
export class LayoutError extends RegshapeError {}

/** The path holds no `oci-layout` marker at all (as against one that cannot be read or names another version). */
export class NotLayoutError extends LayoutError {}

/** Every message of the layout back end, in one place; upstream's wording where cli-layout.md gives it. */
export const layoutMessages = {
  alreadyLayout: (path: string) => `${path} is already an OCI Image Layout`,
  badIndex: (path: string, why: string) => `index.json at ${path} is not a valid OCI Image Index: ${why}`,
  badMarker: (path: string, why: string) => `${path} is not an OCI Image Layout (oci-layout ${why})`,
  badStage: (path: string, why: string) => `the staging file ${path} is not usable: ${why}`,
  blobMissing: (digest: string, by: string) => `blob ${digest} referenced by ${by} does not exist`,
  blobNotFound: (digest: string, path: string) => `blob ${digest} does not exist in the layout at ${path}`,
  /** `why`: describeBusyLock's words, as config.json's message has them (which limit of the wait was hit). */
  busy: (path: string, lockPath: string, why: string) => `the layout at ${path} stayed locked: ${why} (${lockPath}); try again, or end that process if it is stuck`,
  cannotWrite: (path: string, reason: string) => `cannot write the layout at ${path}: ${reason}`,
  mismatch: (digest: string, actual: string) => `digest mismatch for ${digest}: expected ${digest}, got ${actual}`,
  notJson: (digest: string, why: string) => `blob ${digest} is not a JSON document: ${why}`,
  refNameNotTag: (name: string, digest: string, path: string) =>
    `the manifest ${digest} in the layout at ${path} has ${JSON.stringify(name)} as its org.opencontainers.image.ref.name, which is not a valid tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'); name the destination's tag instead`,
  notLayout: (path: string) => `${path} is not an OCI Image Layout (missing oci-layout file)`,
  sizeMismatch: (digest: string, expected: number, actual: number) => `size mismatch for ${digest}: the descriptor says ${expected} bytes, the blob has ${actual}`,
  tagAmbiguous: (path: string, count: number) => `the layout at ${path} has ${count} manifests; name one with oci:PATH:TAG or oci:PATH@DIGEST`,
  tagNotFound: (tag: string, path: string) => `no manifest named ${tag} (org.opencontainers.image.ref.name) in the layout at ${path}`,
  tooLarge: (digest: string, limit: number) => `blob ${digest} is larger than ${limit} bytes, the limit for a JSON document; refused`,
}
