#!/usr/bin/env node
/**
 * npm run bench:scale — a million keys through the fleet without a model, on one machine:
 * enqueue (listing chunks + one small job per group of batches), Redis bytes per image while queued, two workers
 * (in this process) with the no-op scorer, the parallel finalize (sharded Parquet), peak RSS,
 * manifest size, and one Parquet row per key across the shards (hyparquet). The files are
 * empty, so every record is a decode_error: the records, parts, shards and finalize are the
 * real path; decoding and scoring are not measured here (bench:fleet, bench:score do).
 * Env: BENCH_SCALE_KEYS (default 1000000), BENCH_BATCH (64), OVERMAP_JOB_IMAGES (1024 images per
 * job). Prints JSON; asserts nothing.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Redis } = require('ioredis');
const shared = require('@overmap/shared');
const { enqueueDataset } = require('@overmap/producer');
const W = require('@overmap/engine');
const { NoopScorer } = require('@overmap/engine/testing');

const n = Number(process.env.BENCH_SCALE_KEYS || 1_000_000);
const batchSize = Number(process.env.BENCH_BATCH || 64);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-scale-'));
const out = { keys: n, batchSize, machine: { cpus: os.cpus().length, node: process.version } };
const usedMemory = async (r) => Number(/used_memory:(\d+)/.exec(await r.info('memory'))[1]);
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 200);

(async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const redisProc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  await new Promise((r) => setTimeout(r, 500));
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  try {
    const data = path.join(tmp, 'data');
    let t = performance.now();
    for (let d = 0; d < 1000; d++) fs.mkdirSync(path.join(data, `c${String(d).padStart(3, '0')}`), { recursive: true });
    for (let i = 0; i < n; i++)
      fs.writeFileSync(
        path.join(data, `c${String(i % 1000).padStart(3, '0')}`, `img-${String(i).padStart(8, '0')}.png`),
        '',
      );
    out.writeFilesSeconds = (performance.now() - t) / 1000;

    const spec = await W.loadSpec(W.referenceSpecUri());
    const results = path.join(tmp, 'results');
    const prefix = 'scale';
    const before = await usedMemory(redis);
    t = performance.now();
    const r = await enqueueDataset({
      dataset: data,
      results,
      batchSize,
      labels: null,
      toolVersion: 'bench',
      redis,
      prefix,
      model: { uri: spec.uri, hash: spec.hash, threshold: spec.spec.threshold, classes: spec.spec.classes },
      jobImages: shared.loadConfig().OVERMAP_JOB_IMAGES,
    });
    out.enqueue = {
      seconds: (performance.now() - t) / 1000,
      batches: r.batches,
      jobs: r.jobs,
      batchesPerJob: r.jobBatches,
      redisBytesPerImageQueued: ((await usedMemory(redis)) - before) / r.images,
    };
    out.enqueue.imagesPerSecond = n / out.enqueue.seconds;

    const config = shared.loadConfig({
      REDIS_URL: url,
      OVERMAP_QUEUE_PREFIX: prefix,
      OVERMAP_BACKEND: 'wasm',
      LOG_LEVEL: 'warn',
    });
    t = performance.now();
    let lastPart = 0;
    const partsDir = path.join(results, 'parts');
    const workers = [];
    for (let i = 0; i < 2; i++) {
      workers.push(
        await require('@overmap/worker').startWorker({
          config,
          concurrency: 2,
          toolVersion: 'bench',
          metricsPort: null,
          exitWhenIdle: false,
          scorerFactory: async () => new NoopScorer(spec.spec, spec.hash),
        }),
      );
    }
    const run = JSON.parse(fs.readFileSync(path.join(results, 'run.json'), 'utf8'));
    for (;;) {
      if (fs.existsSync(path.join(results, 'manifest.json'))) break;
      if (!lastPart && fs.existsSync(partsDir) && fs.readdirSync(partsDir).length >= run.batches)
        lastPart = performance.now();
      await new Promise((res) => setTimeout(res, 250));
    }
    const end = performance.now();
    out.scoreSeconds = ((lastPart || end) - t) / 1000;
    out.finalizeSeconds = lastPart ? (end - lastPart) / 1000 : null;
    out.finalizeShareOfScoring =
      out.finalizeSeconds && out.scoreSeconds ? out.finalizeSeconds / out.scoreSeconds : null;
    await Promise.all(workers.map((w) => w.stop('bench done')));
    const manifestBytes = fs.statSync(path.join(results, 'manifest.json')).size;
    const m = JSON.parse(fs.readFileSync(path.join(results, 'manifest.json'), 'utf8'));
    out.manifest = { bytes: manifestBytes, shards: (m.shards || []).length, total: m.counts.total };
    const { asyncBufferFromFile, parquetMetadataAsync } = await import('hyparquet');
    let rows = 0;
    for (const s of m.shards || ['records.parquet'])
      rows += Number((await parquetMetadataAsync(await asyncBufferFromFile(path.join(results, s)))).num_rows);
    out.parquetRows = rows;
    out.peakRssMiB = Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20;
    console.log(JSON.stringify(out, null, 2));
  } finally {
    clearInterval(rssTimer);
    redis.disconnect();
    redisProc.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
