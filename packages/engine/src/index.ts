/**
 * The scoring engine: everything needed to score one image (backends, model specs and loading,
 * the Over-MAP pipeline, image decode and overlays), with no queue, Redis or fleet import.
 * `@overmap/worker` is the fleet on top of it; the report and the reference tools use it alone.
 */
export * as tf from './backend/tf';
export { currentBackend, initBackend, type BackendInfo } from './backend/select-backend';
export {
  loadSpec,
  readSpec,
  referenceSpecUri,
  type ReferenceModel,
  ModelSpecSchema,
  type LoadedSpec,
  type ModelSpec,
  type ReadSpec,
} from './model/model-spec';
export { objectStoreIO } from './model/object-store-io';
export { loadLayersModel } from './model/load-models';
export { sessionOptions, sessionSettingsOf, onnxRuntime, type SessionSettings } from './backend/onnx-runtime';
export { ChannelPool } from './model/channel-pool-layer';
export { OverMapScorer, blankInput } from './scoring/overmap-scorer';
export { dryRunSpec } from './scoring/dry-run';
export { decisionScore, type Decision } from './scoring/decision';
export { baselinesOf, maxLogitPNormOf } from './scoring/baseline-values';
// the score registry's list, re-exported where the engine's users (scripts/run-experiment.js) find the decision
export { DECISION_SECONDARIES } from '@overmap/shared/core';
export type { Scorer, ImageScore, ScoreInput, ScoreMaps } from './scoring/scorer';
export {
  scoreImages,
  type ImageFailure,
  type ImageSource,
  type Limiter,
  type ScoreImagesOptions,
} from './scoring/score-images';
export { decodeImage } from './images/decode-image';
export { overlayPng } from './images/overlay-png';
export { type ImageMeasures, dctHash, measureImage, pixelMeasures } from './images/image-measures';
