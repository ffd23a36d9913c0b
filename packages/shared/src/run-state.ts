/** Run progress in Redis, shared by producer (listing ends after the last batch) and workers. */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { sign } from './job-signing';
import { JOB_OPTIONS, JobName, finalizeJobId, runKeys } from './queue';

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
export async function markBatchDone(redis: Redis, runId: string, instance: string, batch: number, byStatus: Record<string, number>): Promise<boolean> {
  const keys = runKeys(runId, instance);
  const args = Object.entries(byStatus).flatMap(([s, n]) => [s, String(n)]);
  return (await redis.eval(MARK_DONE, 2, keys.done, keys.statuses, String(batch), ...args)) === 1;
}

/** Enqueues the run's finalization once every batch is done (deterministic id: at most one job). */
export async function maybeFinalize(redis: Redis, finalizeQueue: Queue, runId: string, instance: string, results: string, secret?: string): Promise<boolean> {
  const keys = runKeys(runId, instance);
  const [total, done] = await Promise.all([redis.hget(keys.state, 'total'), redis.scard(keys.done)]);
  if (total === null || done < Number(total)) return false;
  await finalizeQueue.add(JobName.Finalize, sign({ runId, instance, results }, secret), { jobId: finalizeJobId(runId, instance), ...JOB_OPTIONS.finalize });
  return true;
}
