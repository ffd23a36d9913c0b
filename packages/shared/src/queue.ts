/**
 * The job catalogue: queue and job names, deterministic job ids and the Redis keys the
 * fleet uses, in one place (KEDA's trigger and the deploy checks read them from here).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Queue } from 'bullmq';
import { CONFIG_DEFAULTS, configValue } from './config';
import { ServiceError } from './errors';
import { sign } from './job-signing';
import type { RunRef } from './run-ref';
import type { BatchJob } from './schemas';

export const BATCH_QUEUE = 'overmap-batches';
export const FINALIZE_QUEUE = 'overmap-finalize';

export const JobName = {
  Batch: 'score-batch',
  Group: 'group-run',
  Compact: 'compact-shard',
  Finalize: 'finalize-run',
} as const;

/** Retry and retention of each job kind (BullMQ JobsOptions), in one place. */
export const JOB_OPTIONS = {
  /** transient failures (S3, Redis) retried with backoff; completed jobs kept a day, failed ones a week */
  batch: {
    attempts: 5,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  },
  compact: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  },
  finalize: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  },
} as const;

/**
 * `<run>-<instance>-b000042`: no ':' and never an integer, as BullMQ requires of custom ids.
 * A job of a group of batches is named after its first batch.
 */
export const batchJobId = (runId: string, instance: string, batch: number) =>
  `${runId}-${instance}-b${String(batch).padStart(6, '0')}`;

/** Whole batches per job for a target of images per job (OVERMAP_JOB_IMAGES): at least one. */
export const jobBatchesFor = (batchSize: number, jobImages: number) => Math.max(1, Math.floor(jobImages / batchSize));

/**
 * How a run's batches map onto jobs (run.json params): the first `ungrouped` batches get a job
 * each, so a small run has enough jobs to spread over every worker; after them, aligned groups
 * of `jobBatches` ([u + g·n, u + (g+1)·n), the last one cut at the run's total), which is what
 * keeps Redis at a byte or two per queued image on large runs. The producer, a resumed listing
 * and recovery all name the same jobs from this one rule.
 */
export interface JobGrouping {
  jobBatches: number;
  ungroupedBatches: number;
}

/** The first batch of the job that holds batch `b`. */
export function groupStart(b: number, g: JobGrouping): number {
  if (g.jobBatches <= 1 || b < g.ungroupedBatches) return b;
  return g.ungroupedBatches + Math.floor((b - g.ungroupedBatches) / g.jobBatches) * g.jobBatches;
}

/** Every job of a run of `batches` batches, in order: its first batch and how many it holds. */
export function* jobGroups(batches: number, g: JobGrouping): Generator<{ first: number; count: number }> {
  for (let first = 0; first < batches;) {
    const size = g.jobBatches <= 1 || first < g.ungroupedBatches ? 1 : g.jobBatches;
    const count = Math.min(size, batches - first);
    yield { first, count };
    first += count;
  }
}

/** The number of jobs for `batches` batches. */
export function jobCount(batches: number, g: JobGrouping): number {
  const single = Math.min(batches, g.jobBatches <= 1 ? batches : g.ungroupedBatches);
  return single + Math.ceil((batches - single) / Math.max(1, g.jobBatches));
}

/** The batch job of the group that starts at `first` (jobGroups), `count` batches long. */
export function batchGroupJob(
  run: RunRef,
  first: number,
  count: number,
  secret: string | undefined,
): { name: string; data: BatchJob; opts: { jobId: string } & typeof JOB_OPTIONS.batch } {
  return {
    name: JobName.Batch,
    data: sign({ runId: run.runId, instance: run.instance, results: run.results, batch: first, count }, secret),
    opts: { jobId: batchJobId(run.runId, run.instance, first), ...JOB_OPTIONS.batch },
  };
}
export const finalizeJobId = (runId: string, instance: string) => `${runId}-${instance}-finalize`;
export const groupJobId = (runId: string, instance: string) => `${runId}-${instance}-group`;
export const compactJobId = (runId: string, instance: string, shard: number) =>
  `${runId}-${instance}-s${String(shard).padStart(5, '0')}`;
/** The Redis list of waiting jobs: what KEDA's redis scaler measures. */
/** BullMQ's list of waiting jobs (KEDA's trigger reads its length); `prefix` is OVERMAP_QUEUE_PREFIX. */
/** The prefix (OVERMAP_QUEUE_PREFIX) a queue was opened with: the run keys of its runs live under it too. */
export const queuePrefixOf = (q: Queue): string => q.opts.prefix ?? CONFIG_DEFAULTS.OVERMAP_QUEUE_PREFIX;

export const waitListKey = (queue: string, prefix: string) => `${prefix}:${queue}:wait`;

/** Per-run-instance state outside BullMQ (BullMQ ids dedupe only while a job exists). */
/** A run's Redis keys, under the fleet's OVERMAP_QUEUE_PREFIX (two fleets on one Redis never share them). */
export const runKeys = (prefix: string, runId: string, instance: string) => ({
  /** hash: total (batches, once listing ended), images, listed, cursor, results, started */
  state: `${prefix}:overmap:run:${runId}:${instance}:state`,
  /** set of completed batch indices: SADD is idempotent, so a retried batch counts once */
  done: `${prefix}:overmap:run:${runId}:${instance}:done`,
  /** hash: status -> image count */
  statuses: `${prefix}:overmap:run:${runId}:${instance}:statuses`,
  /** set of compacted shards */
  shardsDone: `${prefix}:overmap:run:${runId}:${instance}:shards`,
});
/** The run's current instance, so that `overmap status <run-id>` finds it. */
export const runInstanceKey = (prefix: string, runId: string) => `${prefix}:overmap:run:${runId}:instance`;

export function redisOptions(): RedisOptions {
  // BullMQ workers need maxRetriesPerRequest: null (blocking commands must not time out).
  return { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false };
}

export function redisUrl(): string {
  return configValue('REDIS_URL');
}

export function connectRedis(url = redisUrl()): Redis {
  return new Redis(url, redisOptions());
}

/** A Redis URL fit for messages and logs: any password replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** What went wrong talking to Redis, told apart: authentication, TLS, or reaching it at all. */
export function describeRedisError(url: string, e: Error): string {
  const at = redactUrl(url);
  const msg = e.message ?? String(e);
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(msg)) {
    return `Redis at ${at} refused the credentials (${msg.split('\n')[0]!.replace(/\s+/g, ' ').slice(0, 80)}): check the password in REDIS_URL (redis://:password@host:port)`;
  }
  if (/CERT|SSL|TLS|certificate|wrong version number/i.test(`${code} ${msg}`)) {
    return `TLS to Redis at ${at} failed (${code || msg}): use rediss:// only for a TLS port, and give the server's CA (NODE_EXTRA_CA_CERTS=/path/ca.pem) if it is not publicly trusted`;
  }
  if (at.startsWith('rediss://') && /ETIMEDOUT|timeout/i.test(`${code} ${msg}`)) {
    return `TLS to Redis at ${at} failed (no TLS handshake within the timeout): is it a TLS port? For a plain one use redis://`;
  }
  if (/ECONNRESET|Connection is closed|socket closed/i.test(`${code} ${msg}`) && at.startsWith('redis://')) {
    return `Redis at ${at} closed the connection: if it is a TLS port, use rediss://; else check that it is a Redis server`;
  }
  return `cannot reach Redis at ${at} (${code || msg}): start one (redis-server) or set REDIS_URL`;
}

/** Fails fast, in one line, when Redis does not answer, saying why. */
export async function checkRedis(url = redisUrl(), timeoutMs = 3000): Promise<void> {
  const r = new Redis(url, {
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  let last: Error | undefined;
  r.on('error', (e: Error) => {
    last = e;
  });
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    // ioredis reports a failed TLS handshake as a closed connection: the socket's own error says more.
    const cause = last && !/Connection is closed/i.test(last.message) ? last : (e as Error);
    throw new ServiceError(describeRedisError(url, cause), { cause });
  } finally {
    r.disconnect();
  }
}
