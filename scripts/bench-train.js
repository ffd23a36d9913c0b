#!/usr/bin/env node
/**
 * npm run bench:train — training speed on the wasm backend: for each reference model, a
 * training step (forward + backward + Adam, batch 64) against an inference forward of the
 * same batch (the classifier also with tfjs's stock BatchNormalization, and with wasm's own
 * MaxPoolGrad, for comparison); the registered filter-gradient kernel against the forward
 * convolution it differentiates, per layer shape; and the project's MaxPoolGrad against wasm's, per
 * pool of the classifier. One run, one machine: ratios, not limits.
 */
'use strict';
const tf = require('@overmap/worker').tf;
const W = require('@overmap/worker');
const A = require('@overmap/reference');
const { conv2dFilterGradient, conv2dInputGradientStride1, nativeWasmKernel } = require('@overmap/worker/testing');

/** Runs fn with wasm's own kernel `name` registered instead of the project's, then puts the project's back. */
function withNative(name, fn) {
  const ours = tf.getKernel(name, 'wasm');
  tf.unregisterKernel(name, 'wasm');
  const native = nativeWasmKernel(name);
  // The native kernel's setup (binding its wasm function) never ran: it was replaced before the backend started.
  if (native.setupFunc) native.setupFunc(tf.backend());
  tf.registerKernel({ ...native, setupFunc: undefined });
  try { return fn(); } finally { tf.unregisterKernel(name, 'wasm'); tf.registerKernel(ours); }
}

function time(fn, reps) {
  tf.dispose(fn());
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) { const r = fn(); (Array.isArray(r) ? r : [r]).forEach((t) => t.dataSync()); tf.dispose(r); }
  return (performance.now() - t0) / reps;
}

(async () => {
  await W.initBackend('wasm');
  const res = { backend: 'wasm', batch: 64, models: {}, filterGradient: [] };
  for (const [name, build, loss] of [
    ['classifier', () => A.buildCbamClassifier(), (y, o) => tf.losses.softmaxCrossEntropy(y, o)],
    ['classifier with tfjs\'s stock batch norm', () => A.buildCbamClassifier(10, 0.3, { stockBatchNorm: true }), (y, o) => tf.losses.softmaxCrossEntropy(y, o)],
    ['segmenter', () => A.buildSegmenter(), (y, o) => tf.losses.logLoss(y, o)],
  ]) {
    const m = build();
    const x = tf.randomUniform([64, 64, 64, 3]);
    const y = name.startsWith('classifier') ? tf.oneHot(tf.randomUniform([64], 0, 10, 'int32'), 10) : tf.randomUniform([64, 64, 64, 1]).round();
    const opt = tf.train.adam(1e-3);
    const fwd = time(() => m.predict(x), 5);
    const step = time(() => tf.tidy(() => opt.minimize(() => loss(y, m.apply(x, { training: true })), true)), 5);
    res.models[name] = { forwardMs: fwd, trainStepMs: step, stepOverForward: step / fwd, trainImagesPerSecond: 64000 / step };
    if (name === 'classifier') {
      const nativeStep = withNative('MaxPoolGrad', () => time(() => tf.tidy(() => opt.minimize(() => loss(y, m.apply(x, { training: true })), true)), 5));
      res.models["classifier with wasm's own MaxPoolGrad"] = { forwardMs: fwd, trainStepMs: nativeStep, stepOverForward: nativeStep / fwd, trainImagesPerSecond: 64000 / nativeStep };
    }
  }
  res.maxPoolGradient = [];
  for (const [h, c] of [[64, 16], [32, 32]]) {
    const x = tf.randomNormal([64, h, h, c]), dy = tf.randomNormal([64, h / 2, h / 2, c]);
    const y = tf.maxPool(x, 2, 2, 'valid');
    const grad = () => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' });
    const ours = time(grad, 5);
    const native = withNative('MaxPoolGrad', () => time(grad, 5));
    res.maxPoolGradient.push({ input: [64, h, h, c], window: 2, projectMs: ours, wasmNativeMs: native, speedup: native / ours });
  }
  for (const [h, ci, co] of [[64, 3, 16], [32, 16, 32], [16, 32, 64], [16, 64, 96]]) {
    const x = tf.randomNormal([64, h, h, ci]), f = tf.randomNormal([3, 3, ci, co]), dy = tf.randomNormal([64, h, h, co]);
    const fwd = time(() => tf.conv2d(x, f, 1, 'same'), 5);
    const dw = time(() => conv2dFilterGradient(x, dy, [3, 3, ci, co], 1, 'same'), 5);
    const dx = time(() => conv2dInputGradientStride1(dy, f, [64, h, h, ci], 'same'), 5);
    res.filterGradient.push({ input: [64, h, h, ci], filter: [3, 3, ci, co], forwardMs: fwd, filterGradientMs: dw, ratio: dw / fwd, inputGradientMs: dx, inputRatio: dx / fwd });
  }
  console.log(JSON.stringify(res, (k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v), 2));
})();
