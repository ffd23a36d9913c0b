/** Run progress in Redis, shared by producer (listing ends after the last batch) and workers. */
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { sign } from './job-signing';
import { DEFAULT_SHARD_PARTS } from './results/run-json';
import { JOB_OPTIONS, JobName, compactJobId, finalizeJobId, groupJobId, queuePrefixOf, runKeys } from './queue';
import type { RunRef } from './run-ref';

/**
 * Counts a batch done and adds its images to the status counters in one atomic step: SADD is
 * idempotent, so a batch that runs twice counts once, and a crash cannot leave one without
 * the other.
 */
const MARK_DONE = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
  return 1
end
return 0`;

/** True the first time this batch is counted. */
export async function markBatchDone(
  redis: Redis,
  prefix: string,
  runId: string,
  instance: string,
  batch: number,
  byStatus: Record<string, number>,
): Promise<boolean> {
  const keys = runKeys(prefix, runId, instance);
  const args = Object.entries(byStatus).flatMap(([s, n]) => [s, String(n)]);
  return (await redis.eval(MARK_DONE, 2, keys.done, keys.statuses, String(batch), ...args)) === 1;
}

/** Shards of a run: one per `shardParts` part files. */
export const shardCount = (batches: number, shardParts: number) => Math.max(1, Math.ceil(batches / shardParts));

/**
 * Once every batch is done: a run of one shard is finalized by one job; a larger one first runs
 * one group job (run-wide image-check fences and duplicate groups), which fans out one
 * compaction job per shard (run on every worker in parallel), and the last of them to finish
 * enqueues the finalization (deterministic ids: at most one of each).
 */
export async function maybeFinalize(
  redis: Redis,
  finalizeQueue: Queue,
  run: RunRef,
  secret?: string,
): Promise<boolean> {
  // The three fields alone: a job payload passed as the run must not carry its other fields into the new jobs.
  const { runId, instance, results } = run;
  const keys = runKeys(queuePrefixOf(finalizeQueue), runId, instance);
  const [total, shardParts, done] = await Promise.all([
    redis.hget(keys.state, 'total'),
    redis.hget(keys.state, 'shardParts'),
    redis.scard(keys.done),
  ]);
  if (total === null || done < Number(total)) return false;
  const shards = shardCount(Number(total), Number(shardParts ?? DEFAULT_SHARD_PARTS));
  // A finalization step that failed for good is tried again (overmap retry comes here): an add
  // with its deterministic id would be ignored while the failed job exists.
  for (const job of await failedFinalJobs(finalizeQueue, run)) await job.retry('failed');
  if (shards === 1) {
    await finalizeQueue.add(JobName.Finalize, sign({ runId, instance, results }, secret), {
      jobId: finalizeJobId(runId, instance),
      ...JOB_OPTIONS.finalize,
    });
  } else {
    // First the run-wide step (image-check fences, duplicate groups), which fans out the shards.
    await finalizeQueue.add(JobName.Group, sign({ runId, instance, results }, secret), {
      jobId: groupJobId(runId, instance),
      ...JOB_OPTIONS.finalize,
    });
  }
  return true;
}

/**
 * The run's finalization jobs (group, compactions, finalize: ids `<run>-<instance>-…` on the
 * finalize queue) that failed for good, from BullMQ's failed set (pages of 1,000; it holds only
 * failures, so it is small).
 */
async function failedFinalJobs(finalizeQueue: Queue, run: RunRef): Promise<Job[]> {
  const prefix = `${run.runId}-${run.instance}-`;
  const out: Job[] = [];
  for (let start = 0; ; start += 1000) {
    const jobs = await finalizeQueue.getFailed(start, start + 999);
    out.push(...jobs.filter((j) => j?.id?.startsWith(prefix)));
    if (jobs.length < 1000) return out;
  }
}

/** The finalization steps of a run that failed for good: job id and error. */
export async function failedFinalSteps(finalizeQueue: Queue, run: RunRef): Promise<{ job: string; error: string }[]> {
  return (await failedFinalJobs(finalizeQueue, run)).map((j) => ({ job: j.id!, error: j.failedReason ?? '' }));
}

/** One compaction job per shard (after the run-wide group step), run on every worker in parallel. */
export async function enqueueCompactions(
  finalizeQueue: Queue,
  run: RunRef,
  shards: number,
  secret?: string,
): Promise<void> {
  const { runId, instance, results } = run;
  await finalizeQueue.addBulk(
    Array.from({ length: shards }, (_, shard) => ({
      name: JobName.Compact,
      data: sign({ runId, instance, results, shard }, secret),
      opts: { jobId: compactJobId(runId, instance, shard), ...JOB_OPTIONS.compact },
    })),
  );
}

/** Counts a shard compacted; the last one enqueues the finalization. */
export async function markShardDone(
  redis: Redis,
  finalizeQueue: Queue,
  job: RunRef & { shard: number },
  shards: number,
  secret?: string,
): Promise<boolean> {
  const keys = runKeys(queuePrefixOf(finalizeQueue), job.runId, job.instance);
  await redis.sadd(keys.shardsDone, String(job.shard));
  if ((await redis.scard(keys.shardsDone)) < shards) return false;
  const { runId, instance, results } = job;
  await finalizeQueue.add(JobName.Finalize, sign({ runId, instance, results }, secret), {
    jobId: finalizeJobId(runId, instance),
    ...JOB_OPTIONS.finalize,
  });
  return true;
}
