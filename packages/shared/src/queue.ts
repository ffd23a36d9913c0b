/**
 * The job catalogue: queue and job names, deterministic job ids and the Redis keys the
 * fleet uses, in one place (KEDA's trigger and the deploy checks read them from here).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { configValue } from './config';
import { ServiceError } from './errors';

export const QUEUE_PREFIX = configValue('OVERMAP_QUEUE_PREFIX');
export const BATCH_QUEUE = 'overmap-batches';
export const FINALIZE_QUEUE = 'overmap-finalize';

export const JobName = { Batch: 'score-batch', Finalize: 'finalize-run' } as const;

/** Retry and retention of each job kind (BullMQ JobsOptions), in one place. */
export const JOB_OPTIONS = {
  /** transient failures (S3, Redis) retried with backoff; completed jobs kept a day, failed ones a week */
  batch: { attempts: 5, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } },
  finalize: { attempts: 8, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } },
} as const;

/** `<run>-<instance>-b000042`: no ':' and never an integer, as BullMQ requires of custom ids. */
export const batchJobId = (runId: string, instance: string, batch: number) => `${runId}-${instance}-b${String(batch).padStart(6, '0')}`;
export const finalizeJobId = (runId: string, instance: string) => `${runId}-${instance}-finalize`;
/** The Redis list of waiting jobs: what KEDA's redis scaler measures. */
export const waitListKey = (queue = BATCH_QUEUE, prefix = QUEUE_PREFIX) => `${prefix}:${queue}:wait`;

/** Per-run-instance state outside BullMQ (BullMQ ids dedupe only while a job exists). */
export const runKeys = (runId: string, instance: string) => ({
  /** hash: total (batches, once listing ended), images, listed, cursor, results, started */
  state: `overmap:run:${runId}:${instance}:state`,
  /** set of completed batch indices: SADD is idempotent, so a retried batch counts once */
  done: `overmap:run:${runId}:${instance}:done`,
  /** hash: status -> image count */
  statuses: `overmap:run:${runId}:${instance}:statuses`,
});
/** The run's current instance, so that `overmap status <run-id>` finds it. */
export const runInstanceKey = (runId: string) => `overmap:run:${runId}:instance`;

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

/** Fails fast, in one line, when Redis does not answer. */
export async function checkRedis(url = redisUrl(), timeoutMs = 3000): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null, lazyConnect: true });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    throw new ServiceError(`cannot reach Redis at ${url} (${(e as Error).message}): start one (redis-server) or set REDIS_URL`, { cause: e });
  } finally {
    r.disconnect();
  }
}
