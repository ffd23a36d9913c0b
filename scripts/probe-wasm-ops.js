#!/usr/bin/env node
/**
 * node scripts/probe-wasm-ops.js — two wasm-backend facts the gradient kernels are built around
 * (packages/engine/src/backend/wasm-grad-kernels.ts), timed on this machine:
 *  - the argmax mask of the Max gradient: equal(x, max) against 1 − step(|x − max|), [64,16,16,64];
 *  - matMul with transposeA against a plain matMul of the same product (the filter gradient's
 *    im2col form needs Aᵀ·B with A = [N·H·W, 9·Cin]).
 * Medians of 7 interleaved rounds; one run, one machine: read the ratios.
 */
'use strict';
const tf = require('@overmap/engine').tf;
const W = require('@overmap/engine');

function rounds(fns, n = 7) {
  const once = (fn) => {
    const t0 = performance.now();
    const o = fn();
    o.dataSync();
    o.dispose();
    return performance.now() - t0;
  };
  fns.forEach(once);
  const times = fns.map(() => []);
  for (let r = 0; r < n; r++) fns.forEach((fn, i) => times[i].push(once(fn)));
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}

(async () => {
  await W.initBackend('wasm');
  const x = tf.randomNormal([64, 16, 16, 64]);
  const m = tf.max(x, [1, 2], true);
  const [eq, arith] = rounds([
    () => tf.tidy(() => tf.cast(tf.equal(x, m), 'float32')),
    () => tf.tidy(() => tf.sub(1, tf.step(tf.abs(tf.sub(x, m))))),
  ]);
  const a = tf.randomNormal([64 * 32 * 32, 9 * 16]),
    b = tf.randomNormal([64 * 32 * 32, 32]);
  const aT = tf.transpose(a);
  const [tA, plain] = rounds([() => tf.matMul(a, b, true, false), () => tf.matMul(aT, b)]);
  console.log(
    JSON.stringify(
      {
        maxGradientMask_64x16x16x64: { equalMs: eq, subStepMs: arith, ratio: eq / arith },
        matMul_144x65536_by_65536x32: { transposeAMs: tA, plainMs: plain, ratio: tA / plain },
      },
      (k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v),
      2,
    ),
  );
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
