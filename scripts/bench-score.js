#!/usr/bin/env node
/**
 * npm run bench:score — ms per image for each scoring stage on the wasm backend (or
 * OVERMAP_BACKEND), on the reference model and on a ResNet-50-shaped classifier with
 * random weights; the backend's measured matmul peak; the Over-MAP cost against
 * classifier + segmenter forward; MC dropout T=20 over the whole network; the longest
 * event-loop stall while the worker's micro-batched scoring runs; RSS and live tensors over a
 * long run of batches. One run, one machine; the
 * pipeline-to-forwards ratio from interleaved rounds (median, and its range).
 */
'use strict';
const { monitorEventLoopDelay } = require('node:perf_hooks');
const sharp = require('sharp');
const W = require('@overmap/engine');
const { tf, ModelSpecSchema } = W;
const {
  applyHead,
  buildClassifierGraph,
  frequencyTunedSaliency,
  gradCam,
  loadClassifier,
  loadLayersModel,
  localisationScores,
  overlap,
  resizeMaps,
  saliencyMask,
} = require('@overmap/engine/testing');
const { calibrateMicroBatch } = require('@overmap/worker/testing');

function once(fn) {
  const t0 = performance.now();
  const o = fn();
  (Array.isArray(o) ? o : [o]).forEach((t) => t.dataSync());
  tf.dispose(o);
  return performance.now() - t0;
}

function time(fn, reps) {
  once(fn); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) once(fn);
  return (performance.now() - t0) / reps;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Runs the functions in turn, `reps` rounds, and returns each one's median time and the
 * per-round times: a ratio taken round by round is not skewed by the machine's load drifting
 * between two separate measurements (this machine is shared).
 */
async function onceAsync(fn) {
  const t0 = performance.now();
  const o = await fn();
  (Array.isArray(o) ? o : [o]).forEach((t) => t.dataSync());
  tf.dispose(o);
  return performance.now() - t0;
}

/** (functions may be async: scoreBatch is) */
async function interleaved(fns, reps) {
  for (const fn of fns) await onceAsync(fn);
  const rounds = [];
  for (let i = 0; i < reps; i++) {
    const r = [];
    for (const fn of fns) r.push(await onceAsync(fn));
    rounds.push(r);
  }
  return { medians: fns.map((_, i) => median(rounds.map((r) => r[i]))), rounds };
}

const { flopsOf, resnet50 } = require('./lib/bench-models');

(async () => {
  const config = require('@overmap/shared').loadConfig();
  const backend = await W.initBackend(config.OVERMAP_BACKEND, W.sessionSettingsOf(config));
  const res = { backend: backend.name };
  // Matmul peak: the best of a few square sizes.
  let peak = 0;
  for (const n of [256, 512, 1024]) {
    const a = tf.randomNormal([n, n]),
      b = tf.randomNormal([n, n]);
    const ms = time(() => tf.matMul(a, b), 5);
    peak = Math.max(peak, (2 * n ** 3) / (ms / 1000) / 1e9);
    tf.dispose([a, b]);
  }
  res.matmulPeakGflops = peak;

  // Decode: a 500x375 JPEG to the model input.
  const raw = Buffer.alloc(500 * 375 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31) % 251;
  const jpeg = await sharp(raw, { raw: { width: 500, height: 375, channels: 3 } })
    .jpeg()
    .toBuffer();
  const d0 = performance.now();
  for (let i = 0; i < 50; i++) await W.decodeImage(jpeg, { size: [224, 224], maxInputPixels: 5e7, maxBytes: 1e8 });
  res.decodeMsPerImage_500x375_to_224 = (performance.now() - d0) / 50;

  async function stages(name, scorer, { graph, segmenter, classifier }, batch, size) {
    const x = tf.randomUniform([batch, size, size, 3]);
    const feats = graph.features.predict(x);
    const acts = Array.isArray(feats) ? feats[0] : feats;
    const pred = tf.argMax(applyHead(graph, acts), 1);
    const head = (a) => applyHead(graph, a);
    const reps = 3;
    const r = {};
    r.flopsPerImage = flopsOf(classifier);
    // The headline ratio: classifier forward, segmenter forward and the whole pipeline, interleaved, 5 rounds.
    const inputs = Array.from({ length: batch }, () => ({
      rgb: new Uint8Array(size * size * 3).fill(90),
      segRgb: undefined,
    }));
    const xs = tf.fill([batch, size, size, 3], 90 / 255);
    const segForward = segmenter ? () => segmenter.predict(xs) : () => saliencyMask(frequencyTunedSaliency(xs, 5));
    const il = await interleaved(
      [
        () => graph.features.predict(xs),
        segForward,
        async () => {
          await scorer.scoreBatch(inputs);
          return tf.scalar(0);
        },
      ],
      5,
    );
    r.classifierForward = il.medians[0] / batch;
    r.segmentation = il.medians[1] / batch;
    r.wholeOverMap = il.medians[2] / batch;
    r.overMapOverForwards = median(il.rounds.map(([c, sg, w]) => w / (c + (segmenter ? sg : 0))));
    r.overMapOverForwardsRange = [
      Math.min(...il.rounds.map(([c, sg, w]) => w / (c + (segmenter ? sg : 0)))),
      Math.max(...il.rounds.map(([c, sg, w]) => w / (c + (segmenter ? sg : 0)))),
    ];
    xs.dispose();
    r.classifierGflops = r.flopsPerImage / (r.classifierForward / 1000) / 1e9;
    r.classifierFractionOfPeak = r.classifierGflops / peak;
    r.gradCam = time(() => gradCam(head, acts, pred, graph.numClasses), reps) / batch;
    r.attention = graph.attentionCount
      ? time(() => tf.tidy(() => resizeMaps(tf.squeeze(feats[1], [3]), [size, size])), reps) / batch
      : 0;
    let mask;
    if (segmenter) {
      mask = tf.tidy(() => tf.greaterEqual(tf.squeeze(segmenter.predict(x), [3]), 0.5).toFloat());
    } else {
      mask = saliencyMask(frequencyTunedSaliency(x, 5));
    }
    const cam = gradCam(head, acts, pred, graph.numClasses);
    const camR = resizeMaps(cam, [mask.shape[1], mask.shape[2]]);
    {
      // The three overlaps, in JS on the read-back maps, as the scorer computes them.
      const camD = camR.dataSync(),
        maskD = mask.dataSync(),
        px = mask.shape[1] * mask.shape[2];
      const o0 = performance.now();
      for (let rep = 0; rep < reps; rep++)
        for (let i = 0; i < batch; i++)
          for (let j = 0; j < 3; j++)
            overlap(camD.subarray(i * px, (i + 1) * px), maskD.subarray(i * px, (i + 1) * px), 'mass', 0.5);
      r.overlaps = (performance.now() - o0) / reps / batch;
    }
    // The runner-up class's Grad-CAM (one more gradient through the head) and the four threshold-free
    // Grad-CAM/mask measures, computed in JS on the read-back maps (one sort per image).
    const second = tf.tidy(() =>
      tf.squeeze(tf.slice(tf.topk(applyHead(graph, acts), 2).indices, [0, 1], [-1, 1]), [1]),
    );
    r.runnerUpGradCam = time(() => gradCam(head, acts, second, graph.numClasses), reps) / batch;
    second.dispose();
    {
      const camD = camR.dataSync(),
        maskD = mask.dataSync(),
        px = mask.shape[1] * mask.shape[2];
      const l0 = performance.now();
      for (let rep = 0; rep < reps; rep++)
        for (let i = 0; i < batch; i++)
          localisationScores(camD.subarray(i * px, (i + 1) * px), maskD.subarray(i * px, (i + 1) * px));
      r.thresholdFreeMeasures = (performance.now() - l0) / reps / batch;
    }
    r.baselines = time(() => tf.topk(tf.softmax(applyHead(graph, acts)), 2).values, reps) / batch;
    r.mcDropoutT20WholeNetwork = (20 * time(() => classifier.predict(x), reps)) / batch;
    // Event loop: the worker's loop, micro-batches of 16 with a yield between.
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const mb = Math.min(await calibrateMicroBatch(scorer), batch);
    for (let i = 0; i < 4; i++) {
      await scorer.scoreBatch(inputs.slice(0, mb));
      await new Promise((rr) => setImmediate(rr));
    }
    r.workerMicroBatch = mb;
    h.disable();
    r.longestEventLoopStallMs = h.max / 1e6;
    tf.dispose([x, feats, pred, mask, cam, camR]);
    const round = (v) => (Array.isArray(v) ? v.map(round) : Math.round(v * 1000) / 1000);
    res[name] = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)]));
  }

  // This script measures the TF.js path (bench-backends.js compares ONNX Runtime with it).
  const loaded = await W.loadSpec(W.referenceSpecUri('layers'));
  const ref = await W.OverMapScorer.load(loaded);
  const refClassifier = await loadClassifier(loaded);
  const refParts = {
    classifier: refClassifier,
    graph: buildClassifierGraph(
      refClassifier,
      loaded.spec.gradcamLayer,
      loaded.spec.attentionLayers,
      loaded.spec.classes.length,
    ),
    segmenter: await loadLayersModel(loaded, loaded.spec.segmenter.model, 'segmenter'),
  };
  await stages('reference (64x64, CBAM + segmenter), ms per image', ref, refParts, 64, 64);

  // Memory over a long run (FIELD-NOTES: memory growth despite tf.tidy is reported for tfjs):
  // RSS, the backend's own bytes and live tensors after 10, 100 and 400 batches of 32 varied
  // images, scored as the worker scores them.
  {
    const px = 64 * 64 * 3;
    let seed = 7;
    const rnd = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const pool = Array.from({ length: 96 }, () => Uint8Array.from({ length: px }, () => Math.floor(rnd() * 256)));
    const samples = [];
    for (let b = 1; b <= 400; b++) {
      const inputs = Array.from({ length: 32 }, (_, i) => ({ rgb: pool[(b * 7 + i) % pool.length], label: i % 10 }));
      await ref.scoreBatch(inputs, { keepMaps: b % 5 === 0 });
      if ([10, 100, 400].includes(b)) {
        const m = tf.memory();
        samples.push({
          batches: b,
          rssMiB: process.memoryUsage().rss / 2 ** 20,
          backendMiB: m.numBytes / 2 ** 20,
          numTensors: m.numTensors,
        });
      }
      if (b % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    res['reference: memory over 400 batches of 32'] = samples.map((x) =>
      Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    );
  }
  const rn = resnet50();
  const spec = ModelSpecSchema.parse({
    classes: Array.from({ length: 1000 }, (_, i) => `c${i}`),
    classifier: { model: 'x', inputSize: [224, 224] },
    gradcamLayer: 'last_conv',
    attentionLayers: [],
    segmenter: { type: 'saliency' },
  });
  const rnScorer = await W.OverMapScorer.fromModels({ spec, hash: 'random', uri: 'memory', store: null }, rn);
  const rnParts = {
    classifier: rn,
    graph: buildClassifierGraph(rn, spec.gradcamLayer, [], spec.classes.length),
    segmenter: null,
  };
  await stages('ResNet-50 shape (224x224, random weights, saliency prior), ms per image', rnScorer, rnParts, 4, 224);
  console.log(JSON.stringify(res, null, 2));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
