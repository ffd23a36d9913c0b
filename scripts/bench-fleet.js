#!/usr/bin/env node
/**
 * npm run bench:fleet — one run on one machine; prints ratios and rates, asserts nothing.
 *  1. producer enqueue rate (listing + addBulk) over N local keys, and Redis bytes per image
 *  2. BullMQ's own no-op throughput on the same Redis (addBulk, then a no-op worker)
 *  3. the fleet's per-image overhead (queue + storage + decode + record writing) with the
 *     scoring replaced by a no-op, as a fraction of the real scoring time per image
 *  4. `overmap run --workers 1` against `--workers 2` on the same dataset
 * Env: BENCH_KEYS (default 50000), BENCH_IMAGES (default 1024), BENCH_SCALE_IMAGES (3072),
 * OVERMAP_BACKEND (onnx, the default: the reference ONNX models; wasm: the TF.js ones). Runs with
 * single-threaded GC, as overmap run starts its workers.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Queue, Worker } = require('bullmq');
const { Redis } = require('ioredis');
const shared = require('@overmap/shared');
const { enqueueDataset } = require('@overmap/producer');
const W = require('@overmap/engine');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'packages/cli/bin/overmap.js');
const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-bench-'));
const out = {};

async function benchEnqueue(redis) {
  const n = Number(process.env.BENCH_KEYS || 50000);
  const dir = path.join(tmp, 'keys');
  for (let d = 0; d < 100; d++) fs.mkdirSync(path.join(dir, `c${String(d).padStart(3, '0')}`), { recursive: true });
  for (let i = 0; i < n; i++)
    fs.writeFileSync(
      path.join(dir, `c${String(i % 100).padStart(3, '0')}`, `img-${String(i).padStart(7, '0')}.jpg`),
      '',
    );
  const prefix = `bench${Date.now().toString(36)}`;
  const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
  const spec = await W.loadSpec(W.referenceSpecUri());
  const t0 = performance.now();
  const r = await enqueueDataset({
    dataset: dir,
    results: path.join(tmp, 'keys-out'),
    batchSize: 64,
    labels: null,
    toolVersion: 'bench',
    redis,
    prefix,
    model: {
      uri: spec.uri,
      hash: spec.hash,
      name: spec.spec.name,
      threshold: spec.spec.threshold,
      classes: spec.spec.classes,
    },
  });
  const s = (performance.now() - t0) / 1000;
  const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
  out.enqueue = {
    images: r.images,
    seconds: s,
    imagesPerSecond: r.images / s,
    redisBytesPerImage: (after - before) / r.images,
  };
  const q = new Queue(shared.BATCH_QUEUE, { connection: redis, prefix });
  await q.obliterate({ force: true });
  await q.close();
}

async function benchBullmqNoop(redis) {
  const prefix = `benchnoop${Date.now().toString(36)}`;
  const q = new Queue('noop', { connection: redis, prefix });
  const n = 5000;
  for (let i = 0; i < n; i += 50)
    await q.addBulk(
      Array.from({ length: 50 }, (_, j) => ({ name: 'x', data: { i: i + j }, opts: { removeOnComplete: true } })),
    );
  let done = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const w = new Worker('noop', async () => {}, {
      connection: new Redis(url, { maxRetriesPerRequest: null }),
      prefix,
      concurrency: 50,
    });
    w.on('completed', () => {
      if (++done === n) {
        out.bullmqNoop = { jobs: n, jobsPerSecond: n / ((performance.now() - t0) / 1000) };
        w.close().then(resolve);
      }
    });
  });
  await q.obliterate({ force: true });
  await q.close();
}

async function benchOverhead(redis, dataDir, images, backend) {
  const spec = await W.loadSpec(W.referenceSpecUri(backend === 'onnx' ? 'layers-onnx' : 'layers'));
  const config = shared.loadConfig({ ...process.env, REDIS_URL: url });
  // The worker in this process: wall seconds and this process's CPU seconds (libvips' decode
  // threads and ONNX Runtime's included), from the first job to the manifest.
  const measure = async (label, factory, decode) => {
    const prefix = `bench${label}${Date.now().toString(36)}`;
    const resDir = path.join(tmp, `res-${label}`);
    await enqueueDataset({
      dataset: dataDir,
      results: resDir,
      batchSize: 64,
      labels: 'folder',
      toolVersion: 'bench',
      redis,
      prefix,
      model: {
        uri: spec.uri,
        hash: spec.hash,
        name: spec.spec.name,
        threshold: spec.spec.threshold,
        classes: spec.spec.classes,
      },
    });
    const scorer = await factory();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const w = await require('@overmap/worker').startWorker({
      config: { ...config, OVERMAP_QUEUE_PREFIX: prefix, OVERMAP_BACKEND: backend },
      concurrency: 2,
      toolVersion: 'bench',
      metricsPort: null,
      scorerFactory: async () => scorer,
      decode,
      exitWhenIdle: true,
      idleSeconds: 1,
    });
    while (!fs.existsSync(path.join(resDir, 'manifest.json'))) await new Promise((r) => setTimeout(r, 20));
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    await w.stop('bench done');
    return { seconds: s, cpuSeconds: (c.user + c.system) / 1e6 };
  };
  // Scoring alone, in-process, on the same decoded scenes in the worker's micro-batches (model
  // loaded and warmed first).
  const scorer = await W.OverMapScorer.load(spec);
  const { decodeImage } = W;
  const files = fs
    .readdirSync(dataDir)
    .flatMap((d) => fs.readdirSync(path.join(dataDir, d)).map((f) => path.join(dataDir, d, f)));
  const inputs = [];
  for (const f of files.slice(0, images))
    inputs.push({
      rgb: (await decodeImage(fs.readFileSync(f), { size: scorer.inputSize, maxInputPixels: 1e8, maxBytes: 1e8 })).rgb,
      label: 0,
    });
  const mb = await require('@overmap/worker/testing').calibrateMicroBatch(scorer);
  await scorer.scoreBatch(inputs.slice(0, mb));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < inputs.length; i += mb) await scorer.scoreBatch(inputs.slice(i, i + mb));
  const tScore = (performance.now() - t0) / 1000;
  const cScore = process.cpuUsage(c0);
  const cpuScore = (cScore.user + cScore.system) / 1e6;
  const noop = await measure(
    'noop',
    async () => new (require('@overmap/engine/testing').NoopScorer)(spec.spec, spec.hash),
  );
  // The same with decoding skipped (every image a blank of the input size): what the fleet costs besides sharp.
  const blank = {
    ok: true,
    rgb: new Uint8Array(spec.spec.classifier.inputSize[0] * spec.spec.classifier.inputSize[1] * 3),
  };
  const noDecode = await measure(
    'nodecode',
    async () => new (require('@overmap/engine/testing').NoopScorer)(spec.spec, spec.hash),
    async () => blank,
  );
  // The worker disposes its scorers when it stops, so it gets this one and nothing reuses it after.
  const real = await measure('real', async () => scorer);
  out.overhead = {
    backend,
    spec: path.basename(spec.uri),
    images,
    microBatch: mb,
    noopMsPerImage: (1000 * noop.seconds) / images,
    noopCpuMsPerImage: (1000 * noop.cpuSeconds) / images,
    noopWithoutDecodeCpuMsPerImage: (1000 * noDecode.cpuSeconds) / images,
    realMsPerImage: (1000 * real.seconds) / images,
    realCpuMsPerImage: (1000 * real.cpuSeconds) / images,
    scoringMsPerImage: (1000 * tScore) / images,
    scoringCpuMsPerImage: (1000 * cpuScore) / images,
    overheadFractionOfScoring: noop.seconds / tScore,
    overheadCpuFractionOfScoring: noop.cpuSeconds / cpuScore,
  };
}

function benchScaling(dataDir, backend) {
  const res = {};
  for (const n of [1, 2]) {
    const o = path.join(tmp, `scale-${n}`);
    const stdout = execFileSync(
      process.execPath,
      [CLI, 'run', dataDir, '--out', o, '--workers', String(n), '--labels', 'folder'],
      {
        env: {
          ...process.env,
          REDIS_URL: url,
          OVERMAP_BACKEND: backend,
          OVERMAP_QUEUE_PREFIX: `scale${n}${Date.now().toString(36)}`,
          LOG_LEVEL: 'warn',
        },
      },
    ).toString();
    // The whole command (enqueue, worker start-up, scoring, finalize) and, from the manifest, the
    // run from its creation to its finish (worker start-up included, the CLI's own start not).
    const m = JSON.parse(fs.readFileSync(path.join(o, 'manifest.json'), 'utf8'));
    res[`workers${n}`] = {
      seconds: Number(/time: ([\d.]+) s/.exec(stdout)[1]),
      runSeconds: (Date.parse(m.finished) - Date.parse(m.created)) / 1000,
    };
  }
  res.speedup = res.workers1.seconds / res.workers2.seconds;
  res.runSpeedup = res.workers1.runSeconds / res.workers2.runSeconds;
  out.scaling = res;
}

(async () => {
  const backend = process.env.OVERMAP_BACKEND || 'onnx';
  await W.initBackend(backend);
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const images = Number(process.env.BENCH_IMAGES || 1024);
  const dataDir = path.join(tmp, 'scenes');
  execFileSync(process.execPath, [
    path.join(ROOT, 'packages/reference/dist/make-scenes-cli.js'),
    dataDir,
    '--split',
    'test',
    '--count',
    String(images),
  ]);
  out.machine = { cpus: os.cpus().length, cpu: os.cpus()[0].model, node: process.version };
  await benchEnqueue(redis);
  await benchBullmqNoop(redis);
  await benchOverhead(redis, dataDir, images, backend);
  // The scaling drill needs enough work that worker start-up (TF.js, model) is small beside it.
  const scaleImages = Number(process.env.BENCH_SCALE_IMAGES || 3072);
  const scaleDir = path.join(tmp, 'scale-scenes');
  execFileSync(process.execPath, [
    path.join(ROOT, 'packages/reference/dist/make-scenes-cli.js'),
    scaleDir,
    '--split',
    'test',
    '--count',
    String(scaleImages),
  ]);
  benchScaling(scaleDir, backend);
  out.scaling.images = scaleImages;
  console.log(JSON.stringify(out, null, 2));
  redis.disconnect();
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
