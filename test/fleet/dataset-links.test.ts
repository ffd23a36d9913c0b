/**
 * A local dataset with symbolic links, through the producer and an in-process worker (real
 * Redis and files; a scorer that does no model work): links that stay inside are images like
 * any other; a link to a file outside, or into a directory outside, is never listed nor read;
 * a link that leads out by the time the worker reads it (re-pointed after the listing) is that
 * image's read_error record, not a failed batch.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Redis } from 'ioredis';
import { enqueueDataset } from '@overmap/producer';
import { RunResults, loadConfig } from '@overmap/shared';
import { initBackend, loadSpec, referenceSpecUri } from '@overmap/engine';
import { startWorker } from '@overmap/worker';
import { NoopScorer } from '@overmap/engine/testing';
import { cliEnv, expectOneRecordPerKey, makeImages, readParts, runCli } from '../helpers/fleet';
import { testRedis, tmpDir, waitFor } from '../helpers/services';

let dir: string, data: string, outside: string, keys: string[], redis: Redis, url: string;
beforeAll(async () => {
  dir = await tmpDir();
  outside = await tmpDir('overmap-outside-');
  data = path.join(dir, 'data');
  keys = await makeImages(data, 6);
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ff0000' } })
    .png()
    .toFile(path.join(outside, 'secret.png'));
  await fs.symlink(path.join(data, keys[1]!), path.join(data, 'coat', 'inside-link.png')); // stays inside
  await fs.symlink(path.join(outside, 'secret.png'), path.join(data, 'coat', 'out.png')); // a file outside
  await fs.symlink(outside, path.join(data, 'outdir')); // a directory outside
  await fs.symlink(path.join(data, keys[2]!), path.join(data, 'coat', 'swap.png')); // inside at listing time
  url = (await testRedis()).url;
  redis = new Redis(url, { maxRetriesPerRequest: null });
  await initBackend('wasm');
});
afterAll(async () => {
  redis.disconnect();
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(outside, { recursive: true, force: true });
});

describe('a local dataset with symbolic links', () => {
  it('scores the links inside, skips and counts those out, and makes a link out at read time a read_error record', async () => {
    const prefix = `t${Date.now().toString(36)}links`;
    const out = path.join(dir, 'out');
    const spec = await loadSpec(referenceSpecUri());
    const r = await enqueueDataset({
      dataset: data,
      results: out,
      batchSize: 4,
      labels: null,
      toolVersion: 'test',
      redis,
      prefix,
      model: { uri: spec.uri, hash: spec.hash, threshold: spec.spec.threshold, classes: spec.spec.classes },
    });
    const listedKeys = [...keys, 'coat/inside-link.png', 'coat/swap.png'];
    expect([r.images, r.outsideKeys, r.outsideExamples, r.skipped]).toEqual([
      listedKeys.length,
      1,
      ['coat/out.png'],
      1,
    ]);
    const results = RunResults.open(out);
    const chunked = (await Promise.all(Array.from({ length: r.batches }, (_, b) => results.readChunk(b)))).flatMap(
      (c) => c.keys,
    );
    expect(chunked.sort()).toEqual([...listedKeys].sort()); // nothing outside, nothing under outdir/

    // Re-pointed out of the dataset between the listing and the read.
    await fs.rm(path.join(data, 'coat', 'swap.png'));
    await fs.symlink(path.join(outside, 'secret.png'), path.join(data, 'coat', 'swap.png'));

    const config = loadConfig({ REDIS_URL: url, OVERMAP_QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' });
    const w = await startWorker({
      config,
      concurrency: 1,
      toolVersion: 'test',
      metricsPort: null,
      announceUnsigned: false,
      scorerFactory: async () => new NoopScorer(spec.spec, spec.hash),
    });
    try {
      const m = await waitFor(() => results.readManifest(), 'the manifest', 120_000, 200);
      expect(m.counts.total).toBe(listedKeys.length);
    } finally {
      await w.stop('test done');
    }
    const { records } = await readParts(out);
    expectOneRecordPerKey(records, listedKeys);
    const byKey = new Map(records.map((x) => [x.key, x]));
    expect(byKey.get('coat/swap.png')).toMatchObject({
      status: 'read_error',
      error: `refused object key "coat/swap.png": its real path ${path.join(outside, 'secret.png')} is outside ${data} (a symbolic link leads out): copy the file into the folder instead of linking to it`,
      prediction: null,
    });
    expect(byKey.get('coat/inside-link.png')!.status).toBe('ok');
    expect(records.filter((x) => x.status !== 'ok').map((x) => x.key)).toEqual(['coat/swap.png']);
  });

  it('overmap enqueue says how many links it skipped, with examples (swap.png now leads out too)', async () => {
    const r = await runCli(
      ['enqueue', data, '--out', path.join(dir, 'out-cli'), '--batch-size', '4'],
      cliEnv(url, `t${Date.now().toString(36)}lcli`),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'enqueue: skipped 2 key(s) whose real path leaves the dataset (symbolic links out of the folder), e.g. "coat/out.png", "coat/swap.png": copy those files in instead of linking to them\n',
    );
  });
});
