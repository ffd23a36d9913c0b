#!/usr/bin/env node
/**
 * npm run bench:backends — images/s per backend, each configuration in fresh worker-like
 * processes started together:
 *   tfjs-wasm (1 process) · onnx 1 thread (1 process) · onnx 1 thread × 2 processes · onnx 2 threads (1 process)
 * for the reference pipeline (whole scoreBatch: classifier, Grad-CAM, attention, segmenter,
 * overlaps, batch 64) and a ResNet-50-shaped classifier (random weights, converted to ONNX
 * here; forward alone and the whole pipeline with the saliency prior, batch 4), with each
 * FLOP rate's share of the FP32 peak that scripts/probe-fp32-peak.js measures (1 thread for
 * one-thread runs, all cores for the others). Configurations are interleaved in rounds; the
 * ratio to tfjs-wasm is taken within each round (this machine is shared), median and range
 * over rounds. Each figure also comes per CPU-second (process CPU time): for one-thread runs
 * that is what a dedicated core gives, and it holds up when other jobs load the machine, which
 * wall-clock figures do not. Options (environment): ROUNDS (3), SECONDS per measurement (4).
 * JSON on stdout; each round on stderr as it ends.
 */
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SECONDS = Number(process.env.SECONDS_PER_RUN ?? process.env.SECONDS ?? 4);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

/** A child: load what the task names, warm up, say ready, on 'go' run for SECONDS, report images and seconds. */
async function child(task) {
  const W = require('@overmap/engine');
  const { tf } = W;
  await W.initBackend(task.backend, W.sessionSettingsOf(require('@overmap/shared').loadConfig()));
  const px = task.size * task.size * 3;
  let seed = 11;
  const rnd = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const inputs = Array.from({ length: task.batch }, (_, i) => ({
    rgb: Uint8Array.from({ length: px }, () => Math.floor(rnd() * 256)),
    label: i % 10,
  }));
  let step;
  if (task.mode === 'pipeline') {
    const scorer = await W.OverMapScorer.load(await W.loadSpec(task.spec));
    step = () => scorer.scoreBatch(inputs);
  } else if (task.backend === 'onnx') {
    const ort = require('onnxruntime-node');
    const spec = (await W.loadSpec(task.spec)).spec;
    const session = await ort.InferenceSession.create(
      path.resolve(path.dirname(task.spec), spec.classifier.model),
      W.sessionOptions(),
    );
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: task.batch * px }, () => rnd()),
      [task.batch, 3, task.size, task.size],
    );
    // The outputs the scorer fetches: the Grad-CAM activations and the attention maps.
    const fetches = [spec.gradcamLayer, ...spec.attentionLayers];
    step = () => session.run({ [session.inputNames[0]]: x }, fetches);
  } else {
    const loaded = await W.loadSpec(task.spec);
    const { buildClassifierGraph, loadClassifier } = require('@overmap/engine/testing');
    const graph = buildClassifierGraph(
      await loadClassifier(loaded),
      loaded.spec.gradcamLayer,
      loaded.spec.attentionLayers,
      loaded.spec.classes.length,
    );
    const x = tf.randomUniform([task.batch, task.size, task.size, 3]);
    step = async () => {
      const o = graph.features.predict(x);
      (Array.isArray(o) ? o : [o]).forEach((t) => t.dataSync());
      tf.dispose(o);
    };
  }
  await step();
  await step();
  process.send({ ready: true });
  await new Promise((r) => process.once('message', r));
  let images = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < SECONDS * 1000 || images < 3 * task.batch) {
    await step();
    images += task.batch;
  }
  const c = process.cpuUsage(c0);
  process.send({ images, seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 });
  process.exit(0);
}

/** `procs` children with `threads` ORT threads each, started together: total images/s. */
async function measure(task, procs, threads) {
  // As overmap run starts its workers: one per core, single-threaded GC.
  const kids = Array.from({ length: procs }, () =>
    fork(__filename, ['--child', JSON.stringify(task)], {
      execArgv: ['--single-threaded-gc'],
      env: { ...process.env, OVERMAP_ONNX_THREADS: String(threads), OVERMAP_BACKEND: task.backend },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  const next = (k) =>
    new Promise((resolve, reject) => {
      k.once('message', resolve);
      k.once('exit', (code) => code !== 0 && reject(new Error(`bench child exited with ${code}`)));
    });
  await Promise.all(kids.map(next));
  const done = kids.map(next);
  kids.forEach((k) => k.send('go'));
  const r = await Promise.all(done);
  const images = r.reduce((a, x) => a + x.images, 0);
  // Wall-clock throughput, and images per CPU-second: on a machine other jobs share, the
  // second is what one dedicated core would give (one-thread runs; it counts spinning too).
  return {
    ips: images / Math.max(...r.map((x) => x.seconds)),
    perCpuSecond: images / r.reduce((a, x) => a + x.cpuSeconds, 0),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (v) => Math.round(v * 1000) / 1000;

async function main() {
  const W = require('@overmap/engine');
  await W.initBackend('wasm');
  const { layersToOnnx, saveModel } = require('@overmap/reference');
  const { loadClassifier } = require('@overmap/engine/testing');
  const { flopsOf, resnet50 } = require('./lib/bench-models');
  const { matmulPeak } = require('./probe-fp32-peak');
  const cores = os.availableParallelism();

  // The ResNet-50 shape: random weights, saved as Layers and converted to ONNX, one spec each.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-backends-'));
  const rn = resnet50();
  await saveModel(rn, path.join(dir, 'layers'));
  fs.writeFileSync(path.join(dir, 'resnet.onnx'), layersToOnnx(rn, ['last_conv']));
  const rnSpec = (model, format) => {
    const f = path.join(dir, `spec-${format}.json`);
    fs.writeFileSync(
      f,
      JSON.stringify({
        classes: Array.from({ length: 1000 }, (_, i) => `c${i}`),
        classifier: { model, format, inputSize: [224, 224] },
        gradcamLayer: 'last_conv',
        segmenter: { type: 'saliency' },
      }),
    );
    return f;
  };
  const refLayers = W.referenceSpecUri('layers');
  const refOnnx = W.referenceSpecUri('layers-onnx');
  const refModel = await loadClassifier(await W.loadSpec(refLayers));
  const flops = { reference: flopsOf(refModel), resnet: flopsOf(rn) };
  const specs = { rnLayers: rnSpec('layers/model.json', 'layers'), rnOnnx: rnSpec('resnet.onnx', 'onnx') };

  const workloads = {
    'reference pipeline (64x64, batch 64)': {
      flops: flops.reference,
      layers: { mode: 'pipeline', spec: refLayers, batch: 64, size: 64 },
      onnx: { mode: 'pipeline', spec: refOnnx, batch: 64, size: 64 },
    },
    'ResNet-50 shape forward (224x224, batch 4)': {
      flops: flops.resnet,
      layers: { mode: 'forward', spec: specs.rnLayers, batch: 4, size: 224 },
      onnx: { mode: 'forward', spec: specs.rnOnnx, batch: 4, size: 224 },
    },
    'ResNet-50 shape pipeline (saliency prior, batch 4)': {
      flops: flops.resnet,
      layers: { mode: 'pipeline', spec: specs.rnLayers, batch: 4, size: 224 },
      onnx: { mode: 'pipeline', spec: specs.rnOnnx, batch: 4, size: 224 },
    },
  };
  const configs = [
    ['tfjs-wasm, 1 process', (w) => measure({ ...w.layers, backend: 'wasm' }, 1, 1), 1],
    ['onnx 1 thread, 1 process', (w) => measure({ ...w.onnx, backend: 'onnx' }, 1, 1), 1],
    [`onnx 1 thread x ${cores} processes`, (w) => measure({ ...w.onnx, backend: 'onnx' }, cores, 1), cores],
    [`onnx ${cores} threads, 1 process`, (w) => measure({ ...w.onnx, backend: 'onnx' }, 1, cores), cores],
  ];

  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const p1 = await matmulPeak(1, 2048, 5, true),
      pAll = await matmulPeak(cores, 2048, 5, true);
    const round = { peak1: p1.wall, peak1PerCpuSecond: p1.perCpuSecond, peakAll: pAll.wall };
    for (const [wName, w] of Object.entries(workloads)) {
      round[wName] = {};
      for (const [cName, run] of configs) round[wName][cName] = await run(w);
    }
    rounds.push(round);
    process.stderr.write(`round ${r + 1}/${ROUNDS}: ${JSON.stringify(round)}\n`);
  }
  const peak1 = median(rounds.map((r) => r.peak1)),
    peakAll = median(rounds.map((r) => r.peakAll));
  const peakCpu = median(rounds.map((r) => r.peak1PerCpuSecond));
  const res = {
    onnxruntime: require('onnxruntime-node/package.json').version,
    cores,
    rounds: ROUNDS,
    secondsPerMeasurement: SECONDS,
    fp32PeakGflops: {
      '1 thread': r3(peak1),
      [`${cores} threads`]: r3(peakAll),
      '1 thread, per CPU-second': r3(peakCpu),
    },
    gflopPerImage: { reference: r3(flops.reference / 1e9), resnet: r3(flops.resnet / 1e9) },
  };
  for (const [wName, w] of Object.entries(workloads)) {
    res[wName] = {};
    for (const [cName, , threads] of configs) {
      const at = (r) => r[wName][cName];
      const base = (r) => r[wName]['tfjs-wasm, 1 process'];
      const ratios = rounds.map((r) => at(r).ips / base(r).ips);
      const cpuRatios = rounds.map((r) => at(r).perCpuSecond / base(r).perCpuSecond);
      const shares = rounds.map((r) => (at(r).ips * w.flops) / 1e9 / (threads === 1 ? r.peak1 : r.peakAll));
      res[wName][cName] = {
        imagesPerSecond: r3(median(rounds.map((r) => at(r).ips))),
        vsTfjsWasm: r3(median(ratios)),
        vsTfjsWasmRange: [r3(Math.min(...ratios)), r3(Math.max(...ratios))],
        imagesPerCpuSecond: r3(median(rounds.map((r) => at(r).perCpuSecond))),
        perCpuSecondVsTfjsWasm: r3(median(cpuRatios)),
        perCpuSecondVsTfjsWasmRange: [r3(Math.min(...cpuRatios)), r3(Math.max(...cpuRatios))],
        // For the pipelines these count only the classifier's FLOPs: lower bounds on the share.
        classifierShareOfPeak: r3(median(shares)),
        ...(threads === 1
          ? {
              classifierShareOfPeakPerCpuSecond: r3(
                median(rounds.map((r) => (at(r).perCpuSecond * w.flops) / 1e9 / r.peak1PerCpuSecond)),
              ),
            }
          : {}),
      };
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify(res, null, 2));
}

if (process.argv[2] === '--child')
  child(JSON.parse(process.argv[3])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
