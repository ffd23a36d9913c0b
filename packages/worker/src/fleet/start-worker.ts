/**
 * `overmap worker`: BullMQ workers for the batch and finalize queues in one process.
 * Concurrency 2 (default) lets the next batch download while this one computes; compute
 * itself is serialised. SIGTERM/SIGINT: take no new job, let the current batches finish
 * within the grace period (a job of a group of batches hands the batches it has not started
 * back to the queue), exit 0. A process killed outright loses nothing: its job's
 * lock expires, BullMQ marks it stalled and another worker runs it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import pLimit from 'p-limit';
import {
  BATCH_QUEUE,
  type Config,
  FINALIZE_QUEUE,
  JobName,
  connectRedis,
  logger,
  parseAllowedPrefixes,
} from '@overmap/shared';
import { initBackend } from '@overmap/engine';
import { compactShard, finalizeRun } from './finalize-run';
import { createMetrics, serveMetrics } from './metrics';
import { type BatchDeps, downloadSlots, processBatch } from './process-batch';
import { RunContexts, type ScorerFactory } from './run-context';

export interface WorkerOptions {
  config: Config;
  concurrency?: number;
  exitWhenIdle?: boolean;
  /** seconds the queues must stay empty before --exit-when-idle exits */
  idleSeconds?: number;
  scorerFactory?: ScorerFactory;
  toolVersion: string;
  /** listen for metrics (0 = pick a free port; null = none) */
  metricsPort?: number | null;
  /** the image decoder; default the engine's (sharp) */
  decode?: BatchDeps['decode'];
}

export interface RunningWorker {
  /** resolves when the worker has stopped */
  done: Promise<void>;
  stop(reason: string): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const { config } = o;
  const prefix = config.OVERMAP_QUEUE_PREFIX;
  const backend = await initBackend(config.OVERMAP_BACKEND);
  logger.info(
    {
      backend: backend.name,
      package: backend.package,
      onnx: backend.onnx ? { threads: config.OVERMAP_ONNX_THREADS, providers: config.OVERMAP_ONNX_PROVIDERS } : false,
    },
    'backends (TensorFlow.js; ONNX Runtime for ONNX specs and, where onnx is set, the bundled model)',
  );

  const redis = connectRedis(config.REDIS_URL);
  redis.on('error', (e) => logger.warn({ err: e.message }, 'redis connection error'));
  const batchQueue = new Queue(BATCH_QUEUE, { connection: redis, prefix });
  const finalizeQueue = new Queue(FINALIZE_QUEUE, { connection: redis, prefix });
  const metrics = createMetrics(() => batchQueue.getJobCounts('wait', 'active', 'delayed', 'failed'));
  const guard = { secret: config.OVERMAP_JOB_SECRET, allowed: parseAllowedPrefixes(config.OVERMAP_ALLOWED_PREFIXES) };
  const contexts = new RunContexts(o.scorerFactory, config.OVERMAP_SCORER_IDLE_SECONDS * 1000, guard);
  const lock = pLimit(1);
  const downloads = pLimit(downloadSlots(config));
  let stopRequested = false;
  const deps = {
    contexts,
    redis,
    finalizeQueue,
    config,
    metrics,
    computeLock: <T>(fn: () => Promise<T>) => lock(fn),
    downloads: <T>(fn: () => Promise<T>) => downloads(fn),
    stopping: () => stopRequested,
    decode: o.decode,
  };

  let accepting = true;
  // Readiness: taking jobs and Redis answers within a second (the BullMQ connection retries
  // forever, so a bare ping would hang the probe while Redis is down).
  const pingWithin = (ms: number) =>
    Promise.race([redis.ping().then((r) => r === 'PONG'), sleep(ms, false, { ref: false })]);
  let server: Awaited<ReturnType<typeof serveMetrics>> | null = null;
  try {
    server =
      o.metricsPort === null
        ? null
        : await serveMetrics(
            metrics,
            o.metricsPort ?? config.METRICS_PORT,
            config.METRICS_HOST,
            async () => accepting && redis.status === 'ready' && pingWithin(1000),
          );
  } catch (e) {
    // Before any job is taken: a port in use is one line, not a half-started worker.
    await Promise.all([batchQueue.close(), finalizeQueue.close()]).catch(() => undefined);
    redis.disconnect();
    throw e;
  }

  const lockMs = config.OVERMAP_LOCK_SECONDS * 1000;
  const common = {
    connection: redis,
    prefix,
    lockDuration: lockMs,
    stalledInterval: Math.max(1000, lockMs / 2),
    maxStalledCount: 2,
  };
  const batchWorker = new Worker(BATCH_QUEUE, (job, token) => processBatch(job, deps, token), {
    ...common,
    concurrency: o.concurrency ?? config.OVERMAP_WORKER_CONCURRENCY,
  });
  const finalizeWorker = new Worker(
    FINALIZE_QUEUE,
    (job) =>
      job.name === JobName.Compact
        ? compactShard(job, { redis, finalizeQueue }, guard)
        : finalizeRun(job, o.toolVersion, guard),
    { ...common, concurrency: 1 },
  );
  batchWorker.on('completed', () => metrics.batches.inc({ outcome: 'completed' }));
  batchWorker.on('failed', (job, err) => {
    metrics.batches.inc({ outcome: 'failed' });
    logger.error({ job: job?.id, attempts: job?.attemptsMade, err: err.message }, 'batch failed');
  });
  finalizeWorker.on('failed', (job, err) => logger.error({ job: job?.id, err: err.message }, 'finalize failed'));
  for (const w of [batchWorker, finalizeWorker]) w.on('error', (e) => logger.warn({ err: e.message }, 'worker error'));

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    if (stopping) return stopping;
    accepting = false;
    stopRequested = true;
    logger.info({ reason, graceSeconds: config.OVERMAP_GRACE_SECONDS }, 'worker stopping');
    stopping = (async () => {
      clearInterval(idleTimer);
      // close() waits for active jobs without a limit: bound it by the grace period.
      const closing = Promise.all([batchWorker.close(), finalizeWorker.close()]);
      const timedOut = await Promise.race([
        closing.then(() => false),
        sleep(config.OVERMAP_GRACE_SECONDS * 1000, true, { ref: false }),
      ]);
      if (timedOut) {
        logger.warn('grace period over: leaving the active batch to stall and be retried by another worker');
        await Promise.all([batchWorker.close(true), finalizeWorker.close(true)]).catch(() => undefined);
      }
      await Promise.all([batchQueue.close(), finalizeQueue.close()]).catch(() => undefined);
      server?.close();
      contexts.dispose();
      redis.disconnect();
      resolveDone();
    })();
    return stopping;
  };

  let idleSince = 0;
  const idleTimer = setInterval(() => {
    if (!o.exitWhenIdle) return;
    void (async () => {
      const [b, f] = await Promise.all([
        batchQueue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children'),
        finalizeQueue.getJobCounts('wait', 'active', 'delayed'),
      ]);
      const busy = Object.values(b).reduce((a, n) => a + n, 0) + Object.values(f).reduce((a, n) => a + n, 0);
      if (busy > 0) {
        idleSince = 0;
        return;
      }
      if (!idleSince) idleSince = Date.now();
      if (Date.now() - idleSince >= (o.idleSeconds ?? 3) * 1000) await stop('queues idle');
    })().catch(() => undefined);
  }, 500);

  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void stop(sig));
  logger.info(
    {
      queue: BATCH_QUEUE,
      prefix,
      concurrency: o.concurrency ?? config.OVERMAP_WORKER_CONCURRENCY,
      metrics: server ? `http://${config.METRICS_HOST}:${(server.address() as { port: number }).port}/metrics` : null,
    },
    'worker started',
  );
  return { done, stop };
}
