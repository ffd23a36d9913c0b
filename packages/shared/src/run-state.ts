/** Run completion, shared by producer (listing ends after the last batch) and workers. */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobName, finalizeJobId, runKeys } from './queue';

/** Enqueues the run's finalization once every batch is done (deterministic id: at most one job). */
export async function maybeFinalize(redis: Redis, finalizeQueue: Queue, runId: string, results: string): Promise<boolean> {
  const keys = runKeys(runId);
  const [total, done] = await Promise.all([redis.hget(keys.state, 'total'), redis.scard(keys.done)]);
  if (total === null || done < Number(total)) return false;
  await finalizeQueue.add(JobName.Finalize, { runId, results }, {
    jobId: finalizeJobId(runId), attempts: 8, backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 },
  });
  return true;
}
