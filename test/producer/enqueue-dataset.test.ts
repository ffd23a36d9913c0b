/** The producer against real Redis and files: labels from a URI, and a listing interrupted and resumed. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describeLabels, enqueueDataset } from '@overmap/producer';
import { BATCH_QUEUE, type BatchChunk, type BatchJob, RunResults } from '@overmap/shared';
import { makeImages } from '../helpers/fleet';
import { testRedis, tmpDir } from '../helpers/services';

let dir: string, data: string, keys: string[], redis: Redis;
const model = {
  uri: 'file:///model.json',
  hash: 'h'.repeat(64),
  threshold: 0.3,
  classes: ['coat', 'bag', 'sneaker', 'trouser'],
};

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

/** The waiting jobs (groups of batches), in batch order. */
async function groupsOf(prefix: string): Promise<BatchJob[]> {
  const q = new Queue(BATCH_QUEUE, { connection: redis, prefix });
  try {
    return (await q.getJobs(['waiting'])).map((j) => j.data as BatchJob).sort((a, b) => a.batch - b.batch);
  } finally {
    await q.close();
  }
}

/** The batches of the waiting jobs, each with the listing chunk it names. */
async function jobsOf(prefix: string, out: string): Promise<(BatchJob & BatchChunk)[]> {
  const results = RunResults.open(out);
  const batches = (await groupsOf(prefix)).flatMap((j) =>
    Array.from({ length: j.count ?? 1 }, (_, i) => ({ ...j, batch: j.batch + i })),
  );
  return Promise.all(batches.map(async (j) => ({ ...j, ...(await results.readChunk(j.batch)) })));
}

describe('enqueueDataset', () => {
  it('puts labels from a CSV URI into the jobs, key by key, and records the classes and threshold in run.json', async () => {
    const prefix = `t${Date.now().toString(36)}lab`;
    const csv = path.join(dir, 'labels.csv');
    await fs.writeFile(csv, `key,label\n${keys.map((k, i) => `${k},${i % 2 ? 'Bag' : 'coat'}`).join('\n')}\n`);
    const out = path.join(dir, 'out-labels');
    const r = await enqueueDataset({
      dataset: data,
      results: out,
      batchSize: 10,
      model,
      labels: `file://${csv}`,
      toolVersion: 't',
      redis,
      prefix,
    });
    // groups of 102 batches, but the first 256 batches get a job each (OVERMAP_UNGROUPED_BATCHES)
    expect([r.images, r.batches, r.added, r.jobBatches]).toEqual([23, 3, 3, 102]);
    const jobs = await jobsOf(prefix, out);
    const labelOf = new Map(jobs.flatMap((j) => j.keys.map((k, i) => [k, j.labels![i]] as const)));
    expect(labelOf.size).toBe(23);
    keys.forEach((k, i) => expect(labelOf.get(k)).toBe(i % 2 ? 'Bag' : 'coat'));
    const run = (await RunResults.open(out).readRun())!;
    expect(run.classes).toEqual(model.classes);
    expect(run.params.threshold).toBe(0.3);
  });

  it('reports a key the label file gives twice (count and example, both labels), and uses the last label', async () => {
    const prefix = `t${Date.now().toString(36)}dup`;
    const csv = path.join(dir, 'labels-dup.csv');
    await fs.writeFile(csv, `key,label\n${keys.map((k) => `${k},coat`).join('\n')}\n${keys[3]},bag\n`);
    const out = path.join(dir, 'out-dup');
    const r = await enqueueDataset({
      dataset: data,
      results: out,
      batchSize: 10,
      model,
      labels: `file://${csv}`,
      toolVersion: 't',
      redis,
      prefix,
    });
    expect(r.labels).toEqual({
      labelled: 23,
      unknownClass: 0,
      unknownExamples: [],
      unmatchedEntries: 0,
      duplicateKeys: 1,
      duplicateExamples: [{ key: keys[3], labels: ['coat', 'bag'] }],
    });
    expect(describeLabels(r.labels!, r.images)).toBe(
      `enqueue: labels for 23 of 23 images; 1 key(s) given more than once in the label file (e.g. "${keys[3]}": "coat" then "bag"): the last label is used; keep one line per key`,
    );
    const labelOf = new Map(
      (await jobsOf(prefix, out)).flatMap((j) => j.keys.map((k, i) => [k, j.labels![i]] as const)),
    );
    expect(labelOf.get(keys[3]!)).toBe('bag');
    expect(labelOf.get(keys[4]!)).toBe('coat');
    // A label file without repeats says nothing more than before.
    expect(describeLabels({ ...r.labels!, duplicateKeys: 0, duplicateExamples: [] }, r.images)).toBeNull();
  });

  it.each([
    {
      jobBatches: 1,
      bulkSize: 2,
      groups: [
        [0, 1],
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
        [5, 1],
      ],
    },
    {
      jobBatches: 2,
      bulkSize: 1,
      groups: [
        [0, 2],
        [2, 2],
        [4, 2],
      ],
    },
    {
      jobBatches: 4,
      bulkSize: 1,
      groups: [
        [0, 4],
        [4, 2],
      ],
    },
  ])(
    'resumes an interrupted listing after its last enqueued group ($jobBatches batches per job): every key in exactly one job',
    async ({ jobBatches, bulkSize, groups }) => {
      const prefix = `t${Date.now().toString(36)}cur${jobBatches}`;
      const out = path.join(dir, `out-cursor-${jobBatches}`);
      const common = {
        dataset: data,
        results: out,
        batchSize: 4,
        jobImages: 4 * jobBatches,
        ungroupedBatches: 0,
        model,
        labels: null,
        toolVersion: 't',
        redis,
        prefix,
        bulkSize,
      };
      let flushes = 0;
      await expect(
        enqueueDataset({
          ...common,
          // the producer dies right after its second page of jobs reached Redis
          onProgress: (p) => {
            if (!p.done && p.added > 0 && ++flushes === 2) throw new Error('killed');
          },
        }),
      ).rejects.toThrow('killed');
      const before = await jobsOf(prefix, out);
      // two flushes of 2 or 4 batches (the second of 4 is the listing's end)
      expect(before.length).toBe(jobBatches === 4 ? 6 : 4);
      expect((await RunResults.open(out).readRun())!.batches).toBeUndefined();

      const r = await enqueueDataset(common);
      expect(r.resumed).toBe(true);
      expect([r.batches, r.jobBatches, r.jobs]).toEqual([6, jobBatches, groups.length]);
      expect((await groupsOf(prefix)).map((j) => [j.batch, j.count])).toEqual(groups);
      expect((await RunResults.open(out).readRun())!.params.jobBatches).toBe(jobBatches);
      const jobs = await jobsOf(prefix, out);
      expect(jobs.map((j) => j.batch)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(jobs.flatMap((j) => j.keys).sort()).toEqual([...keys].sort());
      expect((await RunResults.open(out).readRun())!.batches).toBe(6);
    },
  );

  it('a producer that died after its listing ended (a short last group) does not list again on resume: new keys get no job under an id already taken', async () => {
    const own = path.join(dir, 'data-done');
    await fs.cp(data, own, { recursive: true });
    const prefix = `t${Date.now().toString(36)}done`;
    const out = path.join(dir, 'out-listing-done');
    const common = {
      dataset: own,
      results: out,
      batchSize: 4,
      jobImages: 16,
      ungroupedBatches: 0,
      model,
      labels: null,
      toolVersion: 't',
      redis,
      prefix,
      bulkSize: 1,
    };
    // 23 keys: 6 batches, groups [0, 4) and [4, 6), the last one short; the producer dies right
    // after the final flush reached Redis, before run.json got its totals.
    await expect(
      enqueueDataset({
        ...common,
        onProgress: (p) => {
          if (!p.done && p.batches === 6) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    expect((await RunResults.open(out).readRun())!.batches).toBeUndefined();
    // Keys that sort after the cursor arrive before the rerun: listing on would cut batch 6 into
    // group [4, 8), whose job id (b000004) already exists, and BullMQ would drop its job.
    await fs.mkdir(path.join(own, 'zz'), { recursive: true });
    for (const f of ['zz/late-1.png', 'zz/late-2.png']) await fs.copyFile(path.join(data, keys[0]!), path.join(own, f));
    const r = await enqueueDataset(common);
    expect(r.resumed).toBe(true);
    expect([r.batches, r.images]).toEqual([6, 23]);
    expect((await RunResults.open(out).readRun())!.batches).toBe(6);
    expect((await groupsOf(prefix)).map((j) => [j.batch, j.count])).toEqual([
      [0, 4],
      [4, 2],
    ]);
    expect((await jobsOf(prefix, out)).flatMap((j) => j.keys).sort()).toEqual([...keys].sort());
  });
});
