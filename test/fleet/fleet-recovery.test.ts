/**
 * Runs that never get stuck and never lie, with real processes, Redis and files: a worker
 * killed with SIGKILL under `overmap run`, a batch that fails for good and is retried once
 * fixed, Redis restarted without persistence mid-run, and the traps a reused or misplaced
 * --out used to hide.
 */
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RunResults, chunkKey } from '@overmap/shared';
import { makeDevModel } from '../helpers/models';
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

let dir: string, spec: string, data: string, keys: string[], redis: RedisServer;
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  dir = await tmpDir();
  spec = await makeDevModel(path.join(dir, 'model'), { segmenter: 'saliency' });
  data = path.join(dir, 'data');
  keys = await makeImages(data, 40);
  redis = await spawnRedis();
});
afterAll(async () => {
  await redis.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const childPids = async (pid: number): Promise<number[]> => {
  const { stdout } = await promisify(execFile)('pgrep', ['-P', String(pid)]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number);
};

describe('overmap run supervises its workers', () => {
  it('a worker killed with SIGKILL is restarted; the run finishes with one record per image and exit 0', async () => {
    const out = path.join(dir, 'killed');
    const env = cliEnv(redis.url, 'tkill', { OVERMAP_LOCK_SECONDS: '2' });
    const run = spawn(
      process.execPath,
      [CLI, 'run', data, '--out', out, '--workers', '2', '--batch-size', '4', '--model', spec],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    run.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = new Promise<number | null>((r) => run.once('exit', r));
    const [victim] = await waitFor(
      async () => {
        const pids = await childPids(run.pid!);
        return pids.length === 2 && (await fs.readdir(path.join(out, 'parts')).catch(() => [])).length >= 1 && pids;
      },
      'two workers and a first part',
      120_000,
      50,
    );
    process.kill(victim!, 'SIGKILL');
    expect(await code).toBe(0);
    expect(stderr).toMatch(/worker \d was killed by SIGKILL: restarting it/);
    expectOneRecordPerKey((await readParts(out)).records, keys);
    expect(await childPids(run.pid!)).toEqual([]);
  });
});

describe('a batch that fails for good', () => {
  it('stops overmap run with the cause (exit 4, failures.jsonl); fixed, the same command finishes the run', async () => {
    const out = path.join(dir, 'failing');
    const env = cliEnv(redis.url, 'tfail');
    const common = [data, '--out', out, '--batch-size', '8', '--model', spec];
    const args = ['run', ...common, '--workers', '1'];
    expect((await runCli(['enqueue', ...common], env)).code).toBe(0);
    // The cause: batch 2's listing chunk is corrupt (a bad object; a chunk that is gone is rebuilt
    // instead: lost-chunks.test.ts)
    const chunk = path.join(out, chunkKey(2));
    const saved = await fs.readFile(chunk);
    await fs.writeFile(chunk, '{"batch": 2, "keys": "not a list"}');
    const first = await runCli(args, env);
    expect(first.code).toBe(4);
    expect(first.stderr).toMatch(
      /1 batch\(es\) failed for good \(first: batch 2: .*listing\/batch-000002\.json does not match/,
    );
    const failures = (await fs.readFile(path.join(out, 'failures.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(failures.map((f) => f.batch)).toEqual([2]);
    expect(await exists(path.join(out, 'manifest.json'))).toBe(false);

    const status = await runCli(['status', out], env);
    expect(status.code).toBe(4);
    expect(status.stdout).toMatch(/4\/5 batches \(80%\) done, 1 failed.*STUCK/);

    await fs.writeFile(chunk, saved); // fixed
    const again = await runCli(args, env);
    expect(again.code).toBe(0);
    expectOneRecordPerKey((await readParts(out)).records, keys);
  });

  it('overmap retry re-queues it for the workers', async () => {
    const out = path.join(dir, 'retry');
    const env = cliEnv(redis.url, 'tretry');
    expect((await runCli(['enqueue', data, '--out', out, '--batch-size', '8', '--model', spec], env)).code).toBe(0);
    const chunk = path.join(out, chunkKey(0));
    const saved = await fs.readFile(chunk);
    await fs.writeFile(chunk, '{"batch": 0, "keys": "not a list"}');
    let w = startWorkerProcess(env, ['--exit-when-idle']);
    await new Promise((r) => w.once('exit', r));
    expect(await exists(path.join(out, 'manifest.json'))).toBe(false);
    await fs.writeFile(chunk, saved);
    const r = await runCli(['retry', out], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 batch\(es\) without results: 1 failed job\(s\) re-queued, 0 job\(s\) added/);
    w = startWorkerProcess(env, ['--exit-when-idle']);
    await new Promise((res) => w.once('exit', res));
    expect(await exists(path.join(out, 'manifest.json'))).toBe(true);
    expectOneRecordPerKey((await readParts(out)).records, keys);
  });
});

describe('Redis restarted without persistence mid-run', () => {
  it('overmap run recovers the run from the results store and finishes it', async () => {
    const own = await spawnRedis({ appendonly: false });
    try {
      const out = path.join(dir, 'amnesia');
      const env = cliEnv(own.url, 'tamnesia');
      const run = spawn(
        process.execPath,
        [CLI, 'run', data, '--out', out, '--workers', '1', '--batch-size', '4', '--model', spec],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      run.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const code = new Promise<number | null>((r) => run.once('exit', r));
      await waitFor(
        async () => (await fs.readdir(path.join(out, 'parts')).catch(() => [])).length >= 2,
        'two parts',
        120_000,
        20,
      );
      await own.restart();
      expect(await code).toBe(0);
      expect(stderr).toMatch(/Redis lost run .*'s state: recovered from the results/);
      expectOneRecordPerKey((await readParts(out)).records, keys);
      expect((await RunResults.open(out).readManifest())!.counts.total).toBe(keys.length);
    } finally {
      await own.stop();
    }
  });
});

describe('traps', () => {
  it('--out inside the dataset is refused before anything is written', async () => {
    const out = path.join(data, 'results');
    const r = await runCli(['enqueue', data, '--out', out, '--model', spec], cliEnv(redis.url, 'tinside'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^overmap: --out .* is inside the dataset .*: the next run would score its own results; choose an --out outside the dataset$/m,
    );
    expect(await exists(out)).toBe(false);
  });

  it('a spec whose class count differs from the model is refused at enqueue, before any job or run.json', async () => {
    const bad = path.join(dir, 'model', 'bad-classes.json');
    await fs.writeFile(
      bad,
      JSON.stringify({ ...JSON.parse(await fs.readFile(spec, 'utf8')), classes: ['a', 'b', 'c'] }),
    );
    const out = path.join(dir, 'bad-spec');
    const r = await runCli(['enqueue', data, '--out', out, '--model', bad], cliEnv(redis.url, 'tbadspec'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^overmap: .*spec lists 3 classes: class count must equal the output units$/m);
    expect(await exists(out)).toBe(false);
  });

  it('Redis errors say which: a wrong password (never printed), TLS to a plain port; the right password works', async () => {
    const locked = await spawnRedis({ password: 'right-horse-battery' });
    try {
      const port = locked.port;
      const wrong = await runCli(
        ['enqueue', data, '--out', path.join(dir, 'auth'), '--model', spec],
        cliEnv(`redis://:wrong-staple@127.0.0.1:${port}`, 'tauth'),
      );
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toMatch(
        /Redis at redis:\/\/:\*\*\*@127.0.0.1:\d+ refused the credentials .*check the password in REDIS_URL/,
      );
      expect(wrong.stderr).not.toContain('wrong-staple');
      const tls = await runCli(
        ['enqueue', data, '--out', path.join(dir, 'auth'), '--model', spec],
        cliEnv(`rediss://:right-horse-battery@127.0.0.1:${port}`, 'ttls'),
      );
      expect(tls.code).toBe(3);
      expect(tls.stderr).toMatch(/TLS to Redis at rediss:\/\/:\*\*\*@127.0.0.1:\d+ failed/);
      expect(tls.stderr).not.toContain('right-horse-battery');
      const right = await runCli(
        ['run', data, '--out', path.join(dir, 'auth'), '--workers', '1', '--model', spec],
        cliEnv(locked.url, 'tauthok'),
      );
      expect(right.code).toBe(0);
      expect(right.stdout + right.stderr).not.toContain('right-horse-battery');
    } finally {
      await locked.stop();
    }
  });

  it('two workers on one host: a port in use is one line; METRICS_PORT=0 picks a free one and says where', async () => {
    const port = await freePort();
    const env = cliEnv(redis.url, 'tports', { METRICS_PORT: String(port) });
    const a = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, "the first worker's /healthz");
      const b = await runCli(['worker'], env);
      expect(b.code).toBe(3);
      expect(b.stderr.trim()).toMatch(
        new RegExp(
          `^overmap: metrics port ${port} on 127\\.0\\.0\\.1 is in use \\(another worker on this host\\?\\): set METRICS_PORT=0`,
          'm',
        ),
      );
      const c = spawn(process.execPath, [CLI, 'worker'], {
        env: { ...env, METRICS_PORT: '0', LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      c.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
      });
      const url = await waitFor(
        async () => /"metrics":"(http:\/\/127\.0\.0\.1:\d+)\/metrics"/.exec(log)?.[1],
        "the second worker's metrics URL",
      );
      expect((await fetch(`${url}/healthz`)).ok).toBe(true);
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    } finally {
      a.kill('SIGTERM');
      await new Promise((r) => a.once('exit', r));
    }
  });

  it('labels that match no image, or mostly name no class, are refused before any job; a few unknown ones are reported', async () => {
    const env = cliEnv(redis.url, 'tlabels');
    const none = path.join(dir, 'labels-none.csv');
    await fs.writeFile(none, keys.map((k) => `data/${k},coat`).join('\n'));
    const r1 = await runCli(['enqueue', data, '--out', path.join(dir, 'l1'), '--labels', none, '--model', spec], env);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(
      /--labels .* labels none of the first 40 image keys \(the file has 40 entries: its keys must be relative to the dataset prefix, e.g. "bag\/img-0001.png"\)/,
    );
    expect(await exists(path.join(dir, 'l1'))).toBe(false);

    const wrong = path.join(dir, 'labels-wrong.csv');
    await fs.writeFile(wrong, keys.map((k, i) => `${k},${i % 4 ? 'zebra' : 'coat'}`).join('\n'));
    const r2 = await runCli(['enqueue', data, '--out', path.join(dir, 'l2'), '--labels', wrong, '--model', spec], env);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(
      /30 of the first 40 labels name no class of the model \(e.g. "zebra"\); its classes are T-shirt\/top, Trouser/,
    );

    const few = path.join(dir, 'labels-few.csv');
    await fs.writeFile(
      few,
      [...keys.map((k, i) => `${k},${i === 3 ? 'zebra' : 'coat'}`), 'elsewhere/x.png,bag'].join('\n'),
    );
    const r3 = await runCli(['enqueue', data, '--out', path.join(dir, 'l3'), '--labels', few, '--model', spec], env);
    expect(r3.code).toBe(0);
    expect(r3.stderr).toMatch(
      /labels for 40 of 40 images; 1 name no class of the model \(e.g. "zebra"\): kept, counted neither right nor wrong; 1 label-file entries matched no image key/,
    );
  });

  it('--labels given a directory says what to give instead', async () => {
    const r = await runCli(
      ['enqueue', data, '--out', path.join(dir, 'ldir'), '--labels', data, '--model', spec],
      cliEnv(redis.url, 'tldir'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^overmap: --labels .* is a directory: give --labels folder/m);
  });

  it('a reused --out with other labels or batch size is refused, naming each difference', async () => {
    const out = path.join(dir, 'reused');
    const env = cliEnv(redis.url, 'treuse');
    expect((await runCli(['enqueue', data, '--out', out, '--batch-size', '8', '--model', spec], env)).code).toBe(0);
    const before = await fs.readFile(path.join(out, 'run.json'), 'utf8');
    const r = await runCli(
      ['enqueue', data, '--out', out, '--batch-size', '16', '--labels', 'folder', '--model', spec],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /already holds run .* with other parameters \(--labels null -> "folder"; --batch-size 8 -> 16\)/,
    );
    expect(await fs.readFile(path.join(out, 'run.json'), 'utf8')).toBe(before);
  });
});

describe('overmap status after Redis lost a run (standalone fleet)', () => {
  it('says so and names overmap retry (exit 4), with or without --watch; retry then finishes the run', async () => {
    const out = path.join(dir, 'redis-lost');
    const env = cliEnv(redis.url, 'tlost');
    const enq = await runCli(['enqueue', data, '--out', out, '--batch-size', '8', '--model', spec], env);
    expect(enq.code).toBe(0);
    // A Redis restarted without persistence: nothing of the run is left in it.
    const client = new Redis(redis.url);
    await client.flushall();
    await client.quit();
    for (const args of [
      ['status', out],
      ['status', out, '--watch'],
    ]) {
      const st = await runCli(args, env);
      expect(st.code).toBe(4);
      expect(st.stdout).toContain('Redis holds no state for run');
      expect(st.stdout).toContain(`overmap retry ${RunResults.open(out).uri}`);
    }
    const retry = await runCli(['retry', out], env);
    expect(retry.code).toBe(0);
    const w = await runCli(['worker', '--exit-when-idle', '--no-metrics'], env);
    expect(w.code).toBe(0);
    expectOneRecordPerKey((await readParts(out)).records, keys);
  });
});
