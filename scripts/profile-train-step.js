#!/usr/bin/env node
/**
 * npm run profile:train -- [classifier|segmenter] [--stock-batch-norm] — where a training step's time goes
 * on the wasm backend: tf.profile of one step (batch 64, after two warm-up steps), kernel time
 * summed by kernel name. Kernels nest (a gradient kernel built from convolutions counts its
 * inner Conv2D too), so the column adds up to more than the wall time. A diagnostic, not a
 * benchmark: `npm run bench:train` gives the step ÷ forward ratios.
 */
'use strict';
const tf = require('@overmap/engine').tf;
const W = require('@overmap/engine');
const A = require('@overmap/reference');

(async () => {
  const which = process.argv[2] || 'classifier';
  if (!['classifier', 'segmenter'].includes(which)) throw new Error(`model ${which}: use classifier or segmenter`);
  await W.initBackend('wasm');
  const stock = process.argv.includes('--stock-batch-norm'); // tfjs's own BatchNormalization, as before the project's
  const m = which === 'classifier' ? A.buildCbamClassifier(10, 0.3, { stockBatchNorm: stock }) : A.buildSegmenter();
  const x = tf.randomUniform([64, 64, 64, 3]);
  const y =
    which === 'classifier'
      ? tf.oneHot(tf.randomUniform([64], 0, 10, 'int32'), 10)
      : tf.randomUniform([64, 64, 64, 1]).round();
  const loss = (o) => (which === 'classifier' ? tf.losses.softmaxCrossEntropy(y, o) : tf.losses.logLoss(y, o));
  const opt = tf.train.adam(1e-3);
  const step = () => tf.tidy(() => opt.minimize(() => loss(m.apply(x, { training: true })), true));
  tf.dispose(step());
  tf.dispose(step());
  const t0 = performance.now();
  const info = await tf.profile(() => step());
  const wall = performance.now() - t0;
  const by = new Map();
  for (const k of info.kernels) {
    const e = by.get(k.name) || { calls: 0, ms: 0 };
    e.calls++;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    by.set(k.name, e);
  }
  console.log(
    `${which}${stock ? ' (stock batch norm)' : ''}: one training step, ${wall.toFixed(0)} ms wall under the profiler, ${info.kernels.length} kernel calls`,
  );
  console.log('kernel'.padEnd(28), 'calls'.padStart(6), 'ms'.padStart(9));
  for (const [name, e] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
    console.log(name.padEnd(28), String(e.calls).padStart(6), e.ms.toFixed(1).padStart(9));
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
