/**
 * Progress of a run, told honestly: batches done (Redis, or the manifest once finished) and
 * failed for good (with their errors), the queue's waiting/active jobs, the workers
 * connected to the queue, and whether the run can still finish.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BATCH_QUEUE,
  FINALIZE_QUEUE,
  failedFinalSteps,
  InputError,
  type Manifest,
  type RunJson,
  RunResults,
  queuePrefixOf,
  batchJobId,
  runInstanceKey,
  runKeys,
} from '@overmap/shared';

export interface FailedBatch {
  batch: number;
  error: string;
  attempts: number;
  failed_at: string;
}

export interface RunStatus {
  runId: string;
  results: string | null;
  totalBatches: number | null;
  doneBatches: number;
  images: number | null;
  statuses: Record<string, number>;
  startedMs: number | null;
  manifest: Manifest | null;
  run: RunJson | null;
  /** batches whose job failed for good */
  failed: FailedBatch[];
  /** queue-wide (every run's) jobs waiting and active (a job is a group of batches) */
  queue: { waiting: number; active: number; delayed: number };
  /** worker connections on the batch queue */
  workers: number;
  /** whether Redis still holds the run's state (a restart without persistence loses it) */
  inRedis: boolean;
  /** finalization steps (group, compactions, finalize) that failed for good, once every batch is done */
  finalFailed?: { job: string; error: string }[];
}

const looksLikeUri = (s: string) => s.includes('://') || s.includes('/') || s.startsWith('.');

/**
 * The run's batches whose job failed for good, from BullMQ's failed set (only this run
 * instance's ids): of a failed job's group, the batches not counted done.
 */
export async function failedBatches(
  queue: Queue,
  redis: Redis,
  run: Pick<RunJson, 'run_id' | 'instance'>,
): Promise<FailedBatch[]> {
  const prefix = batchJobId(run.run_id, run.instance, 0).replace(/b0+$/, 'b');
  const doneKey = runKeys(queuePrefixOf(queue), run.run_id, run.instance).done;
  const out: FailedBatch[] = [];
  for (let start = 0; ; start += 1000) {
    const jobs = await queue.getFailed(start, start + 999);
    for (const j of jobs) {
      if (!j?.id?.startsWith(prefix)) continue;
      const first = Number(j.id.slice(prefix.length));
      const count = typeof j.data?.count === 'number' && j.data.count > 0 ? j.data.count : 1;
      const batches = Array.from({ length: count }, (_, i) => first + i);
      const done = count > 1 ? await redis.smismember(doneKey, ...batches.map(String)) : [0];
      const reason = j.failedReason ?? '';
      // The worker names the batch that failed ("batch 7: …"): that batch gets the bare cause.
      const named = /^batch (\d+): ([\s\S]*)$/.exec(reason);
      batches.forEach((batch, i) => {
        if (done[i] === 1) return;
        const error = named && Number(named[1]) === batch ? named[2]! : reason;
        out.push({
          batch,
          error,
          attempts: j.attemptsMade,
          failed_at: new Date(j.finishedOn ?? j.timestamp).toISOString(),
        });
      });
    }
    if (jobs.length < 1000) break;
  }
  return out.sort((a, b) => a.batch - b.batch);
}

export async function readStatus(redis: Redis, target: string, prefix: string): Promise<RunStatus> {
  let results: string | null = null;
  let run: RunJson | null = null;
  let runId = target;
  let instance: string | null;
  if (looksLikeUri(target)) {
    const store = RunResults.open(target);
    run = await store.requireRun();
    runId = run.run_id;
    instance = run.instance;
    results = store.uri;
  } else {
    instance = await redis.get(runInstanceKey(prefix, runId));
    if (!instance)
      throw new InputError(
        `no run ${runId} in Redis: give the results URI instead (overmap status s3://bucket/results/)`,
      );
  }
  const keys = runKeys(prefix, runId, instance);
  const [state, done, statuses] = await Promise.all([
    redis.hgetall(keys.state),
    redis.scard(keys.done),
    redis.hgetall(keys.statuses),
  ]);
  results ??= state.results ?? null;
  let manifest: Manifest | null = null;
  if (results) {
    const store = RunResults.open(results);
    run ??= (await store.readRun()) ?? null;
    manifest = (await store.readManifest()) ?? null;
  }
  const queue = new Queue(BATCH_QUEUE, { connection: redis, prefix });
  try {
    const [counts, workers, failed] = await Promise.all([
      queue.getJobCounts('waiting', 'active', 'delayed'),
      queue.getWorkers(),
      run && !manifest ? failedBatches(queue, redis, run) : Promise.resolve([]),
    ]);
    const total = state.total !== undefined ? Number(state.total) : (run?.batches ?? null);
    const finalFailed =
      run && !manifest && total !== null && done >= total ? await finalStepFailures(redis, prefix, run) : undefined;
    return {
      ...(finalFailed?.length ? { finalFailed } : {}),
      runId,
      results,
      totalBatches: total,
      doneBatches: manifest && total !== null ? total : done,
      images: state.images !== undefined ? Number(state.images) : (run?.images ?? null),
      statuses: Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, Number(v)])),
      startedMs: state.started ? Number(state.started) : run ? Date.parse(run.created) : null,
      manifest,
      run,
      failed,
      queue: { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0 },
      workers: workers.length,
      inRedis: Object.keys(state).length > 0,
    };
  } finally {
    await queue.close();
  }
}

async function finalStepFailures(redis: Redis, prefix: string, run: RunJson) {
  const finalizeQueue = new Queue(FINALIZE_QUEUE, { connection: redis, prefix });
  try {
    return await failedFinalSteps(finalizeQueue, { runId: run.run_id, instance: run.instance, results: run.results });
  } finally {
    await finalizeQueue.close();
  }
}

/** Finished, still going, or stuck (and what to do). */
export function runVerdict(s: RunStatus): {
  state: 'finished' | 'running' | 'stuck';
  cause?: 'failed' | 'no-workers' | 'redis-lost';
  why?: string;
} {
  if (s.manifest) return { state: 'finished' };
  // Redis keeps the run's progress and jobs; a Redis restarted without persistence (or flushed)
  // has none of them, and no worker will ever take the run up again, whatever is connected.
  if (!s.inRedis && s.run) {
    return {
      state: 'stuck',
      cause: 'redis-lost',
      why: `Redis holds no state for run ${s.runId} (restarted without persistence, or flushed): nothing will finish it; overmap retry ${s.results ?? s.runId} queues again every batch that has no part file`,
    };
  }
  if (s.finalFailed?.length) {
    const f = s.finalFailed[0]!;
    return {
      state: 'stuck',
      cause: 'failed',
      why: `every batch is scored, but ${s.finalFailed.length} finalization step(s) failed for good (first: ${f.job}: ${f.error}); fix the cause, then overmap retry ${s.results ?? s.runId}`,
    };
  }
  const pending = (s.totalBatches ?? Infinity) - s.doneBatches - s.failed.length;
  if (s.failed.length > 0 && pending <= 0) {
    return {
      state: 'stuck',
      cause: 'failed',
      why: `${s.failed.length} batch(es) failed for good (first: batch ${s.failed[0]!.batch}: ${s.failed[0]!.error}); fix the cause, then overmap retry ${s.results ?? s.runId}`,
    };
  }
  if (s.workers === 0)
    return {
      state: 'stuck',
      cause: 'no-workers',
      why: `no worker is connected to the queue: start workers (overmap worker) or rerun overmap run`,
    };
  return { state: 'running' };
}
