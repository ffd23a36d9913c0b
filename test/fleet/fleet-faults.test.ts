/**
 * Faults the fleet must survive: a worker killed outright mid-batch, and Redis restarting
 * mid-run. Each test has its own redis-server with AOF on, so that it can be restarted.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BATCH_QUEUE } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import { spawn } from 'node:child_process';
import {
  CLI,
  cliEnv,
  expectOneRecordPerKey,
  makeImages,
  readParts,
  runCli,
  startWorkerProcess,
} from '../helpers/fleet';
import { type RedisServer, freePort, spawnRedis, tmpDir, waitFor } from '../helpers/services';

let dir: string, spec: string, data: string, keys: string[];
beforeAll(async () => {
  dir = await tmpDir();
  spec = await makeDevModel(path.join(dir, 'model'));
  data = path.join(dir, 'data');
  keys = await makeImages(data, 96);
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** Enqueues the dataset for one test and opens its batch queue (the caller closes both). */
async function enqueueWithQueue(redis: RedisServer, prefix: string, out: string, batchSize: number) {
  const env = cliEnv(redis.url, prefix);
  expect(
    (await runCli(['enqueue', data, '--out', out, '--batch-size', String(batchSize), '--model', spec], env)).code,
  ).toBe(0);
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const q = new Queue(BATCH_QUEUE, { connection: conn, prefix });
  return {
    env,
    q,
    close: async () => {
      await q.close();
      conn.disconnect();
    },
  };
}

describe('a worker killed with SIGKILL mid-batch', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await spawnRedis({ appendonly: true });
  });
  afterAll(() => redis.stop());

  it('loses nothing: its batch stalls, another worker runs it, one record per image', async () => {
    const out = path.join(dir, 'kill-out');
    const { env, q, close } = await enqueueWithQueue(redis, 'kill', out, 8);
    const victim = startWorkerProcess(env, ['--concurrency', '1']);
    try {
      const active = await waitFor(
        async () => ((await q.getActive()).length > 0 ? (await q.getActive())[0] : undefined),
        'a batch to become active',
        60_000,
        20,
      );
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      const rescuer = startWorkerProcess(env, ['--exit-when-idle']);
      await waitFor(async () => exists(path.join(out, 'manifest.json')), 'the manifest', 120_000, 200);
      rescuer.kill('SIGTERM');
      const job = await q.getJob(active!.id!);
      // the killed batch was completed by the rescuer (or before the kill landed)
      expect(job ? await job.getState() : 'completed').toBe('completed');
      const { records } = await readParts(out);
      expectOneRecordPerKey(records, keys);
      const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8'));
      expect(manifest.counts.total).toBe(keys.length);
    } finally {
      victim.kill('SIGKILL');
      await close();
    }
  });
});

describe('Redis restarting mid-run', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await spawnRedis({ appendonly: true });
  });
  afterAll(() => redis.stop());

  it('the run still completes with one record per image', async () => {
    const env = cliEnv(redis.url, 'restart');
    const out = path.join(dir, 'restart-out');
    expect((await runCli(['enqueue', data, '--out', out, '--batch-size', '8', '--model', spec], env)).code).toBe(0);
    const worker = startWorkerProcess(env, ['--exit-when-idle']);
    try {
      await waitFor(
        async () => ((await fs.readdir(path.join(out, 'parts')).catch(() => [])).length >= 2 ? true : undefined),
        'two parts',
        60_000,
        20,
      );
      await redis.restart();
      await waitFor(
        async () => exists(path.join(out, 'manifest.json')),
        'the manifest after the restart',
        150_000,
        200,
      );
      const { records } = await readParts(out);
      expectOneRecordPerKey(records, keys);
    } finally {
      worker.kill('SIGTERM');
    }
  });
});

describe('SIGTERM', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await spawnRedis();
  });
  afterAll(() => redis.stop());

  it('lets the current batch finish and exits 0', async () => {
    const out = path.join(dir, 'term-out');
    const { env, q, close } = await enqueueWithQueue(redis, 'term', out, 32);
    const worker = startWorkerProcess(env, ['--concurrency', '1']);
    try {
      const active = await waitFor(async () => (await q.getActive())[0], 'an active batch', 60_000, 20);
      worker.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => worker.once('exit', r));
      expect(code).toBe(0);
      expect(await (await q.getJob(active.id!))!.getState()).toBe('completed');
    } finally {
      await close();
    }
  });

  it('during a group of batches: finishes the batch in hand, hands the rest of the group back (waiting, no attempt spent), and the next worker scores only what is left', async () => {
    const out = path.join(dir, 'term-group-out');
    // One job for the whole dataset: 12 batches of 8, no single-batch head.
    const env = cliEnv(redis.url, 'termgroup', { OVERMAP_JOB_IMAGES: '96', OVERMAP_UNGROUPED_BATCHES: '0' });
    expect((await runCli(['enqueue', data, '--out', out, '--batch-size', '8', '--model', spec], env)).code).toBe(0);
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const q = new Queue(BATCH_QUEUE, { connection: conn, prefix: 'termgroup' });
    try {
      const [job] = await q.getWaiting();
      expect(job!.data.count).toBe(12);
      const worker = startWorkerProcess(env, ['--concurrency', '1']);
      // SIGTERM once the first part file exists: the group is under way.
      await waitFor(
        async () => (await fs.readdir(path.join(out, 'parts')).catch(() => [])).some((f) => f.endsWith('.jsonl')),
        'a first part file',
        60_000,
        10,
      );
      worker.kill('SIGTERM');
      expect(await new Promise<number | null>((r) => worker.once('exit', r))).toBe(0);
      const back = (await q.getJob(job!.id!))!;
      expect(await back.getState()).toBe('waiting');
      expect(back.attemptsMade).toBe(0);
      const before = (await readParts(out)).files;
      expect(before.length).toBeGreaterThan(0);
      expect(before.length).toBeLessThan(12);
      const mtime = async (f: string) => (await fs.stat(path.join(out, 'parts', f))).mtimeMs;
      const stamps = await Promise.all(before.map(mtime));
      // A second worker finishes the group: one record per key, no batch written twice.
      const rescuer = startWorkerProcess(env);
      try {
        await waitFor(async () => exists(path.join(out, 'manifest.json')), 'the manifest', 120_000, 100);
      } finally {
        rescuer.kill('SIGTERM');
        await new Promise((r) => rescuer.once('exit', r));
      }
      const { records, files } = await readParts(out);
      expect(files).toHaveLength(12);
      expectOneRecordPerKey(records, keys);
      // the batches done before SIGTERM were skipped, not scored again
      expect(await Promise.all(before.map(mtime))).toEqual(stamps);
    } finally {
      await q.close();
      conn.disconnect();
    }
  });
});

describe('the metrics port', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await spawnRedis();
  });
  afterAll(() => redis.stop());

  it('serves Prometheus text, /healthz and /readyz, and /readyz fails when Redis is gone', async () => {
    const port = await freePort();
    const env = cliEnv(redis.url, 'metrics', { METRICS_PORT: String(port) });
    const out = path.join(dir, 'metrics-out');
    expect((await runCli(['enqueue', data, '--out', out, '--batch-size', '32', '--model', spec], env)).code).toBe(0);
    const worker = spawn(process.execPath, [CLI, 'worker'], { env, stdio: 'ignore' });
    try {
      await waitFor(async () => exists(path.join(out, 'manifest.json')), 'the manifest', 120_000, 200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/overmap_images_total\{status="ok"\} \d+|overmap_images_total\{status="no_mask"\} \d+/);
      expect(metrics).toMatch(/overmap_stage_seconds_bucket\{le="[\d.]+",stage="score"\}/);
      expect(metrics).toMatch(/overmap_queue_jobs\{state="wait"\} 0/);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      await redis.stop();
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    } finally {
      worker.kill('SIGKILL');
    }
  });
});
