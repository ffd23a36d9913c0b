/**
 * The million-image path at 20,000 keys, without a model: enqueue (listing chunks, small
 * jobs), two workers with the no-op scorer, the parallel finalize into Parquet shards; one
 * row per key across the shards (an independent reader), and a manifest that stays small.
 * The files are empty (every record a decode_error): scoring is not what is tested here.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { enqueueDataset } from '@overmap/producer';
import { RunResults, loadConfig } from '@overmap/shared';
import { initBackend, loadSpec, referenceSpecUri } from '@overmap/engine';
import { startWorker } from '@overmap/worker';
import { NoopScorer } from '@overmap/engine/testing';
import { readParquet } from '../helpers/fleet';
import { testRedis, tmpDir, waitFor } from '../helpers/services';

const N = 20_000;
let dir: string, keys: string[];

beforeAll(async () => {
  dir = await tmpDir();
  keys = [];
  for (let d = 0; d < 100; d++)
    await fs.mkdir(path.join(dir, 'data', `c${String(d).padStart(2, '0')}`), { recursive: true });
  for (let i = 0; i < N; i++) {
    const key = `c${String(i % 100).padStart(2, '0')}/img-${String(i).padStart(6, '0')}.png`;
    keys.push(key);
    await fs.writeFile(path.join(dir, 'data', key), '');
  }
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

it('20,000 keys: enqueue, two no-op workers, sharded finalize, one Parquet row per key', async () => {
  await initBackend('wasm');
  const url = (await testRedis()).url;
  const prefix = `t${Date.now().toString(36)}scale`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const spec = await loadSpec(referenceSpecUri());
  const out = path.join(dir, 'results');
  const r = await enqueueDataset({
    dataset: path.join(dir, 'data'),
    results: out,
    batchSize: 64,
    labels: null,
    toolVersion: 'test',
    redis,
    prefix,
    shardParts: 128,
    model: { uri: spec.uri, hash: spec.hash, threshold: spec.spec.threshold, classes: spec.spec.classes },
  });
  expect([r.images, r.batches]).toEqual([N, 313]);
  const config = loadConfig({ REDIS_URL: url, OVERMAP_QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' });
  const workers = [];
  for (let i = 0; i < 2; i++) {
    workers.push(
      await startWorker({
        config,
        toolVersion: 'test',
        metricsPort: null,
        scorerFactory: async () => new NoopScorer(spec.spec, spec.hash),
      }),
    );
  }
  try {
    const results = RunResults.open(out);
    const m = await waitFor(() => results.readManifest(), 'the manifest', 170_000, 250);
    expect(m.counts).toMatchObject({ total: N, by_status: { decode_error: N } });
    expect(m.shards).toEqual([
      'records/part-00000.parquet',
      'records/part-00001.parquet',
      'records/part-00002.parquet',
    ]);
    expect(m.parts).toEqual({ list: 'parts.txt', count: 313 });
    expect(JSON.stringify(m).length).toBeLessThan(4096);
    const rows = (await Promise.all(m.shards!.map((s) => readParquet(path.join(out, s))))).flat();
    expect(rows).toHaveLength(N);
    expect(new Set(rows.map((x) => x.key as string))).toEqual(new Set(keys));
  } finally {
    await Promise.all(workers.map((w) => w.stop('test done')));
    redis.disconnect();
  }
});
