import type {Descriptor} from '../content/descriptor.js'

import {LayoutError} from './errors.js'
import {type CompressFormat, type LayerFileInfo, diffIdOf, writeLayer} from './layer.js'
import {type Stage, type StagedConfig, type StagedLayer, type StagedManifest, emptyStage, readStage, writeStage} from './stage.js'
import {OciLayout, REF_NAME} from './store.js'

/**
 * Upstream's staged workflow (layout-oci-layout-create.md): init → stage layers → generate config
 * → generate manifest, with later annotate/update steps, and upstream's bugs fixed (registry.md §4):
 * diff_ids are the uncompressed digests; a config or manifest blob is removed only when nothing
 * reachable from index.json still references it; a manifest generated under an existing ref.name
 * replaces that entry. Each step reads and rewrites the staging file under the layout's lock.
 */

export const buildMessages = {
  configMissing: "config not generated; run 'layout generate config' first",
  indexOutOfRange: (index: number, count: number) => `layer index ${index} out of range (staged layers: ${count})`,
  manifestMissing: "manifest not generated; run 'layout generate manifest' first",
  noLayers: "no layers have been staged; run 'layout add layer' first",
  staleManifest: "a manifest has already been generated. Re-run 'layout generate manifest' to reference the updated config.",
  staleManifestJson: "manifest already generated; re-run 'layout generate manifest'",
}

export async function initLayout(path: string): Promise<OciLayout> {
  const layout = await OciLayout.init(path)
  await layout.writing(() => writeStage(layout, emptyStage()))
  return layout
}

/** Writes the layer blob (outside the lock: it is content-addressed) and appends it to the stage. */
export async function stageLayer(
  layout: OciLayout,
  file: string,
  info: LayerFileInfo,
  options: {annotations: Record<string, string>; format: CompressFormat; mediaType: string},
): Promise<StagedLayer> {
  await readStage(layout)
  const written = await writeLayer(layout, file, info, options.format)
  const layer: StagedLayer = {digest: written.digest, size: written.size, media_type: options.mediaType, annotations: options.annotations, diff_id: written.diffId}
  await layout.writing(async () => {
    const stage = await readStage(layout)
    stage.layers.push(layer)
    await writeStage(layout, stage)
  })
  return layer
}

export async function annotateLayer(layout: OciLayout, index: number, annotations: Record<string, string>, replace: boolean): Promise<StagedLayer> {
  return layout.writing(async () => {
    const stage = await readStage(layout)
    if (!Number.isInteger(index) || index < 0 || index >= stage.layers.length) throw new LayoutError(buildMessages.indexOutOfRange(index, stage.layers.length))
    const layer = stage.layers[index]
    layer.annotations = replace ? {...annotations} : {...layer.annotations, ...annotations}
    await writeStage(layout, stage)
    return layer
  })
}

export interface ConfigFields {
  architecture: string
  labels?: Record<string, string>
  mediaType: string
  os: string
}

/** Builds the image config from the staged layers (diff_ids uncompressed) and stages it. */
export async function generateConfig(layout: OciLayout, fields: ConfigFields): Promise<StagedConfig> {
  return layout.writing(async () => {
    const stage = await readStage(layout)
    if (stage.layers.length === 0) throw new LayoutError(buildMessages.noLayers)
    const diffIds: string[] = []
    for (const layer of stage.layers) diffIds.push(layer.diff_id ?? (await diffIdOf(layout, layer.digest, layer.media_type)))
    const config = {
      architecture: fields.architecture,
      ...(fields.labels && Object.keys(fields.labels).length > 0 ? {config: {Labels: fields.labels}} : {}),
      os: fields.os,
      rootfs: {type: 'layers', diff_ids: diffIds},
    }
    return (await replaceConfig(layout, stage, Buffer.from(JSON.stringify(config)), fields.mediaType)).config
  })
}

/** Re-generates the staged config with the fields given; the others keep their values. */
export async function updateConfig(
  layout: OciLayout,
  changes: {architecture?: string; labels?: Record<string, string>; os?: string; replaceLabels: boolean},
): Promise<{config: StagedConfig; manifestStale: boolean; removed: string[]}> {
  return layout.writing(async () => {
    const stage = await readStage(layout)
    if (!stage.config) throw new LayoutError(buildMessages.configMissing)
    const old = stage.config
    const json = parseObject(await layout.readJsonBlob(old.digest, `the staging file's config`), old.digest)
    if (changes.architecture !== undefined) json.architecture = changes.architecture
    if (changes.os !== undefined) json.os = changes.os
    if (changes.labels !== undefined || changes.replaceLabels) {
      const inner = (json.config !== null && typeof json.config === 'object' ? json.config : {}) as Record<string, unknown>
      const current = (inner.Labels !== null && typeof inner.Labels === 'object' ? inner.Labels : {}) as Record<string, string>
      const labels = changes.replaceLabels ? {...changes.labels} : {...current, ...changes.labels}
      if (Object.keys(labels).length > 0) json.config = {...inner, Labels: labels}
      else if (inner.Labels !== undefined) {
        delete inner.Labels
        if (Object.keys(inner).length === 0) delete json.config
      }
    }

    const {config, removed} = await replaceConfig(layout, stage, Buffer.from(JSON.stringify(json)), old.media_type)
    return {config, manifestStale: stage.manifest !== null, removed}
  })
}

/**
 * Stages a new config; the previous one goes only if no manifest reachable from index.json still
 * names it (upstream deleted it even then, leaving the layout invalid until the manifest was
 * regenerated).
 */
async function replaceConfig(layout: OciLayout, stage: Stage, bytes: Buffer, mediaType: string): Promise<{config: StagedConfig; removed: string[]}> {
  const {digest, size} = await layout.putBytes(bytes)
  const previous = stage.config
  const config = {digest, size, media_type: mediaType}
  stage.config = config
  await writeStage(layout, stage)
  const removed = previous && previous.digest !== digest ? await layout.removeUnreferenced([previous.digest], stagedDigests(stage)) : []
  return {config, removed}
}

/** Builds the manifest from the staged config and layers, stores it, and names it in index.json. */
export async function generateManifest(
  layout: OciLayout,
  options: {annotations: Record<string, string>; mediaType: string; refName?: string},
): Promise<{descriptor: Descriptor; manifest: StagedManifest; removed: string[]}> {
  return layout.writing(async () => {
    const stage = await readStage(layout)
    if (!stage.config) throw new LayoutError(buildMessages.configMissing)
    if (stage.layers.length === 0) throw new LayoutError(buildMessages.noLayers)
    const manifest = {
      schemaVersion: 2,
      mediaType: options.mediaType,
      config: {mediaType: stage.config.media_type, digest: stage.config.digest, size: stage.config.size},
      layers: stage.layers.map((layer) => ({
        mediaType: layer.media_type,
        digest: layer.digest,
        size: layer.size,
        ...(Object.keys(layer.annotations ?? {}).length > 0 ? {annotations: layer.annotations} : {}),
      })),
      ...(Object.keys(options.annotations).length > 0 ? {annotations: options.annotations} : {}),
    }
    return registerManifest(layout, stage, Buffer.from(JSON.stringify(manifest)), options.mediaType, options.refName, options.annotations)
  })
}

/** Merges (or replaces) the manifest's own annotations: a new manifest, which takes the old one's index.json entry. */
export async function annotateManifest(
  layout: OciLayout,
  annotations: Record<string, string>,
  replace: boolean,
): Promise<{descriptor: Descriptor; manifest: StagedManifest; removed: string[]}> {
  return layout.writing(async () => {
    const stage = await readStage(layout)
    if (!stage.manifest) throw new LayoutError(buildMessages.manifestMissing)
    const json = parseObject(await layout.readJsonBlob(stage.manifest.digest, `the staging file's manifest`), stage.manifest.digest)
    const current = (json.annotations !== null && typeof json.annotations === 'object' ? json.annotations : {}) as Record<string, string>
    const merged = replace ? {...annotations} : {...current, ...annotations}
    if (Object.keys(merged).length > 0) json.annotations = merged
    else delete json.annotations
    return registerManifest(layout, stage, Buffer.from(JSON.stringify(json)), stage.manifest.media_type, stage.manifest.ref_name, merged)
  })
}

/**
 * Stores the manifest and gives it the index.json entry of `refName` (replacing that entry), or,
 * untagged, the entry of the staged manifest it replaces; the replaced manifest's blob goes when
 * nothing references it any more.
 */
async function registerManifest(
  layout: OciLayout,
  stage: Stage,
  bytes: Buffer,
  mediaType: string,
  refName: string | undefined,
  annotations: Record<string, string>,
): Promise<{descriptor: Descriptor; manifest: StagedManifest; removed: string[]}> {
  const {digest, size} = await layout.putBytes(bytes)
  const previous = stage.manifest
  const replaced: string[] = []
  const descriptor: Descriptor = {mediaType, digest, size, ...(refName === undefined ? {} : {annotations: {[REF_NAME]: refName}})}
  await layout.updateIndex((index) => {
    const isOldEntry = (entry: Descriptor) => {
      const name = entry.annotations?.[REF_NAME]
      if (refName !== undefined) return name === refName
      // Untagged: the staged manifest's own untagged entry, or one for these very bytes.
      return name === undefined && (entry.digest === digest || (previous !== null && previous.ref_name === undefined && entry.digest === previous.digest))
    }

    // The new entry takes the place of the first it replaces, so index.json keeps its order.
    let placed = false
    const kept: Descriptor[] = []
    for (const entry of index.manifests) {
      if (!isOldEntry(entry)) kept.push(entry)
      else {
        if (entry.digest !== digest) replaced.push(entry.digest)
        if (!placed) kept.push(descriptor)
        placed = true
      }
    }

    if (!placed) kept.push(descriptor)
    index.manifests = kept
  })
  const manifest: StagedManifest = {digest, size, media_type: mediaType, annotations, ...(refName === undefined ? {} : {ref_name: refName})}
  stage.manifest = manifest
  await writeStage(layout, stage)
  if (previous && previous.digest !== digest) replaced.push(previous.digest)
  // A replaced manifest's config (one `update config` superseded) goes with it when unreferenced; layers are never removed.
  const configs: string[] = []
  for (const old of new Set(replaced)) {
    const config = await layout.readJsonBlob(old).then((old) => (JSON.parse(old.toString('utf8')) as {config?: {digest?: unknown}}).config?.digest, () => undefined)
    if (typeof config === 'string') configs.push(config)
  }

  const removed = await layout.removeUnreferenced([...replaced, ...configs], [digest, ...stagedDigests(stage)])
  return {descriptor, manifest, removed}
}

/** What the stage still needs (layers and config): never removed as "unreferenced". */
function stagedDigests(stage: Stage): string[] {
  return [...stage.layers.map((layer) => layer.digest), ...(stage.config ? [stage.config.digest] : [])]
}

function parseObject(bytes: Buffer, digest: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new LayoutError(`blob ${digest} is not JSON`, {about: digest})
  }

  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new LayoutError(`blob ${digest} is not a JSON object`, {about: digest})
  return json as Record<string, unknown>
}
