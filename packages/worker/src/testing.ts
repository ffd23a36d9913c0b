/**
 * Not for production: the pieces that tests and benchmarks reach into (the scoring steps one
 * by one, the wasm gradient kernels, a scorer that does no model work). Imported as
 * `@overmap/worker/testing`; nothing in the worker's runtime imports this file.
 */
export { NoopScorer } from './scoring/noop-scorer';
export { applyHead, buildClassifierGraph } from './scoring/classifier-graph';
export { gradCam, normalizeMax, resizeMaps } from './scoring/grad-cam';
export { combine, overlap, overmapScore } from './scoring/overlap';
export { binarize, frequencyTunedSaliency, otsuThreshold, saliencyMask } from './scoring/segment';
export { conv2dFilterGradient, conv2dInputGradientStride1, registerWasmGradKernels } from './backend/wasm-grad-kernels';
export { overlayPng } from './images/overlay-png';
