/** Run bookkeeping: batches counted once in one atomic step, and scorers evicted when idle. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import {
  FINALIZE_QUEUE,
  type RunJsonInput,
  RunResults,
  failedFinalSteps,
  groupJobId,
  markBatchDone,
  maybeFinalize,
  runKeys,
} from '@overmap/shared';
import { readSpec } from '@overmap/engine';
import { RunContexts } from '@overmap/worker';
import { NoopScorer } from '@overmap/engine/testing';
import { downloadSlots } from '@overmap/worker/testing';
import { makeDevModel } from '../helpers/models';
import { testRedis, tmpDir } from '../helpers/services';

let redis: Redis, dir: string;
beforeAll(async () => {
  redis = new Redis((await testRedis()).url, { maxRetriesPerRequest: null });
  dir = await tmpDir();
});
afterAll(async () => {
  redis.disconnect();
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('markBatchDone', () => {
  it('counts a batch that runs twice once, with its statuses', async () => {
    const run = `t${Date.now().toString(36)}mark`;
    expect(await markBatchDone(redis, 'tp', run, 'i0000001', 3, { ok: 60, decode_error: 4 })).toBe(true);
    expect(await markBatchDone(redis, 'tp', run, 'i0000001', 3, { ok: 60, decode_error: 4 })).toBe(false);
    expect(await markBatchDone(redis, 'tp', run, 'i0000001', 4, { ok: 1 })).toBe(true);
    const k = runKeys('tp', run, 'i0000001');
    expect(await redis.smembers(k.done)).toEqual(expect.arrayContaining(['3', '4']));
    expect(await redis.hgetall(k.statuses)).toEqual({ ok: '61', decode_error: '4' });
    await redis.del(k.done, k.statuses);
  });
});

describe('RunContexts', () => {
  it('keeps a scorer while in use, disposes it once idle, and loads it again on demand', async () => {
    const spec = await readSpec(await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' }));
    const results = RunResults.open(path.join(dir, 'results'));
    const run: RunJsonInput = {
      run_id: 'r1',
      instance: 'abcdef12',
      dataset: `file://${dir}/`,
      results: results.uri,
      model: { uri: spec.uri, hash: 'abc' },
      classes: spec.spec.classes,
      params: {
        batchSize: 1,
        labels: null,
        overlays: 'none',
        threshold: 0.2,
        shardParts: 256,
        jobBatches: 1,
        ungroupedBatches: 0,
      },
      tool_version: 't',
      created: new Date().toISOString(),
    };
    await results.writeRun(run);
    const made: NoopScorer[] = [];
    const disposed: NoopScorer[] = [];
    const contexts = new RunContexts(async () => {
      const s = new NoopScorer(spec.spec, 'abc');
      s.dispose = () => {
        disposed.push(s);
      };
      made.push(s);
      return s;
    }, 1000);
    const ctx = await contexts.use('r1', results.uri, async (c) => {
      expect(contexts.evictIdle(Date.now() + 10_000)).toBe(0); // in use: never evicted
      return c;
    });
    expect(ctx.threshold).toBe(0.2);
    expect(ctx.classOf('ankle-boot')).toBe(9);
    expect(ctx.classOf('not a class')).toBeNull();
    expect(contexts.evictIdle(Date.now())).toBe(0); // used just now
    expect(contexts.evictIdle(Date.now() + 1500)).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(disposed).toEqual([made[0]]);
    await contexts.use('r1', results.uri, async () => undefined);
    expect(made).toHaveLength(2);
    contexts.dispose();
  });
});

describe('downloadSlots', () => {
  it('bounds downloads in flight by the budget over the largest accepted file, within [1, concurrency]', () => {
    const MiB = 1024 * 1024;
    expect(
      downloadSlots({
        OVERMAP_DOWNLOAD_BUDGET_MB: 512,
        OVERMAP_MAX_IMAGE_BYTES: 64 * MiB,
        OVERMAP_DOWNLOAD_CONCURRENCY: 16,
      }),
    ).toBe(8);
    expect(
      downloadSlots({
        OVERMAP_DOWNLOAD_BUDGET_MB: 512,
        OVERMAP_MAX_IMAGE_BYTES: 8 * MiB,
        OVERMAP_DOWNLOAD_CONCURRENCY: 16,
      }),
    ).toBe(16);
    expect(
      downloadSlots({
        OVERMAP_DOWNLOAD_BUDGET_MB: 10,
        OVERMAP_MAX_IMAGE_BYTES: 64 * MiB,
        OVERMAP_DOWNLOAD_CONCURRENCY: 16,
      }),
    ).toBe(1);
  });
});

describe('finalization steps that failed for good', () => {
  it('are named by failedFinalSteps, and maybeFinalize (what overmap retry calls) runs them again', async () => {
    const prefix = `t${Date.now().toString(36)}fin`;
    const ref = { runId: 'r-fin', instance: 'i0000009', results: 'file:///tmp/nowhere/' };
    const k = runKeys(prefix, ref.runId, ref.instance);
    await redis.hset(k.state, { total: '4', shardParts: '2' }); // 4 batches, 2 shards
    await redis.sadd(k.done, '0', '1', '2', '3');
    const queue = new Queue(FINALIZE_QUEUE, { connection: redis, prefix });
    const workerConnection = redis.duplicate();
    // A worker whose group step fails for good (as a bad annotation or an OOM would, past its attempts).
    const worker = new Worker(
      FINALIZE_QUEUE,
      async () => {
        throw new UnrecoverableError('cannot group: out of memory');
      },
      { connection: workerConnection, prefix },
    );
    try {
      expect(await maybeFinalize(redis, queue, ref)).toBe(true);
      const groupId = groupJobId(ref.runId, ref.instance);
      await waitFor(async () => (await queue.getJob(groupId))?.getState(), 'failed');
      expect(await failedFinalSteps(queue, ref)).toEqual([{ job: groupId, error: 'cannot group: out of memory' }]);
      await worker.close();
      // retry: the same id cannot be added again while the failed job exists; maybeFinalize retries it instead
      await maybeFinalize(redis, queue, ref);
      expect(await (await queue.getJob(groupId))!.getState()).toBe('waiting');
      expect(await failedFinalSteps(queue, ref)).toEqual([]);
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      workerConnection.disconnect();
      await redis.del(k.state, k.done);
    }
  });
});

async function waitFor<T>(read: () => Promise<T>, want: T): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await read()) === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`still not ${String(want)} after 10 s`);
}
