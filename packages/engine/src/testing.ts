/**
 * Not for production: the pieces that tests and benchmarks reach into (the scoring steps one
 * by one, the wasm gradient kernels, a scorer that does no model work). Imported as
 * `@overmap/engine/testing`; nothing in the engine's runtime imports this file.
 */
export { NoopScorer } from './scoring/noop-scorer';
export { applyHead, buildClassifierGraph } from './scoring/classifier-graph';
export { gradCam, normalizeMax, resizeMaps } from './scoring/grad-cam';
export { binarize, combine, overlap, overmapScore } from './scoring/overlap';
export {
  binarizeMap,
  meanPerMap,
  normalizeMax as normalizeMaxHost,
  resizeBilinear,
  softmaxRows,
  topKRows,
} from './scoring/maps';
export { attentionMap, denseGradCam, denseScores, poolActivations, type HostFeatures } from './scoring/dense-head';
export { localisation, localisationScores, LOCALISATION_MEASURES } from './scoring/localisation';
export { decisionScore, sirc, DEFAULT_DECISION, type Decision } from './scoring/decision';
export { DECISION_SECONDARIES } from '@overmap/shared/core';
export { frequencyTunedSaliency, otsuThreshold, saliencyMask } from './scoring/segmenters/saliency-segmenter';
export { boxMasks } from './scoring/segmenters/box-masks';
export { detectorBoxes } from './scoring/segmenters/detector-segmenter';
export {
  conv2dInputGradientStride1,
  maxPoolGradient,
  nativeWasmKernel,
  registerWasmGradKernels,
} from './backend/wasm-grad-kernels';
export { overlayPng } from './images/overlay-png';
export { loadClassifier, loadLayersModel } from './model/load-models';
export { OnnxModelSegmenter } from './scoring/segmenters/onnx-model-segmenter';
