/**
 * One batch job per group of batches (OVERMAP_JOB_IMAGES), with real Redis, files and an
 * in-process worker whose scorer does no model work: a group whose job fails midway is
 * retried, skips the batches it had finished, and every key is scored exactly once; recovery
 * re-adds a group with a missing part file and only that batch is scored again.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { enqueueDataset, recoverRun } from '@overmap/producer';
import { BATCH_QUEUE, RunResults, batchJobId, loadConfig, partKey, runKeys } from '@overmap/shared';
import { initBackend, loadSpec, referenceSpecUri } from '@overmap/engine';
import { type RunningWorker, startWorker } from '@overmap/worker';
import { NoopScorer } from '@overmap/engine/testing';
import { expectOneRecordPerKey, makeImages, readParts } from '../helpers/fleet';
import { testRedis, tmpDir, waitFor } from '../helpers/services';

let dir: string, data: string, keys: string[], redis: Redis, url: string;
beforeAll(async () => {
  dir = await tmpDir();
  data = path.join(dir, 'data');
  keys = await makeImages(data, 23);
  url = (await testRedis()).url;
  redis = new Redis(url, { maxRetriesPerRequest: null });
  await initBackend('wasm');
});
afterAll(async () => {
  redis.disconnect();
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

/** Enqueues 23 keys in batches of 4 (6 batches), 4 batches per job: groups [0..3] and [4, 5]. */
async function enqueueGroups(prefix: string, out: string) {
  const spec = await loadSpec(referenceSpecUri());
  const r = await enqueueDataset({
    dataset: data,
    results: out,
    batchSize: 4,
    jobImages: 16,
    ungroupedBatches: 0,
    labels: null,
    toolVersion: 'test',
    redis,
    prefix,
    model: { uri: spec.uri, hash: spec.hash, threshold: spec.spec.threshold, classes: spec.spec.classes },
  });
  expect([r.batches, r.jobBatches, r.jobs, r.added]).toEqual([6, 4, 2, 2]);
  return spec;
}

/** Workers whose scorer notes every key it returns a score for, and can be made to fail. */
async function startCountingWorker(prefix: string, spec: Awaited<ReturnType<typeof loadSpec>>, failOnce: Set<string>) {
  const scored: string[] = [];
  let failures = 0;
  class CountingScorer extends NoopScorer {
    override async scoreBatch(inputs: Parameters<NoopScorer['scoreBatch']>[0]) {
      if (inputs.some((x) => failOnce.has(x.key!))) {
        failOnce.clear();
        failures++;
        throw new Error('injected transient failure'); // an ordinary error: BullMQ retries the job
      }
      const out = await super.scoreBatch(inputs);
      scored.push(...inputs.map((x) => x.key!));
      return out;
    }
  }
  const config = loadConfig({ REDIS_URL: url, OVERMAP_QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' });
  const w: RunningWorker = await startWorker({
    config,
    concurrency: 1,
    toolVersion: 'test',
    metricsPort: null,
    scorerFactory: async () => new CountingScorer(spec.spec, spec.hash),
  });
  return { w, scored, failures: () => failures };
}

describe('batch jobs over groups of batches', () => {
  it('a group whose job fails midway is retried, skips its finished batches, and scores every key exactly once', async () => {
    const prefix = `t${Date.now().toString(36)}grp`;
    const out = path.join(dir, 'midway');
    const spec = await enqueueGroups(prefix, out);
    const results = RunResults.open(out);
    const run = (await results.readRun())!;
    const failOnce = new Set((await results.readChunk(2)).keys); // the group's third batch fails once
    const { w, scored, failures } = await startCountingWorker(prefix, spec, failOnce);
    const q = new Queue(BATCH_QUEUE, { connection: redis, prefix });
    try {
      const m = await waitFor(() => results.readManifest(), 'the manifest', 120_000, 200);
      expect(failures()).toBe(1);
      expect([...scored].sort()).toEqual([...keys].sort()); // each key scored once: batches 0 and 1 were not redone
      expect(m.counts.total).toBe(keys.length);
      const job = (await q.getJob(batchJobId(run.run_id, run.instance, 0)))!;
      expect(job.attemptsMade).toBe(2);
      expect(job.returnvalue).toMatchObject({ scored: [2, 3], skipped: [0, 1], images: 8 });
      const k = runKeys(prefix, run.run_id, run.instance);
      expect(await redis.scard(k.done)).toBe(6);
      expect(Object.values(await redis.hgetall(k.statuses)).reduce((a, n) => a + Number(n), 0)).toBe(keys.length);
      const { records, files } = await readParts(out);
      expect(files).toHaveLength(6);
      expectOneRecordPerKey(records, keys);
    } finally {
      await w.stop('test done');
      await q.close();
    }
  });

  it('recovery re-adds the group of a lost part file; its job scores that batch only', async () => {
    const prefix = `t${Date.now().toString(36)}rec`;
    const out = path.join(dir, 'recover');
    const spec = await enqueueGroups(prefix, out);
    const results = RunResults.open(out);
    let worker = await startCountingWorker(prefix, spec, new Set());
    try {
      await waitFor(() => results.readManifest(), 'the manifest', 120_000, 200);
    } finally {
      await worker.w.stop('first pass done');
    }
    // The part file of batch 5 (the second group's last) is lost, and Redis forgets the run.
    const run = (await results.readRun())!;
    await fs.rm(path.join(out, partKey(5)));
    const k = runKeys(prefix, run.run_id, run.instance);
    await redis.del(k.done, k.statuses, k.state);
    const r = await recoverRun({ results, run, redis, prefix });
    // the completed job of group [4, 5] removed and added again
    expect(r).toEqual({ missing: 1, added: 1, retried: 0 });
    worker = await startCountingWorker(prefix, spec, new Set());
    try {
      await waitFor(async () => (await redis.scard(k.done)) === 6, 'batch 5 done again', 120_000, 200);
      expect([...worker.scored].sort()).toEqual([...(await results.readChunk(5)).keys].sort());
      expectOneRecordPerKey((await readParts(out)).records, keys);
    } finally {
      await worker.w.stop('test done');
    }
  });
});
