/**
 * A worker without OVERMAP_JOB_SECRET says at start, in its log, what unsigned jobs permit and
 * when that is fine; with the secret (or told not to: overmap run says it once for its workers)
 * it does not. Real worker processes against a real Redis, their JSON log read from stderr.
 */
import { spawn } from 'node:child_process';
import { CLI, cliEnv } from '../helpers/fleet';
import { testRedis } from '../helpers/services';

let url: string;
beforeAll(async () => {
  url = (await testRedis()).url;
});
afterAll(async () => {
  await (await testRedis()).stop();
});

const UNSIGNED =
  'jobs are unsigned (OVERMAP_JOB_SECRET is not set): any client that can write to this Redis can make this worker read any dataset and write any results location its credentials reach';
const FINE =
  '; fine on one machine with a private Redis, otherwise give the producer and every worker the same OVERMAP_JOB_SECRET';

interface LogLine {
  level: number;
  msg: string;
}

/** A worker run until its queues have been idle for a moment: its log lines, in order. */
function workerLog(env: Record<string, string | undefined>, args: string[] = []): Promise<LogLine[]> {
  const {
    OVERMAP_JOB_SECRET: _s,
    OVERMAP_ALLOWED_PREFIXES: _a,
    ...inherited
  } = cliEnv(url, `tunsigned${Date.now().toString(36)}`, { LOG_LEVEL: 'info' });
  const child = spawn(process.execPath, [CLI, 'worker', '--no-metrics', '--exit-when-idle', ...args], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`worker exited with ${code}: ${err}`));
      resolve(
        err
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as LogLine),
      );
    });
  });
}

const messages = (log: LogLine[]) => log.map((l) => l.msg);

describe('a worker without OVERMAP_JOB_SECRET', () => {
  it('logs one warning at start: what any client of its Redis may make it do, and when that is fine', async () => {
    const log = await workerLog({});
    const warnings = log.filter((l) => l.msg.startsWith('jobs are unsigned'));
    expect(warnings).toEqual([expect.objectContaining({ level: 40, msg: UNSIGNED + FINE })]);
    expect(messages(log).indexOf(UNSIGNED + FINE)).toBeLessThan(messages(log).indexOf('worker started'));
  });

  it('names the bound OVERMAP_ALLOWED_PREFIXES sets', async () => {
    const log = await workerLog({ OVERMAP_ALLOWED_PREFIXES: 's3://data-bucket/images/,/srv/results' });
    expect(messages(log)).toContain(
      `${UNSIGNED} within OVERMAP_ALLOWED_PREFIXES (s3://data-bucket/images/, file:///srv/results/)${FINE}`,
    );
  });

  it('says nothing of the kind with the secret, or with --no-unsigned-warning', async () => {
    for (const log of [
      await workerLog({ OVERMAP_JOB_SECRET: 'correct-horse-battery-staple-42' }),
      await workerLog({}, ['--no-unsigned-warning']),
    ]) {
      expect(messages(log)).toContain('worker started');
      expect(messages(log).filter((m) => m.includes('unsigned'))).toEqual([]);
    }
  });
});
