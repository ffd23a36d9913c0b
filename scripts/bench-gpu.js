#!/usr/bin/env node
/**
 * npm run bench:gpu [-- --photos <folder>]  — ONNX Runtime's CUDA execution provider on one GPU.
 *
 * Needs an NVIDIA GPU with CUDA 12 + cuDNN 9 and onnxruntime-node's CUDA providers
 * (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`, as deploy/docker/worker-onnx-gpu.Dockerfile does);
 * anywhere else it stops at once with one line saying CUDA is not available.
 *
 * For the reference-v4 classifier + segmenter (64×64) and a ResNet-50-shaped classifier with
 * random weights (224×224): several worker processes (BENCH_GPU_PROCS, default 1,2,4) share the
 * GPU, each running batches (BENCH_GPU_BATCHES, default 8,32,128) for BENCH_GPU_SECONDS (5):
 * images/s of all of them, and the CPU cores they used (their CPU time over the wall time).
 * With --photos, each process also decodes its batches from the folder (the engine's
 * decodeImage, at the model's input size, 4 decodes in flight) before the forward: images/s
 * and CPU cores per GPU with decoding, the figure deploy/ sizes GPU pods by.
 * Inputs are host tensors: onnxruntime-node has no CUDA IO binding for inputs, so each run copies
 * its batch to the device once; only the outputs the scorer reads are fetched.
 * JSON on stdout, one line per configuration on stderr. BENCH_GPU_EP=cpu: the same on the CPU
 * provider, to check the script itself where there is no GPU (its figures say nothing of a GPU).
 */
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const list = (v, d) => (v ?? d).split(',').map(Number);
const PROCS = list(process.env.BENCH_GPU_PROCS, '1,2,4');
const BATCHES = list(process.env.BENCH_GPU_BATCHES, '8,32,128');
const SECONDS = Number(process.env.BENCH_GPU_SECONDS ?? 5);
// BENCH_GPU_EP=cpu runs the same script on the CPU provider: a dry run of its code paths, no GPU figure.
const DRY_RUN = process.env.BENCH_GPU_EP === 'cpu';
const CUDA = DRY_RUN ? ['cpu'] : [{ name: 'cuda', deviceId: 0 }];

/** The CUDA provider starts here, or one line on stderr and exit 2. */
async function requireCuda(ort, model) {
  const level = ort.env.logLevel;
  ort.env.logLevel = 'fatal'; // the failure is said once, below, not in ORT's multi-line log
  try {
    await ort.InferenceSession.create(model, { executionProviders: CUDA, logSeverityLevel: 4 });
  } catch (e) {
    const why = e.message.split('\n')[0];
    process.stderr.write(
      `bench:gpu: CUDA is not available here (onnxruntime-node's CUDA provider: ${why}); run it on an NVIDIA GPU with CUDA 12 + cuDNN 9 after ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci\n`,
    );
    process.exit(2);
  }
  ort.env.logLevel = level;
}

async function child(task) {
  const ort = require('onnxruntime-node');
  const sessions = [];
  for (const m of task.models)
    sessions.push({ s: await ort.InferenceSession.create(m.file, { executionProviders: CUDA }), fetch: m.fetch });
  const [h, w] = task.size;
  const px = h * w;
  const x = new Float32Array(task.batch * 3 * px).map(() => Math.random());
  let photos = [];
  let next = 0;
  const { decodeImage } = require('@overmap/engine');
  if (task.photos)
    photos = fs
      .readdirSync(task.photos, { recursive: true })
      .filter((k) => /\.(jpe?g|png)$/i.test(k))
      .map((k) => path.join(task.photos, k));
  const o = { size: task.size, maxInputPixels: 100e6, maxBytes: 256 * 2 ** 20 };
  const fill = async () => {
    const decodeOne = async (j) => {
      const d = await decodeImage(fs.readFileSync(photos[next++ % photos.length]), o);
      if (d.ok)
        for (let p = 0; p < px; p++) for (let c = 0; c < 3; c++) x[(j * 3 + c) * px + p] = d.rgb[p * 3 + c] / 255;
    };
    for (let j = 0; j < task.batch; j += 4)
      await Promise.all([0, 1, 2, 3].filter((k) => j + k < task.batch).map((k) => decodeOne(j + k)));
  };
  const step = async () => {
    if (photos.length) await fill();
    const t = new ort.Tensor('float32', x, [task.batch, 3, h, w]);
    for (const { s, fetch } of sessions) await s.run({ [s.inputNames[0]]: t }, fetch ?? s.outputNames);
  };
  await step();
  process.send({ ready: true });
  await new Promise((r) => process.once('message', r));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let images = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    await step();
    images += task.batch;
  }
  const c = process.cpuUsage(c0);
  process.send({ images, seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 });
  process.exit(0);
}

async function measure(task, procs) {
  const kids = Array.from({ length: procs }, () =>
    fork(__filename, ['--child', JSON.stringify(task)], { execArgv: ['--single-threaded-gc'] }),
  );
  const next = (k) =>
    new Promise((res, rej) => {
      k.once('message', res);
      k.once('exit', (code) => code && rej(new Error(`bench:gpu child exited with ${code}`)));
    });
  await Promise.all(kids.map(next));
  const done = kids.map(next);
  kids.forEach((k) => k.send('go'));
  const r = await Promise.all(done);
  const wall = Math.max(...r.map((x) => x.seconds));
  const images = r.reduce((a, x) => a + x.images, 0);
  return { imagesPerSecond: images / wall, cpuCoresUsed: r.reduce((a, x) => a + x.cpuSeconds, 0) / wall };
}

/** The models: reference-v4's two (64×64) and a ResNet-50 shape (224×224) converted to ONNX here. */
async function models() {
  const specFile = path.join(ROOT, 'models/reference-v4/overmap-model.json');
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));
  const dir = path.dirname(specFile);
  const fetch = [spec.classifier.logitsOutput, spec.gradcamLayer, ...spec.attentionLayers];
  const reference = {
    name: 'reference-v4 (CBAM ResNet + U-Net, 64×64)',
    size: spec.classifier.inputSize,
    models: [
      { file: path.join(dir, spec.classifier.model), fetch },
      { file: path.join(dir, spec.segmenter.model), fetch: null },
    ],
  };
  const W = require('@overmap/engine');
  await W.initBackend('wasm');
  const { layersToOnnx } = require('@overmap/reference');
  const { resnet50 } = require('./lib/bench-models');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gpu-')), 'resnet50.onnx');
  fs.writeFileSync(file, layersToOnnx(resnet50(), ['last_conv']));
  return [reference, { name: 'ResNet-50 shape (224×224)', size: [224, 224], models: [{ file, fetch: null }] }];
}

async function main() {
  const { values } = parseArgs({ options: { photos: { type: 'string' } } });
  if (values.photos && !fs.existsSync(values.photos))
    throw new Error(`--photos ${values.photos}: no such folder; make one with npm run make:photos -- <dir>`);
  const ort = require('onnxruntime-node');
  await requireCuda(ort, path.join(ROOT, 'models/reference-v4/classifier/model.onnx'));
  const rows = [];
  for (const m of await models())
    for (const decode of values.photos ? [false, true] : [false])
      for (const procs of PROCS)
        for (const batch of BATCHES) {
          const task = { ...m, batch, photos: decode ? path.resolve(values.photos) : null };
          const row = { model: m.name, decode, procs, batch, ...(await measure(task, procs)) };
          process.stderr.write(`${JSON.stringify(row)}\n`);
          rows.push(row);
        }
  const host = { cpus: os.availableParallelism(), provider: DRY_RUN ? 'cpu (dry run, not a GPU figure)' : 'cuda' };
  process.stdout.write(`${JSON.stringify({ host, rows }, null, 2)}\n`);
}

if (process.argv[2] === '--child') child(JSON.parse(process.argv[3]));
else
  main().catch((e) => {
    process.stderr.write(`bench:gpu: ${e.message}\n`);
    process.exit(2);
  });
