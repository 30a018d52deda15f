/** The media types of the OCI image spec and Docker's schema 2 that regshape reads and writes. */

export const MediaType = {
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
} as const

export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList])
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest])

/** The Accept header for manifest reads: every manifest and index type regshape understands, OCI first. */
export const MANIFEST_ACCEPT = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(', ')

/** A Content-Type without its parameters (`; charset=utf-8`), lower-cased. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  const base = contentType?.split(';')[0].trim().toLowerCase()
  return base || undefined
}
