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
const tf = require('@overmap/engine').tf;
const W = require('@overmap/engine');
const A = require('@overmap/reference');
const { conv2dFilterGradient, conv2dInputGradientStride1, nativeWasmKernel } = require('@overmap/engine/testing');

/** Runs fn with wasm's own kernel `name` registered instead of the project's, then puts the project's back. */
function withNative(name, fn) {
  const ours = tf.getKernel(name, 'wasm');
  tf.unregisterKernel(name, 'wasm');
  const native = nativeWasmKernel(name);
  // The native kernel's setup (binding its wasm function) never ran: it was replaced before the backend started.
  if (native.setupFunc) native.setupFunc(tf.backend());
  tf.registerKernel({ ...native, setupFunc: undefined });
  try {
    return fn();
  } finally {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(ours);
  }
}

/** Median milliseconds of `reps` calls (after one warm-up call): the median, because this machine is shared and one slow call is noise. */
function time(fn, reps) {
  tf.dispose(fn());
  const ms = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = fn();
    (Array.isArray(r) ? r : [r]).forEach((t) => t.dataSync());
    ms.push(performance.now() - t0);
    tf.dispose(r);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(reps / 2)];
}

(async () => {
  await W.initBackend('wasm');
  const res = { backend: 'wasm', batch: 64, models: {}, filterGradient: [] };
  for (const [name, build, loss] of [
    ['classifier', () => A.buildCbamClassifier(), (y, o) => tf.losses.softmaxCrossEntropy(y, o)],
    [
      "classifier with tfjs's stock batch norm",
      () => A.buildCbamClassifier(10, 0.3, { stockBatchNorm: true }),
      (y, o) => tf.losses.softmaxCrossEntropy(y, o),
    ],
    ['segmenter', () => A.buildSegmenter(), (y, o) => tf.losses.logLoss(y, o)],
  ]) {
    const m = build();
    const x = tf.randomUniform([64, 64, 64, 3]);
    const y = name.startsWith('classifier')
      ? tf.oneHot(tf.randomUniform([64], 0, 10, 'int32'), 10)
      : tf.randomUniform([64, 64, 64, 1]).round();
    const opt = tf.train.adam(1e-3);
    const forward = () => m.predict(x);
    const step = () => tf.tidy(() => opt.minimize(() => loss(y, m.apply(x, { training: true })), true));
    // Forward and step(s) measured in turn, round after round, so that a slow spell of this shared
    // machine (or the wasm heap still growing) weighs on each alike; medians of the rounds.
    const variants = { step };
    if (name === 'classifier') variants.nativeMaxPoolGrad = () => withNative('MaxPoolGrad', step);
    const ms = { forward: [], ...Object.fromEntries(Object.keys(variants).map((k) => [k, []])) };
    for (let round = -2; round < 9; round++) {
      const t = (fn) => {
        const t0 = performance.now();
        const r = fn();
        (Array.isArray(r) ? r : [r]).forEach((v) => v.dataSync());
        tf.dispose(r);
        return performance.now() - t0;
      };
      const f = t(forward);
      const v = Object.fromEntries(Object.entries(variants).map(([k, fn]) => [k, t(fn)]));
      if (round < 0) continue; // warm-up rounds
      ms.forward.push(f);
      for (const k of Object.keys(v)) ms[k].push(v[k]);
    }
    const med = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
    const fwd = med(ms.forward),
      st = med(ms.step);
    res.models[name] = {
      forwardMs: fwd,
      trainStepMs: st,
      stepOverForward: st / fwd,
      trainImagesPerSecond: 64000 / st,
      stepOverForwardPerRound: ms.step.map((s, i) => s / ms.forward[i]),
    };
    if (variants.nativeMaxPoolGrad) {
      const nst = med(ms.nativeMaxPoolGrad);
      res.models["classifier with wasm's own MaxPoolGrad"] = {
        forwardMs: fwd,
        trainStepMs: nst,
        stepOverForward: nst / fwd,
        trainImagesPerSecond: 64000 / nst,
        stepOverForwardPerRound: ms.nativeMaxPoolGrad.map((s, i) => s / ms.forward[i]),
      };
    }
  }
  res.maxPoolGradient = [];
  for (const [h, c] of [
    [64, 16],
    [32, 32],
  ]) {
    const x = tf.randomNormal([64, h, h, c]),
      dy = tf.randomNormal([64, h / 2, h / 2, c]);
    const y = tf.maxPool(x, 2, 2, 'valid');
    const grad = () =>
      tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' });
    const ours = time(grad, 5);
    const native = withNative('MaxPoolGrad', () => time(grad, 5));
    res.maxPoolGradient.push({
      input: [64, h, h, c],
      window: 2,
      projectMs: ours,
      wasmNativeMs: native,
      speedup: native / ours,
    });
  }
  for (const [h, ci, co] of [
    [64, 3, 16],
    [32, 16, 32],
    [16, 32, 64],
    [16, 64, 96],
  ]) {
    const x = tf.randomNormal([64, h, h, ci]),
      f = tf.randomNormal([3, 3, ci, co]),
      dy = tf.randomNormal([64, h, h, co]);
    const fwd = time(() => tf.conv2d(x, f, 1, 'same'), 5);
    const dw = time(() => conv2dFilterGradient(x, dy, [3, 3, ci, co], 1, 'same'), 5);
    const dx = time(() => conv2dInputGradientStride1(dy, f, [64, h, h, ci], 'same'), 5);
    res.filterGradient.push({
      input: [64, h, h, ci],
      filter: [3, 3, ci, co],
      forwardMs: fwd,
      filterGradientMs: dw,
      ratio: dw / fwd,
      inputGradientMs: dx,
      inputRatio: dx / fwd,
    });
  }
  console.log(JSON.stringify(res, (k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v), 2));
})();
