/**
 * `overmap worker`: BullMQ workers for the batch and finalize queues in one process.
 * Concurrency 2 (default) lets the next batch download while this one computes; compute
 * itself is serialised. SIGTERM/SIGINT: take no new job, let the current batches finish
 * within the grace period (a job of a group of batches hands the batches it has not started
 * back to the queue), exit 0. A process killed outright loses nothing: its job's
 * lock expires, BullMQ marks it stalled and another worker runs it.
 *
 * FleetWorker's lifecycle: start (backend, Redis and queues, metrics server, the BullMQ
 * workers, the idle watch, signals), then stop: drain (no new job; the active ones get the
 * grace period) and close (queues, metrics server, scorers, Redis).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
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
import { type BackendInfo, initBackend, sessionSettingsOf } from '@overmap/engine';
import { type Guard, compactShard, finalizeRun, groupRun } from './finalize-run';
import { type Metrics, createMetrics, serveMetrics } from './metrics';
import { OutageLog, isConnectionError } from './outage-log';
import { unsignedJobsWarning } from './job-guard';
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
  /** log the unsigned-jobs warning at start when there is no OVERMAP_JOB_SECRET (default true; `overmap run`
   *  says it once for all its workers) */
  announceUnsigned?: boolean;
}

export interface RunningWorker {
  /** resolves when the worker has stopped */
  done: Promise<void>;
  stop(reason: string): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const w = await FleetWorker.start(o);
  return { done: w.done, stop: (reason) => w.stop(reason) };
}

type MetricsServer = Awaited<ReturnType<typeof serveMetrics>>;

class FleetWorker {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly redis: Redis;
  private readonly batchQueue: Queue;
  private readonly finalizeQueue: Queue;
  private readonly metrics: Metrics;
  private readonly guard: Guard;
  private readonly contexts: RunContexts;
  private server: MetricsServer | null = null;
  private workers: Worker[] = [];
  /** taking jobs (readiness) */
  private accepting = true;
  /** a stop was asked for: a group hands its remaining batches back */
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private readonly outages = new OutageLog();

  private constructor(private readonly o: WorkerOptions) {
    const { config } = o;
    this.done = new Promise<void>((r) => {
      this.resolveDone = r;
    });
    this.redis = connectRedis(config.REDIS_URL);
    this.redis.on('error', (e) => this.outages.error('redis', e));
    this.redis.on('ready', () => this.outages.ready());
    const queueOptions = { connection: this.redis, prefix: config.OVERMAP_QUEUE_PREFIX };
    this.batchQueue = new Queue(BATCH_QUEUE, queueOptions);
    this.finalizeQueue = new Queue(FINALIZE_QUEUE, queueOptions);
    // A BullMQ Queue with no 'error' listener prints every reconnect error's stack to stderr.
    for (const q of [this.batchQueue, this.finalizeQueue]) q.on('error', (e) => this.outages.error('bullmq', e));
    this.metrics = createMetrics(() => this.batchQueue.getJobCounts('wait', 'active', 'delayed', 'failed'));
    this.guard = { secret: config.OVERMAP_JOB_SECRET, allowed: parseAllowedPrefixes(config.OVERMAP_ALLOWED_PREFIXES) };
    this.contexts = new RunContexts(o.scorerFactory, config.OVERMAP_SCORER_IDLE_SECONDS * 1000, this.guard);
  }

  static async start(o: WorkerOptions): Promise<FleetWorker> {
    const backend = await initBackend(o.config.OVERMAP_BACKEND, sessionSettingsOf(o.config));
    logBackends(o.config, backend);
    const w = new FleetWorker(o);
    await w.serveMetrics();
    w.consume();
    w.watchIdle();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void w.stop(sig));
    logStarted(o, w.metricsUrl());
    return w;
  }

  /** Takes no new job, lets the active ones finish within the grace period, then closes everything; once. */
  stop(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.accepting = false;
    this.stopRequested = true;
    logger.info({ reason, graceSeconds: this.o.config.OVERMAP_GRACE_SECONDS }, 'worker stopping');
    this.stopping = (async () => {
      clearInterval(this.idleTimer);
      await this.drain();
      await this.close();
      this.resolveDone();
    })();
    return this.stopping;
  }

  private get concurrency(): number {
    return this.o.concurrency ?? this.o.config.OVERMAP_WORKER_CONCURRENCY;
  }

  /** What a batch job needs: compute serialised across the jobs held, downloads bounded across them. */
  private batchDeps(): BatchDeps {
    const lock = pLimit(1);
    const downloads = pLimit(downloadSlots(this.o.config));
    return {
      contexts: this.contexts,
      redis: this.redis,
      finalizeQueue: this.finalizeQueue,
      config: this.o.config,
      metrics: this.metrics,
      computeLock: <T>(fn: () => Promise<T>) => lock(fn),
      downloads: <T>(fn: () => Promise<T>) => downloads(fn),
      stopping: () => this.stopRequested,
      decode: this.o.decode,
    };
  }

  /**
   * /metrics, /healthz and /readyz, unless the port is null. Readiness: taking jobs and Redis
   * answers within a second (the BullMQ connection retries forever, so a bare ping would hang
   * the probe while Redis is down).
   */
  private async serveMetrics(): Promise<void> {
    const { config, metricsPort } = this.o;
    if (metricsPort === null) return;
    const pingWithin = (ms: number) =>
      Promise.race([this.redis.ping().then((r) => r === 'PONG'), sleep(ms, false, { ref: false })]);
    try {
      this.server = await serveMetrics(
        this.metrics,
        metricsPort ?? config.METRICS_PORT,
        config.METRICS_HOST,
        async () => this.accepting && this.redis.status === 'ready' && pingWithin(1000),
      );
    } catch (e) {
      // Before any job is taken: a port in use is one line, not a half-started worker.
      await Promise.all([this.batchQueue.close(), this.finalizeQueue.close()]).catch(() => undefined);
      this.redis.disconnect();
      throw e;
    }
  }

  private metricsUrl(): string | null {
    const { config } = this.o;
    return this.server
      ? `http://${config.METRICS_HOST}:${(this.server.address() as { port: number }).port}/metrics`
      : null;
  }

  /** The BullMQ workers: batches at `concurrency`, compactions and finalizations one at a time. */
  private consume(): void {
    const { config, toolVersion } = this.o;
    const lockMs = config.OVERMAP_LOCK_SECONDS * 1000;
    const common = {
      connection: this.redis,
      prefix: config.OVERMAP_QUEUE_PREFIX,
      lockDuration: lockMs,
      stalledInterval: Math.max(1000, lockMs / 2),
      maxStalledCount: 2,
    };
    const deps = this.batchDeps();
    const batchWorker = new Worker(BATCH_QUEUE, (job, token) => processBatch(job, deps, token), {
      ...common,
      concurrency: this.concurrency,
    });
    const { redis, finalizeQueue, guard, metrics } = this;
    const finalizeWorker = new Worker(
      FINALIZE_QUEUE,
      (job) =>
        job.name === JobName.Compact
          ? compactShard(job, { redis, finalizeQueue }, guard)
          : job.name === JobName.Group
            ? groupRun(job, { finalizeQueue }, guard)
            : finalizeRun(job, toolVersion, guard),
      { ...common, concurrency: 1 },
    );
    batchWorker.on('completed', () => metrics.batches.inc({ outcome: 'completed' }));
    batchWorker.on('failed', (job, err) => {
      metrics.batches.inc({ outcome: 'failed' });
      logger.error({ job: job?.id, attempts: job?.attemptsMade, err: err.message }, 'batch failed');
    });
    finalizeWorker.on('failed', (job, err) => logger.error({ job: job?.id, err: err.message }, 'finalize failed'));
    for (const w of [batchWorker, finalizeWorker])
      w.on('error', (e) =>
        isConnectionError(e) ? this.outages.error('bullmq', e) : logger.warn({ err: e.message }, 'worker error'),
      );
    this.workers = [batchWorker, finalizeWorker];
  }

  /** --exit-when-idle: stops once both queues have had nothing to do for `idleSeconds`. */
  private watchIdle(): void {
    this.idleTimer = setInterval(() => {
      if (!this.o.exitWhenIdle) return;
      void (async () => {
        const [b, f] = await Promise.all([
          this.batchQueue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children'),
          this.finalizeQueue.getJobCounts('wait', 'active', 'delayed'),
        ]);
        const busy = Object.values(b).reduce((a, n) => a + n, 0) + Object.values(f).reduce((a, n) => a + n, 0);
        if (busy > 0) {
          this.idleSince = 0;
          return;
        }
        if (!this.idleSince) this.idleSince = Date.now();
        if (Date.now() - this.idleSince >= (this.o.idleSeconds ?? 3) * 1000) await this.stop('queues idle');
      })().catch(() => undefined);
    }, 500);
  }

  /** close() waits for active jobs without a limit: bounded here by the grace period. */
  private async drain(): Promise<void> {
    const closing = Promise.all(this.workers.map((w) => w.close()));
    const timedOut = await Promise.race([
      closing.then(() => false),
      sleep(this.o.config.OVERMAP_GRACE_SECONDS * 1000, true, { ref: false }),
    ]);
    if (timedOut) {
      logger.warn('grace period over: leaving the active batch to stall and be retried by another worker');
      await Promise.all(this.workers.map((w) => w.close(true))).catch(() => undefined);
    }
  }

  private async close(): Promise<void> {
    await Promise.all([this.batchQueue.close(), this.finalizeQueue.close()]).catch(() => undefined);
    this.server?.close();
    this.contexts.dispose();
    this.redis.disconnect();
  }
}

// Start-up logging, all of it here: the backends once chosen, then the worker's settings once it takes jobs.

function logBackends(config: Config, backend: BackendInfo): void {
  logger.info(
    {
      backend: backend.name,
      package: backend.package,
      onnx: backend.onnx ? { threads: config.OVERMAP_ONNX_THREADS, providers: config.OVERMAP_ONNX_PROVIDERS } : false,
    },
    'backends (TensorFlow.js; ONNX Runtime for ONNX specs and, where onnx is set, the bundled model)',
  );
}

function logStarted(o: WorkerOptions, metricsUrl: string | null): void {
  if (!o.config.OVERMAP_JOB_SECRET && o.announceUnsigned !== false)
    logger.warn(unsignedJobsWarning(parseAllowedPrefixes(o.config.OVERMAP_ALLOWED_PREFIXES)));
  logger.info(
    {
      queue: BATCH_QUEUE,
      prefix: o.config.OVERMAP_QUEUE_PREFIX,
      concurrency: o.concurrency ?? o.config.OVERMAP_WORKER_CONCURRENCY,
      metrics: metricsUrl,
    },
    'worker started',
  );
}
