/**
 * `overmap run [dataset-uri]`: the local all-in-one: enqueue, start N worker processes
 * (supervise-run.ts), wait, print a summary, and write the report where asked.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { RunResults, loadConfig, logger, parseAllowedPrefixes } from '@overmap/shared';
import { unsignedJobsWarning } from '@overmap/worker';
import { configAndRedis } from './common';
import { type EnqueueFlags, enqueue } from './enqueue';
import { reportCommand } from './report';
import { formatSummary } from './summary';
import { superviseRun } from './supervise-run';

export type RunFlags = EnqueueFlags & { workers?: number; report?: boolean };

export async function runCommand(dataset: string | undefined, f: RunFlags): Promise<void> {
  loadConfig(); // a bad environment fails here, before anything is enqueued
  const results = RunResults.open(f.out, { secret: loadConfig().OVERMAP_JOB_SECRET });
  const t0 = Date.now();
  const enq = await enqueue(dataset, f);
  const n = f.workers ?? Math.max(1, os.availableParallelism());
  // ONNX Runtime threads and libuv's pool (where sharp decodes; ORT runs on the main thread) per worker: the
  // cores shared out, so that one worker per core uses one core (1 with the default); set
  // OVERMAP_ONNX_THREADS or UV_THREADPOOL_SIZE to choose. On camera-size JPEGs, 2 workers on 2
  // cores with libuv's default 4 threads each were 0-7% faster and took ~100 MiB more per worker
  // (more 12 MP images decoded at once): BENCHMARKS.md, bench:photos.
  const share = String(Math.max(1, Math.floor(os.availableParallelism() / n)));
  const onnxThreads = process.env.OVERMAP_ONNX_THREADS || share;
  const uvThreads = process.env.UV_THREADPOOL_SIZE || share;
  process.stderr.write(`run ${enq.runId}: ${n} worker processes scoring ${enq.images} images\n`);
  const { config, redis } = await configAndRedis();
  // Once for the run, not once per worker process (they are started with --no-unsigned-warning).
  if (!config.OVERMAP_JOB_SECRET)
    logger.warn(unsignedJobsWarning(parseAllowedPrefixes(config.OVERMAP_ALLOWED_PREFIXES)));
  try {
    const manifest = await superviseRun({
      bin: path.resolve(__dirname, '../../bin/overmap.js'),
      workers: n,
      results,
      redis,
      prefix: config.OVERMAP_QUEUE_PREFIX,
      secret: config.OVERMAP_JOB_SECRET,
      env: {
        ...process.env,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        OVERMAP_ONNX_THREADS: onnxThreads,
        UV_THREADPOOL_SIZE: uvThreads,
      },
    });
    process.stdout.write(
      `${formatSummary(manifest, results)}\n  time: ${((Date.now() - t0) / 1000).toFixed(1)} s with ${n} workers\n`,
    );
    process.stdout.write(
      f.report
        ? `${await reportCommand(f.out, {})}\n`
        : `  report:   overmap report ${f.out}  (writes ${results.uriOf('report/index.html')})\n`,
    );
  } finally {
    redis.disconnect();
  }
}
