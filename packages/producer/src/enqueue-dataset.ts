/**
 * `overmap enqueue`: streams the dataset's listing (one page in memory at a time) or an S3
 * Inventory's data files (s3-inventory.ts), keeps image keys, cuts them into batches, writes
 * each batch's keys and labels as a listing chunk under the results, and adds one small job per
 * group of `jobBatches` consecutive batches (addBulk, deterministic ids) as it goes. run.json
 * is written before the first chunk; the batch total when the listing ends.
 *
 * Running it again never adds a batch twice and never strands one: an interrupted listing
 * resumes after its last enqueued group (Redis keeps the cursor; without it the listing
 * starts over and groups whose part files all exist are skipped); a finished listing is
 * recovered from the results store alone (recover-run.ts): every group with a batch without
 * a part file gets a live job again, failed ones included.
 *
 * The parts: the run's set-up (enqueue-run.ts), the key source and batching
 * (enqueue-listing.ts), the chunk and job writes (enqueue-flush.ts), the counts
 * (enqueue-progress.ts); this file puts them in order.
 */
import { Queue } from 'bullmq';
import {
  BATCH_QUEUE,
  FINALIZE_QUEUE,
  type JobGrouping,
  type RunJson,
  canonicalUri,
  jobCount,
  maybeFinalize,
  runInstanceKey,
  runKeys,
} from '@overmap/shared';
import { ChunkFlusher } from './enqueue-flush';
import { checkSomeImages, keySource, listBatches } from './enqueue-listing';
import type { EnqueueOptions, EnqueueResult } from './enqueue-options';
import { EnqueueCounts, type EnqueueProgress } from './enqueue-progress';
import { type PreparedRun, prepareRun } from './enqueue-run';
import { rebuildMissingChunks } from './rebuild-chunks';
import { recoverRun } from './recover-run';

export type { EnqueueOptions, EnqueueResult } from './enqueue-options';
export type { EnqueueProgress } from './enqueue-progress';
export { defaultRunId } from './enqueue-run';

interface Queues {
  queue: Queue;
  finalizeQueue: Queue;
}

/** A resumed run keeps its grouping (job ids name a group's first batch), whatever the environment says now. */
const groupingOf = (run: RunJson): JobGrouping => ({
  jobBatches: run.params.jobBatches,
  ungroupedBatches: run.params.ungroupedBatches,
});

export async function enqueueDataset(opts: EnqueueOptions): Promise<EnqueueResult> {
  const p = await prepareRun(opts);
  const { o, run } = p;
  const keys = runKeys(o.prefix, run.run_id, run.instance);
  await o.redis.set(runInstanceKey(o.prefix, run.run_id), run.instance);
  await o.redis.hsetnx(keys.state, 'started', String(Date.parse(run.created)));
  await o.redis.hset(keys.state, 'results', canonicalUri(o.results));

  const queues: Queues = {
    queue: new Queue(BATCH_QUEUE, { connection: o.redis, prefix: o.prefix }),
    finalizeQueue: new Queue(FINALIZE_QUEUE, { connection: o.redis, prefix: o.prefix }),
  };
  try {
    // The listing finished earlier: recover from the results store whatever Redis lost.
    if (p.existing?.batches !== undefined) return await recoverListed(p, p.existing.batches, queues);
    return await listRun(p, keys.state, queues);
  } finally {
    await Promise.all([queues.queue.close(), queues.finalizeQueue.close()]);
  }
}

/** A run whose listing has finished: every group with a missing part file gets a live job again. */
async function recoverListed(p: PreparedRun, batches: number, queues: Queues): Promise<EnqueueResult> {
  const { o, run, results } = p;
  const rebuiltChunks = await rebuildMissingChunks(results, run, { allowed: o.allowed });
  const r = await recoverRun({ results, run, redis: o.redis, queues, secret: o.secret });
  const progress: EnqueueProgress = {
    listed: 0,
    images: run.images ?? 0,
    skipped: run.skipped_keys ?? 0,
    batches,
    added: r.added,
    done: true,
  };
  o.onProgress?.(progress);
  return {
    ...progress,
    runId: run.run_id,
    dataset: run.dataset,
    jobBatches: run.params.jobBatches,
    jobs: jobCount(batches, groupingOf(run)),
    resumed: false,
    alreadyComplete: true,
    retried: r.retried,
    rebuiltChunks,
    unsafeKeys: [],
    outsideKeys: 0,
    outsideExamples: [],
    labels: null,
  };
}

/** Lists the run (from its cursor, where Redis kept one), then records its total and finalizes (or recovers) it. */
async function listRun(p: PreparedRun, stateKey: string, queues: Queues): Promise<EnqueueResult> {
  const { o, results, tally } = p;
  const state = await o.redis.hgetall(stateKey);
  const resumed = !!p.existing && state.cursor !== undefined;
  // Without Redis state for a run that has started, skip groups already written.
  const checkParts = !!p.existing && !resumed;
  const counts = resumed ? EnqueueCounts.resumed(state, o.onProgress) : new EnqueueCounts(o.onProgress);
  const ref = { runId: p.run.run_id, instance: p.run.instance, results: canonicalUri(o.results) };
  const flusher = new ChunkFlusher({
    results,
    run: p.run,
    runWritten: !!p.existing,
    tally,
    redis: o.redis,
    stateKey,
    queue: queues.queue,
    ref,
    grouping: groupingOf(p.run),
    bulkSize: o.bulkSize ?? 50,
    checkParts,
    secret: o.secret,
    counts,
  });
  const source = keySource({
    dataset: p.dataset,
    inventory: p.inventory,
    resumeAfter: resumed ? state.cursor : undefined,
    listingDone: resumed && state.listingDone === '1',
    inventoryConcurrency: o.inventoryConcurrency,
  });
  const skippedKeys = await listBatches(source, { batchSize: o.batchSize, labels: p.labels, counts, flusher });
  await flusher.flush(true);
  checkSomeImages(counts, p.dataset, p.inventory, skippedKeys.outsideKeys);

  const run: RunJson = { ...p.run, batches: counts.batches, images: counts.images, skipped_keys: counts.skipped };
  await results.writeRun(run);
  await o.redis.hset(stateKey, {
    total: counts.batches,
    images: counts.images,
    skipped: counts.skipped,
    shardParts: run.params.shardParts,
  });
  if (checkParts) await recoverRun({ results, run, redis: o.redis, queues, secret: o.secret });
  else await maybeFinalize(o.redis, queues.finalizeQueue, { ...ref, results: results.uri }, o.secret);
  const progress = counts.report(true);
  return {
    ...progress,
    runId: run.run_id,
    dataset: run.dataset,
    jobBatches: run.params.jobBatches,
    jobs: jobCount(counts.batches, groupingOf(run)),
    resumed,
    alreadyComplete: false,
    retried: 0,
    ...skippedKeys,
    labels: tally ? (resumed ? tally.report : tally.finish()) : null,
  };
}
