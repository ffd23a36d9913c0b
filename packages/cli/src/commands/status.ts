/** `overmap status <run-id-or-results-uri> [--watch]`: a run's progress, once or until it has finished or is stuck. */
import type { Redis } from 'ioredis';
import { FAILURES_JSONL, RunResults } from '@overmap/shared';
import { configAndRedis } from './common';
import { createBar } from './progress-line';
import { type RunStatus, readStatus, runVerdict } from './run-status';
import { RateMeter, imagesDone, statusLine } from './status-line';

type Reading = { st: RunStatus; rate: number };

/** A progress bar, refreshed every second while the run is running; returns the last reading. */
async function watch(first: Reading, read: () => Promise<Reading>): Promise<Reading> {
  let { st, rate } = first;
  const bar = createBar();
  bar.start(st.totalBatches ?? 0, st.doneBatches, {
    images: imagesDone(st),
    rate: '0',
    etaText: '–',
    failures: '',
  });
  while (runVerdict(st).state === 'running') {
    await new Promise((r) => setTimeout(r, 1000));
    ({ st, rate } = await read());
    bar.setTotal(st.totalBatches ?? 0);
    bar.update(st.doneBatches, {
      images: imagesDone(st),
      rate: rate.toFixed(1),
      etaText: statusLine(st, rate).match(/ETA (\S+)/)?.[1] ?? '–',
      failures: `${st.failed.length} failed`,
    });
  }
  bar.stop();
  return { st, rate };
}

async function printStatus(redis: Redis, target: string, prefix: string, watching: boolean): Promise<void> {
  const meter = new RateMeter();
  const read = async () => {
    const st = await readStatus(redis, target, prefix);
    return { st, rate: meter.add(imagesDone(st)) };
  };
  let { st, rate } = await read();
  if (watching) ({ st, rate } = await watch({ st, rate }, read));
  if (st.failed.length && st.results) await RunResults.open(st.results).writeFailures(st.failed);
  process.stdout.write(`${statusLine(st, rate)}\n`);
  for (const x of st.failed.slice(0, 10))
    process.stdout.write(`  batch ${x.batch} failed after ${x.attempts} attempt(s): ${x.error}\n`);
  if (st.failed.length > 10)
    process.stdout.write(
      `  … ${st.failed.length - 10} more in ${RunResults.open(st.results!).uriOf(FAILURES_JSONL)}\n`,
    );
  if (runVerdict(st).state === 'stuck') process.exitCode = 4;
}

export async function statusCommand(target: string, f: { watch?: boolean }): Promise<void> {
  const { config, redis } = await configAndRedis();
  try {
    await printStatus(redis, target, config.OVERMAP_QUEUE_PREFIX, !!f.watch);
  } finally {
    redis.disconnect();
  }
}
