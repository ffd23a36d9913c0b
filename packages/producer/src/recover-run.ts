/**
 * Recovery from the results store alone: whatever Redis remembers or has lost (a restart
 * without AOF, failed jobs, jobs removed), every group of batches (run.json
 * `params.jobBatches`) with a part file missing gets a live job again, and the done set is
 * rebuilt from the part files so that finalization still triggers and the group's job skips
 * the batches already written. Used by `overmap enqueue`/`run` on a run whose listing has finished and
 * by `overmap retry`.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BATCH_QUEUE,
  FINALIZE_QUEUE,
  type RunJson,
  type RunRef,
  type RunResults,
  batchGroupJob,
  batchJobId,
  jobGroups,
  maybeFinalize,
  queuePrefixOf,
  runInstanceKey,
  runKeys,
} from '@overmap/shared';

export interface RecoverResult {
  /** batches without a part file */
  missing: number;
  /** jobs (groups of batches) added again (none was in Redis) */
  added: number;
  /** failed jobs (groups) put back in the queue */
  retried: number;
}

export interface RecoverOptions {
  results: RunResults;
  run: RunJson;
  redis: Redis;
  /** the BullMQ prefix, to open the queues; or the queues themselves, already open */
  prefix?: string;
  queues?: { queue: Queue; finalizeQueue: Queue };
  secret?: string;
}

/** Recovers the run; opens (and closes) the queues unless given them. */
export async function recoverRun(o: RecoverOptions): Promise<RecoverResult> {
  if (o.queues) return recoverWith(o, o.queues.queue, o.queues.finalizeQueue);
  const queue = new Queue(BATCH_QUEUE, { connection: o.redis, prefix: o.prefix });
  const finalizeQueue = new Queue(FINALIZE_QUEUE, { connection: o.redis, prefix: o.prefix });
  try {
    return await recoverWith(o, queue, finalizeQueue);
  } finally {
    await Promise.all([queue.close(), finalizeQueue.close()]);
  }
}

async function recoverWith(o: RecoverOptions, queue: Queue, finalizeQueue: Queue): Promise<RecoverResult> {
  const { run, redis } = o;
  if (run.batches === undefined) throw new Error(`run ${run.run_id}: its listing has not finished`);
  const prefix = queuePrefixOf(queue);
  const keys = runKeys(prefix, run.run_id, run.instance);
  const ref: RunRef = { runId: run.run_id, instance: run.instance, results: run.results };
  // Everything Redis knows of the run, rebuilt from the results: its instance, its state, the done set.
  await redis.set(runInstanceKey(prefix, run.run_id), run.instance);
  await redis.hsetnx(keys.state, 'started', String(Date.parse(run.created)));
  const present = new Set<number>();
  for await (const b of o.results.partBatches()) if (b < run.batches) present.add(b);
  const done = [...present].map(String);
  for (let i = 0; i < done.length; i += 10_000) await redis.sadd(keys.done, ...done.slice(i, i + 10_000));
  await redis.hset(keys.state, {
    total: run.batches,
    images: run.images ?? 0,
    shardParts: run.params.shardParts,
    results: o.results.uri,
  });

  let added = 0,
    retried = 0,
    missing = 0;
  for (const { first, count } of jobGroups(run.batches, run.params)) {
    let absent = 0;
    for (let b = first; b < first + count; b++) if (!present.has(b)) absent++;
    if (absent === 0) continue;
    missing += absent;
    const id = batchJobId(run.run_id, run.instance, first);
    const job = await queue.getJob(id);
    const state = job ? await job.getState() : 'unknown';
    if (job && state === 'failed') {
      await job.retry('failed');
      retried++;
      continue;
    }
    if (job && state === 'completed')
      await job.remove(); // completed, yet its part file is gone: run it again
    else if (job) continue; // waiting, delayed or active: it will run
    const j = batchGroupJob(ref, first, count, o.secret);
    await queue.add(j.name, j.data, j.opts);
    added++;
  }
  await maybeFinalize(redis, finalizeQueue, ref, o.secret);
  return { missing, added, retried };
}
