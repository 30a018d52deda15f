import {LayoutError, layoutMessages} from './errors.js'
import {type OciLayout, readLayoutFile, unreadable} from './store.js'

/**
 * `.regshape-stage.json`, upstream's staging file (layout-oci-layout-create.md): what `layout add
 * layer`, `generate config` and `generate manifest` have done so far, between separate runs. Not
 * part of the OCI layout; other tools ignore it. regshape adds `diff_id` to each layer (the digest
 * of its uncompressed bytes, learnt while the layer was written) and `ref_name` to the manifest.
 */

export const STAGE_FILE = '.regshape-stage.json'

export interface StagedLayer {
  annotations: Record<string, string>
  /** The digest of the uncompressed layer, for the config's rootfs.diff_ids. */
  diff_id?: string
  digest: string
  media_type: string
  size: number
}

export interface StagedConfig {
  digest: string
  media_type: string
  size: number
}

export interface StagedManifest {
  annotations: Record<string, string>
  digest: string
  media_type: string
  ref_name?: string
  size: number
}

export interface Stage {
  config: null | StagedConfig
  layers: StagedLayer[]
  manifest: null | StagedManifest
  schema_version: 1
}

export function emptyStage(): Stage {
  return {schema_version: 1, layers: [], config: null, manifest: null}
}

/** The staging file, or undefined when the layout has none (a layout another tool wrote). */
export async function readStageIfAny(layout: OciLayout): Promise<Stage | undefined> {
  const path = layout.file(STAGE_FILE)
  let text: string
  try {
    text = (await readLayoutFile(path)).toString('utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new LayoutError(layoutMessages.badStage(path, unreadable(error)))
  }

  let stage: unknown
  try {
    stage = JSON.parse(text)
  } catch {
    throw new LayoutError(layoutMessages.badStage(path, 'it is not JSON'))
  }

  const candidate = stage as Partial<Stage>
  if (candidate === null || typeof candidate !== 'object' || candidate.schema_version !== 1 || !Array.isArray(candidate.layers)) {
    throw new LayoutError(layoutMessages.badStage(path, 'it is not a schema_version 1 staging file'))
  }

  return {...emptyStage(), ...candidate} as Stage
}

/** The staging file, which the staged workflow needs (`layout init` writes it). */
export async function readStage(layout: OciLayout): Promise<Stage> {
  const stage = await readStageIfAny(layout)
  if (!stage) throw new LayoutError(`the layout at ${layout.path} has no staging file (${STAGE_FILE}); it was not made by 'layout init'`)
  return stage
}

/** Writes the staging file whole; the caller holds the layout's lock. */
export async function writeStage(layout: OciLayout, stage: Stage): Promise<void> {
  await layout.write(layout.file(STAGE_FILE), `${JSON.stringify(stage, null, 2)}\n`)
}
