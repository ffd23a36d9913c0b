import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BATCH_QUEUE, RecordSchema } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
import {
  cliEnv,
  expectOneRecordPerKey,
  makeBadImages,
  makeImages,
  readParquet,
  readParts,
  runCli,
  startWorkerProcess,
} from '../helpers/fleet';
import { testRedis, tmpDir, waitFor } from '../helpers/services';

let dir: string, spec: string, data: string, goodKeys: string[], bad: Record<string, string>, redisUrl: string;

beforeAll(async () => {
  dir = await tmpDir();
  spec = await makeDevModel(path.join(dir, 'model'));
  data = path.join(dir, 'data');
  goodKeys = await makeImages(data, 45);
  bad = await makeBadImages(data);
  redisUrl = (await testRedis()).url;
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('overmap run: enqueue, 2 worker processes, finalize', () => {
  const prefix = `t${Date.now().toString(36)}e2e`;
  const out = () => path.join(dir, 'results');
  let stdout = '';

  beforeAll(async () => {
    const r = await runCli(
      ['run', data, '--out', out(), '--workers', '2', '--batch-size', '8', '--labels', 'folder', '--model', spec],
      cliEnv(redisUrl, prefix),
    );
    stdout = r.stdout;
    if (r.code !== 0) throw new Error(`overmap run failed (${r.code}): ${r.stderr}`);
  });

  it('writes exactly one record per image key, in one part file per batch', async () => {
    const { records, files } = await readParts(out());
    const allKeys = [...goodKeys, ...Object.keys(bad)];
    expectOneRecordPerKey(records, allKeys);
    expect(files).toHaveLength(Math.ceil(allKeys.length / 8));
    expect(stdout).toMatch(/50 images/);
  });

  it('turns bad files into status records with an error, and scores the good ones', async () => {
    const { records } = await readParts(out());
    for (const r of records) {
      if (bad[r.key]) {
        expect({ key: r.key, status: r.status }).toEqual({ key: r.key, status: bad[r.key] });
        expect(r.error).toEqual(expect.any(String));
        expect(r.scores.overmap).toBeNull();
        expect(r.accepted).toBeNull();
      } else {
        expect(['ok', 'no_mask']).toContain(r.status);
        expect(r.prediction!.top.length).toBeGreaterThanOrEqual(3);
        expect(r.scores.overmap).toBeGreaterThanOrEqual(0);
        expect(r.label).toBe(r.key.split('/')[0]);
      }
    }
  });

  it('writes a manifest whose counts match the part files, and a Parquet file an independent reader agrees with', async () => {
    const manifest = JSON.parse(await fs.readFile(path.join(out(), 'manifest.json'), 'utf8'));
    const { records, files } = await readParts(out());
    expect(manifest.counts.total).toBe(records.length);
    const byStatus: Record<string, number> = {};
    for (const r of records) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    expect(manifest.counts.by_status).toEqual(byStatus);
    expect(manifest.counts.accepted).toBe(records.filter((r) => r.accepted === true).length);
    expect(manifest.counts.rejected).toBe(records.filter((r) => r.accepted === false).length);
    expect(manifest.parts).toEqual(files.map((f) => `parts/${f}`));
    const rows = await readParquet(path.join(out(), 'records.parquet'));
    expect(rows).toHaveLength(records.length);
    const byKey = new Map(records.map((r) => [r.key, r]));
    for (const row of rows) {
      const r = byKey.get(row.key as string)!;
      expect(row.status).toBe(r.status);
      expect(row.overmap ?? null).toBe(r.scores.overmap);
      expect(row.confidence ?? null).toBe(r.scores.confidence);
      expect(row.gradcam_contrast ?? null).toBe(r.scores.gradcam_contrast ?? null);
      // accepted is the decision score against the run's threshold
      if (r.scores.confidence !== null) expect(r.accepted).toBe(r.scores.confidence >= manifest.threshold);
      expect(row.pred_class ?? null).toBe(r.prediction?.class ?? null);
    }
    const run = JSON.parse(await fs.readFile(path.join(out(), 'run.json'), 'utf8'));
    expect(run).toMatchObject({ batches: files.length, images: records.length, skipped_keys: 1 });
  });

  it('adds nothing when the same enqueue runs again', async () => {
    const r = await runCli(
      ['enqueue', data, '--out', out(), '--batch-size', '8', '--labels', 'folder', '--model', spec],
      cliEnv(redisUrl, prefix),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/0 jobs added \(listing was already complete\)/);
    // BullMQ does not close a connection it was given: the test disconnects its own.
    const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const q = new Queue(BATCH_QUEUE, { connection: conn, prefix });
    try {
      expect(await q.getJobCountByTypes('wait', 'active', 'delayed')).toBe(0);
    } finally {
      await q.close();
      conn.disconnect();
    }
  });

  it('runs again from scratch when the results are deleted (same run id, stale Redis state)', async () => {
    await fs.rm(out(), { recursive: true, force: true });
    const r = await runCli(
      ['run', data, '--out', out(), '--workers', '1', '--batch-size', '8', '--labels', 'folder', '--model', spec],
      cliEnv(redisUrl, prefix),
    );
    expect(r.code).toBe(0);
    const { records } = await readParts(out());
    expectOneRecordPerKey(records, [...goodKeys, ...Object.keys(bad)]);
  });

  it('overmap status reports the finished run', async () => {
    const r = await runCli(['status', out()], cliEnv(redisUrl, prefix));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/7\/7 batches \(100%\).*finished/);
  });
});

describe('bad input gets one line that names it', () => {
  const env = () => cliEnv(redisUrl, 'tbad');
  it.each([
    [['run', '/no/such/dir', '--out', '/tmp/x'], /cannot read file:\/\/\/no\/such\/dir.*check the path exists/],
    [['enqueue', 's3://Bad_Bucket/x', '--out', '/tmp/x'], /not a valid S3 bucket name/],
    [['enqueue', 'ftp://host/x', '--out', '/tmp/x'], /unsupported scheme/],
    [['enqueue', '.', '--out', '/tmp/x', '--model', '/no/spec.json'], /cannot read model spec \/no\/spec.json/],
    [['enqueue', '.', '--out', '/tmp/x', '--batch-size', 'ten'], /--batch-size "ten" is not a positive integer/],
  ])('%j', async (args, msg) => {
    const r = await runCli(args as string[], env());
    expect(r.code).not.toBe(0);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter(
        (l) =>
          !/NodeVersionSupportWarning|AWS SDK|versions published|node >=22|upgrade to node|security updates|a\.co\/|trace-warnings|^\s*$/.test(
            l,
          ),
      );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(msg);
  });
  it('an empty prefix writes nothing and says so', async () => {
    const empty = path.join(dir, 'empty');
    await fs.mkdir(empty, { recursive: true });
    await fs.writeFile(path.join(empty, 'notes.txt'), 'x');
    const out = path.join(dir, 'empty-out');
    const r = await runCli(['enqueue', empty, '--out', out, '--model', spec], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no image keys under file:\/\/.*empty\/ \(1 other keys skipped\)/);
    await expect(fs.access(path.join(out, 'run.json'))).rejects.toThrow();
  });
  it('an unreachable Redis', async () => {
    const r = await runCli(['enqueue', data, '--out', path.join(dir, 'x')], cliEnv('redis://127.0.0.1:1', 'tbad'));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /cannot reach Redis at redis:\/\/127.0.0.1:1 .*start one \(redis-server\) or set REDIS_URL/,
    );
  });
});

describe('a malformed job payload', () => {
  it('fails that job once, without retries, and the worker carries on', async () => {
    const prefix = `t${Date.now().toString(36)}bad`;
    const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const q = new Queue(BATCH_QUEUE, { connection: conn, prefix });
    const worker = startWorkerProcess(cliEnv(redisUrl, prefix), ['--exit-when-idle']);
    try {
      const job = await q.add(
        'score-batch',
        { runId: 'x', results: '/tmp', batch: -1, keys: ['../../etc/passwd'] },
        { attempts: 5, jobId: 'bad-1' },
      );
      const failed = await waitFor(
        // the state first, then the job: a job read just before it failed has no failedReason yet
        async () => ((await q.getJobState(job.id!)) === 'failed' ? await q.getJob(job.id!) : undefined),
        'the job to fail',
        60_000,
      );
      // failed for good at once (BullMQ may record 0 or 1 for an UnrecoverableError)
      expect(failed!.attemptsMade).toBeLessThanOrEqual(1);
      expect(failed!.failedReason).toMatch(/malformed batch job payload.*instance.*batch/);
    } finally {
      worker.kill('SIGTERM');
      await q.close();
      conn.disconnect();
    }
  });
});

it('records validate against the contract schema', async () => {
  const { records } = await readParts(path.join(dir, 'results'));
  for (const r of records) expect(() => RecordSchema.parse(r)).not.toThrow();
});
