/**
 * Real services for tests: Redis (the one at REDIS_URL, or a spawned redis-server) and a
 * real S3 API server (s3rver) in its own process on loopback.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';

export const ROOT = path.resolve(__dirname, '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function tmpDir(prefix = 'overmap-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** killed, then started again after `ms` (an outage) */
  downFor(ms: number): Promise<void>;
}

/** A redis-server of the test's own (AOF on, so that a restart keeps the queue). */
export async function spawnRedis(opts: { appendonly?: boolean; password?: string } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = await tmpDir('overmap-redis-');
  let proc: ChildProcess;
  const start = async () => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        opts.appendonly ? 'yes' : 'no',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        ...(opts.password ? ['--requirepass', opts.password] : []),
      ],
      { stdio: 'ignore' },
    );
    await waitFor(async () => {
      const r = new Redis({
        port,
        password: opts.password,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    }, `redis-server on ${port}`);
  };
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}`,
    port,
    dir,
    stop: async () => {
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      await start();
    },
    downFor: async (ms: number) => {
      await stop();
      await new Promise((r) => setTimeout(r, ms));
      await start();
    },
  };
}

/** REDIS_URL if it answers (the test scripts set it), else a spawned redis-server. */
let shared: Promise<{ url: string; stop(): Promise<void> }> | undefined;
export function testRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  shared ??= (async () => {
    const url = process.env.REDIS_URL;
    if (url) {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        await r.connect();
        if ((await r.ping()) === 'PONG') return { url, stop: async () => undefined };
      } catch {
        /* fall through */
      } finally {
        r.disconnect();
      }
    }
    return spawnRedis();
  })();
  return shared;
}

export interface S3Server {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<S3Server> {
  const dir = await tmpDir('overmap-s3-');
  const proc = spawn(
    process.execPath,
    ['--openssl-legacy-provider', path.join(__dirname, 's3rver-process.js'), dir, ...buckets],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /\{"port":(\d+)\}/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
