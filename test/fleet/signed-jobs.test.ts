/**
 * A queue only the producer can steer (OVERMAP_JOB_SECRET, OVERMAP_ALLOWED_PREFIXES), with
 * real Redis, worker processes and files: signed runs complete; forged and altered jobs, and
 * an altered run.json, are refused without retries; the secret is written nowhere.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BATCH_QUEUE, type BatchJob, canonicalJson, sign, verify } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import { cliEnv, expectOneRecordPerKey, makeImages, readParts, runCli, startWorkerProcess } from '../helpers/fleet';
import { type RedisServer, spawnRedis, tmpDir, waitFor } from '../helpers/services';

const SECRET = 'correct-horse-battery-staple-42';
let dir: string, spec: string, data: string, keys: string[], redis: RedisServer;

beforeAll(async () => {
  dir = await tmpDir();
  spec = await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' });
  data = path.join(dir, 'data');
  keys = await makeImages(data, 12);
  redis = await spawnRedis();
});
afterAll(async () => {
  await redis.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(root, { withFileTypes: true })) {
    const p = path.join(root, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

describe('signatures', () => {
  it('canonical JSON sorts keys at every depth; a signature covers every field', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}',
    );
    const job = sign({ runId: 'r', instance: 'abcdef', results: 'file:///x/', batch: 3 }, SECRET);
    expect(verify(job, SECRET)).toBe(true);
    expect(verify({ ...job, batch: 4 }, SECRET)).toBe(false);
    expect(verify(job, `${SECRET}x`)).toBe(false);
    expect(verify({ ...job, sig: undefined }, SECRET)).toBe(false);
    const group = sign({ runId: 'r', instance: 'abcdef', results: 'file:///x/', batch: 16, count: 16 }, SECRET);
    expect(verify(group, SECRET)).toBe(true);
    expect(verify({ ...group, count: 17 }, SECRET)).toBe(false); // a group cannot be widened
    expect(verify({ ...group, count: undefined }, SECRET)).toBe(false); // nor narrowed to its first batch
  });
});

describe('a fleet with OVERMAP_JOB_SECRET', () => {
  const env = () => cliEnv(redis.url, 'tsigned', { OVERMAP_JOB_SECRET: SECRET });
  const out = () => path.join(dir, 'signed');

  it('completes a signed run, and writes the secret nowhere', async () => {
    const r = await runCli(
      ['run', data, '--out', out(), '--workers', '1', '--batch-size', '4', '--model', spec],
      env(),
    );
    expect(r.code).toBe(0);
    expectOneRecordPerKey((await readParts(out())).records, keys);
    const run = JSON.parse(await fs.readFile(path.join(out(), 'run.json'), 'utf8'));
    expect(verify(run, SECRET)).toBe(true);
    for (const f of await filesUnder(out())) expect((await fs.readFile(f)).includes(SECRET)).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('refuses forged and altered jobs, and an altered run.json, without retries', async () => {
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const q = new Queue(BATCH_QUEUE, { connection: conn, prefix: 'tsigned' });
    const w = startWorkerProcess(env(), ['--exit-when-idle']);
    try {
      const run = JSON.parse(await fs.readFile(path.join(out(), 'run.json'), 'utf8'));
      const genuine = sign(
        { runId: run.run_id, instance: run.instance, results: run.results, batch: 0 },
        SECRET,
      ) as BatchJob;
      const forged = await q.add(
        'score-batch',
        { runId: run.run_id, instance: run.instance, results: run.results, batch: 0 },
        { jobId: 'forged', attempts: 5 },
      );
      const altered = await q.add('score-batch', { ...genuine, batch: 1 }, { jobId: 'altered', attempts: 5 });
      const group = sign(
        { runId: run.run_id, instance: run.instance, results: run.results, batch: 0, count: 1 },
        SECRET,
      ) as BatchJob;
      const widened = await q.add('score-batch', { ...group, count: 3 }, { jobId: 'widened', attempts: 5 });
      for (const job of [forged, altered, widened]) {
        // the state first, then the job: a job read just before it failed has no failedReason yet
        const failed = await waitFor(
          async () => ((await q.getJobState(job.id!)) === 'failed' ? await q.getJob(job.id!) : undefined),
          `job ${job.id} to fail`,
        );
        expect(failed.failedReason).toMatch(/unsigned or altered batch job refused/);
        expect(failed.attemptsMade).toBeLessThanOrEqual(1); // failed for good at once, not retried
      }
      // run.json pointed at another dataset by someone who can write the results but has no secret
      await fs.writeFile(path.join(out(), 'run.json'), JSON.stringify({ ...run, dataset: 'file:///etc/' }));
      const w2 = startWorkerProcess(env(), ['--exit-when-idle']);
      const redirected = await q.add('score-batch', genuine, { jobId: 'redirected', attempts: 5 });
      const failed = await waitFor(
        async () => ((await q.getJobState(redirected.id!)) === 'failed' ? await q.getJob(redirected.id!) : undefined),
        'the job on an altered run.json to fail',
      );
      expect(failed.failedReason).toMatch(/run\.json is unsigned or altered/);
      await new Promise((r) => (w2.exitCode !== null ? r(null) : w2.once('exit', r)));
    } finally {
      w.kill('SIGTERM');
      await q.close();
      conn.disconnect();
    }
  });

  it('OVERMAP_ALLOWED_PREFIXES: a dataset outside every prefix is refused at enqueue', async () => {
    const r = await runCli(
      ['enqueue', data, '--out', path.join(dir, 'outside'), '--model', spec],
      cliEnv(redis.url, 'tallowed', {
        OVERMAP_ALLOWED_PREFIXES: `s3://only-this-bucket/,${path.join(dir, 'outside')}/`,
      }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /dataset .* is outside OVERMAP_ALLOWED_PREFIXES \(s3:\/\/only-this-bucket\/, file:\/\/.*\): refused/,
    );
  });
});
