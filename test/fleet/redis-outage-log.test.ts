/**
 * A Redis outage in a worker's log: one line when it starts and one when it ends, not one per
 * reconnect attempt (the outage logger counts the rest); and the rule itself on an error stream.
 */
import { OutageLog, isConnectionError } from '@overmap/worker/testing';
import { spawn } from 'node:child_process';
import { CLI, cliEnv } from '../helpers/fleet';
import { spawnRedis, waitFor } from '../helpers/services';

describe('OutageLog', () => {
  it('logs the first error of an outage and its end, counting the errors between', () => {
    const lines: { level: string; o: Record<string, unknown>; msg: string }[] = [];
    const log = new OutageLog({
      warn: (o, msg) => lines.push({ level: 'warn', o: o as Record<string, unknown>, msg }),
      info: (o, msg) => lines.push({ level: 'info', o: o as Record<string, unknown>, msg }),
    });
    log.ready(); // no outage: nothing
    for (let i = 0; i < 20; i++) log.error('redis', new Error('connect ECONNREFUSED 127.0.0.1:1'));
    log.ready();
    log.error('bullmq', new Error('Connection is closed.'));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'redis unreachable: retrying (one line when it is back)'],
      ['info', 'redis reachable again'],
      ['warn', 'redis unreachable: retrying (one line when it is back)'],
    ]);
    expect(lines[1]!.o.errors).toBe(20);
    expect(isConnectionError(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(true);
    expect(isConnectionError(new Error('Missing lock for job 7'))).toBe(false);
  });
});

describe('a worker during a Redis outage', () => {
  it('writes one line when Redis goes and one when it is back', async () => {
    const own = await spawnRedis();
    const w = spawn(process.execPath, [CLI, 'worker', '--no-metrics'], {
      env: cliEnv(own.url, 'toutage', { LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    try {
      w.stdout.on('data', (d: Buffer) => (out += d.toString()));
      w.stderr.on('data', (d: Buffer) => (out += d.toString()));
      // waits for the start line, or for the worker to have exited (then says why, with its output)
      await waitFor(async () => out.includes('worker started') || w.exitCode !== null, 'worker started', 120_000, 50);
      if (!out.includes('worker started'))
        throw new Error(`the worker exited (${w.exitCode}) before it started:\n${out}`);
      await own.downFor(3000);
      await waitFor(async () => out.includes('redis reachable again'), 'the end of the outage logged', 120_000, 50);
      const lines = out.split('\n').filter((l) => /redis|ECONN/i.test(l) && !l.includes('worker started'));
      expect(lines.filter((l) => l.includes('redis unreachable'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('redis reachable again'))).toHaveLength(1);
      expect(lines.filter((l) => l.includes('ECONNREFUSED') && !l.includes('redis unreachable'))).toEqual([]);
    } finally {
      // this test is about the log, not the shutdown (fleet tests cover SIGTERM): SIGKILL ends it at once
      if (w.exitCode === null && w.signalCode === null) {
        const exited = new Promise((r) => w.once('exit', r));
        w.kill('SIGKILL');
        await exited;
      }
      await own.stop();
    }
  }, 300_000);
});
