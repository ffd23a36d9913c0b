#!/usr/bin/env node
/**
 * npm run bench:memory — a worker's peak RSS on large files: BENCH_FILES (128) JPEGs of about
 * BENCH_MB (56) MB each (one noise JPEG, hard-linked so the disk holds it once), scored by one
 * worker (in this process, the reference model, default concurrency and download budget).
 * Downloads are capped by OVERMAP_DOWNLOAD_BUDGET_MB / OVERMAP_MAX_IMAGE_BYTES, so the peak
 * should not grow with the number or size of the files. Prints JSON; asserts nothing.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const sharp = require('sharp');
const { Redis } = require('ioredis');
const shared = require('@overmap/shared');
const { enqueueDataset } = require('@overmap/producer');
const W = require('@overmap/engine');

const files = Number(process.env.BENCH_FILES || 128);
const targetMb = Number(process.env.BENCH_MB || 56);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'overmap-mem-'));

(async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const redisProc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 500));
  const url = `redis://127.0.0.1:${port}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  try {
    // Noise compresses badly: side² · 3 bytes at quality 100 is about the file size wanted.
    const side = Math.round(Math.sqrt((targetMb * 1e6) / 3));
    const raw = Buffer.alloc(side * side * 3);
    let seed = 1;
    for (let i = 0; i < raw.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      raw[i] = seed >>> 24;
    }
    const data = path.join(tmp, 'data', 'big');
    fs.mkdirSync(data, { recursive: true });
    const first = path.join(data, 'img-000.jpg');
    await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .toFile(first);
    for (let i = 1; i < files; i++) fs.linkSync(first, path.join(data, `img-${String(i).padStart(3, '0')}.jpg`));
    const fileBytes = fs.statSync(first).size;

    const config = shared.loadConfig({
      REDIS_URL: url,
      OVERMAP_QUEUE_PREFIX: 'mem',
      OVERMAP_BACKEND: 'wasm',
      LOG_LEVEL: 'warn',
    });
    const spec = await W.loadSpec(W.referenceSpecUri());
    const results = path.join(tmp, 'results');
    await enqueueDataset({
      dataset: path.join(tmp, 'data'),
      results,
      batchSize: 64,
      labels: null,
      toolVersion: 'bench',
      redis,
      prefix: 'mem',
      model: { uri: spec.uri, hash: spec.hash, threshold: spec.spec.threshold, classes: spec.spec.classes },
    });
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const w = await require('@overmap/worker').startWorker({ config, toolVersion: 'bench', metricsPort: null });
    while (!fs.existsSync(path.join(results, 'manifest.json'))) await new Promise((r) => setTimeout(r, 200));
    const seconds = (performance.now() - t0) / 1000;
    await w.stop('bench done');
    const m = JSON.parse(fs.readFileSync(path.join(results, 'manifest.json'), 'utf8'));
    console.log(
      JSON.stringify(
        {
          files,
          fileMB: fileBytes / 1e6,
          pixels: `${side}x${side}`,
          byStatus: m.counts.by_status,
          seconds,
          downloadSlots: require('@overmap/worker/testing').downloadSlots(config),
          rssBeforeWorkerMiB: rssBefore / 2 ** 20,
          peakRssMiB: process.resourceUsage().maxRSS / 1024,
          podLimitMiB: 2048,
        },
        null,
        2,
      ),
    );
  } finally {
    redis.disconnect();
    redisProc.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
