/** The producer against real Redis and files: labels from a URI, and a listing interrupted and resumed. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { enqueueDataset } from '@overmap/producer';
import { BATCH_QUEUE, type BatchChunk, type BatchJob, RunResults } from '@overmap/shared';
import { makeImages } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

let dir: string, data: string, keys: string[], redis: Redis;
const model = { uri: 'file:///model.json', hash: 'h'.repeat(64), threshold: 0.3, classes: ['coat', 'bag', 'sneaker', 'trouser'] };

beforeAll(async () => {
  dir = await tmpDir();
  data = path.join(dir, 'data');
  keys = await makeImages(data, 23);
  redis = new Redis((await testRedis()).url, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  redis.disconnect();
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

/** The waiting jobs, each with the listing chunk it names. */
async function jobsOf(prefix: string, out: string): Promise<(BatchJob & BatchChunk)[]> {
  const q = new Queue(BATCH_QUEUE, { connection: redis, prefix });
  try {
    const jobs = (await q.getJobs(['waiting'])).map((j) => j.data as BatchJob).sort((a, b) => a.batch - b.batch);
    const results = RunResults.open(out);
    return Promise.all(jobs.map(async (j) => ({ ...j, ...(await results.readChunk(j.batch)) })));
  } finally {
    await q.close();
  }
}

describe('enqueueDataset', () => {
  it('puts labels from a CSV URI into the jobs, key by key, and records the classes and threshold in run.json', async () => {
    const prefix = `t${Date.now().toString(36)}lab`;
    const csv = path.join(dir, 'labels.csv');
    await fs.writeFile(csv, `key,label\n${keys.map((k, i) => `${k},${i % 2 ? 'Bag' : 'coat'}`).join('\n')}\n`);
    const out = path.join(dir, 'out-labels');
    const r = await enqueueDataset({ dataset: data, results: out, batchSize: 10, model, labels: `file://${csv}`, toolVersion: 't', redis, prefix });
    expect([r.images, r.batches, r.added]).toEqual([23, 3, 3]);
    const jobs = await jobsOf(prefix, out);
    const labelOf = new Map(jobs.flatMap((j) => j.keys.map((k, i) => [k, j.labels![i]] as const)));
    expect(labelOf.size).toBe(23);
    keys.forEach((k, i) => expect(labelOf.get(k)).toBe(i % 2 ? 'Bag' : 'coat'));
    const run = (await RunResults.open(out).readRun())!;
    expect(run.classes).toEqual(model.classes);
    expect(run.params.threshold).toBe(0.3);
  });

  it('resumes an interrupted listing after its last enqueued batch: every key in exactly one job', async () => {
    const prefix = `t${Date.now().toString(36)}cur`;
    const out = path.join(dir, 'out-cursor');
    const common = { dataset: data, results: out, batchSize: 4, model, labels: null, toolVersion: 't', redis, prefix, bulkSize: 2 };
    let flushes = 0;
    await expect(enqueueDataset({
      ...common,
      // the producer dies right after its second page of jobs reached Redis
      onProgress: (p) => { if (!p.done && p.added > 0 && ++flushes === 2) throw new Error('killed'); },
    })).rejects.toThrow('killed');
    const before = await jobsOf(prefix, out);
    expect(before.length).toBe(4);
    expect((await RunResults.open(out).readRun())!.batches).toBeUndefined();

    const r = await enqueueDataset(common);
    expect(r.resumed).toBe(true);
    expect(r.batches).toBe(6);
    const jobs = await jobsOf(prefix, out);
    expect(jobs.map((j) => j.batch)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(jobs.flatMap((j) => j.keys).sort()).toEqual([...keys].sort());
    expect((await RunResults.open(out).readRun())!.batches).toBe(6);
  });
});
