/**
 * Recovery from the results store alone: whatever Redis remembers or has lost (a restart
 * without AOF, failed jobs, jobs removed), every batch whose part file is missing gets a
 * live job again, and the done set is rebuilt from the part files so that finalization
 * still triggers. Used by `overmap enqueue`/`run` on a run whose listing has finished and
 * by `overmap retry`.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_OPTIONS, JobName, type RunJson, type RunResults, batchJobId, maybeFinalize, runKeys, sign } from '@overmap/shared';

export interface RecoverResult {
  /** batches without a part file */
  missing: number;
  /** jobs added again (none was in Redis) */
  added: number;
  /** failed jobs put back in the queue */
  retried: number;
}

export async function recoverRun(o: { results: RunResults; run: RunJson; redis: Redis; queue: Queue; finalizeQueue: Queue; secret?: string }): Promise<RecoverResult> {
  const { run, redis, queue } = o;
  if (run.batches === undefined) throw new Error(`run ${run.run_id}: its listing has not finished`);
  const keys = runKeys(run.run_id, run.instance);
  const present = new Set<number>();
  for await (const b of o.results.partBatches()) if (b < run.batches) present.add(b);
  const done = [...present].map(String);
  for (let i = 0; i < done.length; i += 10_000) await redis.sadd(keys.done, ...done.slice(i, i + 10_000));
  await redis.hset(keys.state, { total: run.batches, images: run.images ?? 0, shardParts: run.params.shardParts });

  let added = 0, retried = 0, missing = 0;
  for (let b = 0; b < run.batches; b++) {
    if (present.has(b)) continue;
    missing++;
    const id = batchJobId(run.run_id, run.instance, b);
    const job = await queue.getJob(id);
    const state = job ? await job.getState() : 'unknown';
    if (job && state === 'failed') {
      await job.retry('failed');
      retried++;
      continue;
    }
    if (job && state === 'completed') await job.remove(); // completed, yet its part file is gone: run it again
    else if (job) continue; // waiting, delayed or active: it will run
    await queue.add(JobName.Batch, sign({ runId: run.run_id, instance: run.instance, results: run.results, batch: b }, o.secret), { jobId: id, ...JOB_OPTIONS.batch });
    added++;
  }
  await maybeFinalize(redis, o.finalizeQueue, run.run_id, run.instance, run.results, o.secret);
  return { missing, added, retried };
}
