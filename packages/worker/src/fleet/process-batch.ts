/**
 * One batch job, a group of consecutive batches, taken in turn. Per batch: fetch the images
 * (bounded concurrency), decode them, score them in micro-batches (yielding to the event loop
 * between, so BullMQ's lock renewal keeps running), write the batch's part file at its
 * deterministic key (a retry overwrites it), then count the batch done in Redis,
 * idempotently. A retried job skips the batches already counted done, so a crash mid-group
 * redoes at most the batch it was in. A batch that cannot succeed (bad input) does not stop
 * the rest of its group: the job fails for good after the others, naming it. The worker that
 * completes the last batch enqueues the run's finalization.
 */
import type { Job, Queue } from 'bullmq';
import { UnrecoverableError, WaitingError } from 'bullmq';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import {
  type BatchChunk,
  type BatchJob,
  BatchJobSchema,
  type Config,
  type ImageRecord,
  InputError,
  ObjectTooLarge,
  ServiceError,
  errorRecord,
  isSafeKey,
  logger,
  markBatchDone,
  maybeFinalize,
  runKeys,
} from '@overmap/shared';
import { type ImageFailure, type ImageSource, decodeImage, scoreImages } from '@overmap/engine';
import { recordFor } from './build-record';
import { checkJobSignature } from './job-guard';
import type { Metrics } from './metrics';
import type { RunContext, RunContexts } from './run-context';

export interface BatchDeps {
  contexts: RunContexts;
  redis: Redis;
  finalizeQueue: Queue;
  config: Config;
  metrics?: Metrics;
  /** serialises compute across the jobs a worker holds, so downloads overlap compute */
  computeLock: <T>(fn: () => Promise<T>) => Promise<T>;
  /** images per scoring call; default: the scorer's calibrated micro-batch */
  microBatch?: number;
  /** downloads in flight across all of the worker's batches (downloadSlots) */
  downloads?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** true once the worker is stopping (SIGTERM): a group hands its remaining batches back */
  stopping?: () => boolean;
  /** the image decoder; default the engine's (sharp). Benchmarks inject another to measure the fleet without it. */
  decode?: typeof decodeImage;
}

/**
 * Downloads a worker may have in flight: its download budget over the largest file it
 * accepts (each file is refused past OVERMAP_MAX_IMAGE_BYTES before or while it downloads),
 * never more than OVERMAP_DOWNLOAD_CONCURRENCY. So memory for downloads is bounded whatever
 * the files' sizes.
 */
export function downloadSlots(
  config: Pick<Config, 'OVERMAP_DOWNLOAD_BUDGET_MB' | 'OVERMAP_MAX_IMAGE_BYTES' | 'OVERMAP_DOWNLOAD_CONCURRENCY'>,
): number {
  const byBudget = Math.floor((config.OVERMAP_DOWNLOAD_BUDGET_MB * 1024 * 1024) / config.OVERMAP_MAX_IMAGE_BYTES);
  return Math.max(1, Math.min(config.OVERMAP_DOWNLOAD_CONCURRENCY, byBudget));
}

export function parseBatchJob(data: unknown): BatchJob {
  const r = BatchJobSchema.safeParse(data);
  if (!r.success) {
    // Malformed payloads are never retried: no retry can fix them.
    throw new UnrecoverableError(
      `malformed batch job payload: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return r.data;
}

export interface GroupResult {
  /** images scored by this attempt (batches done by an earlier attempt are skipped, not counted) */
  images: number;
  byStatus: Record<string, number>;
  /** the group's batches this attempt scored, and those it found done already */
  scored: number[];
  skipped: number[];
}

export async function processBatch(job: Job, deps: BatchDeps, token?: string): Promise<GroupResult> {
  checkJobSignature(job.data, deps.config.OVERMAP_JOB_SECRET, 'batch');
  const data = parseBatchJob(job.data);
  const count = data.count ?? 1;
  const out: GroupResult = { images: 0, byStatus: {}, scored: [], skipped: [] };
  // Batches of the group an earlier attempt finished (SMISMEMBER: the group's members only, never the whole set).
  const batches = Array.from({ length: count }, (_, i) => data.batch + i);
  const flags = await deps.redis.smismember(
    runKeys(deps.config.OVERMAP_QUEUE_PREFIX, data.runId, data.instance).done,
    ...batches.map(String),
  );
  const done = new Set(batches.filter((_, i) => flags[i] === 1));
  let bad: { batch: number; message: string } | undefined;
  let handBack = false;
  await deps.contexts
    .use(data.runId, data.results, async (ctx) => {
      if (ctx.run.instance !== data.instance) {
        throw new InputError(
          `job for instance ${data.instance} of run ${data.runId}, but ${data.results} now holds instance ${ctx.run.instance}: a stale job from an earlier enqueue`,
        );
      }
      for (let batch = data.batch; batch < data.batch + count; batch++) {
        if (done.has(batch)) {
          out.skipped.push(batch);
          continue;
        }
        // Stopping (SIGTERM, a pod scaled down): finish the batch in hand, give the rest of the
        // group back to the queue rather than hold the grace period for up to a whole group.
        // (A single-batch job just finishes; a group not yet started goes back whole.)
        if (deps.stopping?.() && count > 1 && token) {
          handBack = true;
          break;
        }
        const t0 = performance.now();
        let chunk: BatchChunk;
        try {
          chunk = await ctx.results.readChunk(batch);
        } catch (e) {
          // A bad batch (its chunk missing, malformed or unsigned) must not hold back the rest of
          // its group; anything wrong with the model fails the job at once (below).
          if (!(e instanceof InputError)) throw e;
          bad ??= { batch, message: e.message };
          continue;
        }
        const records = await scoreRecords(batch, chunk, ctx, deps);
        const byStatus: Record<string, number> = {};
        for (const r of records) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
        if (
          await markBatchDone(deps.redis, deps.config.OVERMAP_QUEUE_PREFIX, data.runId, data.instance, batch, byStatus)
        ) {
          for (const [s, n] of Object.entries(byStatus)) deps.metrics?.images.inc({ status: s }, n);
        }
        for (const [s, n] of Object.entries(byStatus)) out.byStatus[s] = (out.byStatus[s] ?? 0) + n;
        out.images += records.length;
        out.scored.push(batch);
        deps.metrics?.stageSeconds.observe({ stage: 'batch' }, (performance.now() - t0) / 1000);
        logger.debug({ run: data.runId, batch, images: records.length, byStatus }, 'batch done');
      }
    })
    .catch((e) => {
      // Bad input (a missing run.json, a changed or invalid model) is not fixed by retrying.
      if (e instanceof InputError) throw new UnrecoverableError((e as Error).message);
      throw e;
    });
  if (bad) throw new UnrecoverableError(`batch ${bad.batch}: ${bad.message}`);
  if (handBack) {
    // Back to waiting, not an attempt spent: the next worker skips the batches done here.
    logger.info(
      { run: data.runId, job: job.id, scored: out.scored.length, left: count - out.scored.length - out.skipped.length },
      'worker stopping: rest of the group handed back',
    );
    await job.moveToWait(token);
    throw new WaitingError();
  }
  await maybeFinalize(deps.redis, deps.finalizeQueue, data, deps.config.OVERMAP_JOB_SECRET);
  return out;
}

/** One image's bytes from the dataset, or why there are none (a record, never a failed batch). */
async function readImage(ctx: RunContext, key: string, config: Config): Promise<Buffer | ImageFailure> {
  // Never trust a key: one that could leave the dataset prefix is a record, not a failed batch.
  if (!isSafeKey(key))
    return {
      ok: false,
      status: 'read_error',
      error: `unsafe key ${JSON.stringify(key)} (absolute or with '..'): not read`,
    };
  try {
    return await ctx.dataset.get(key, { maxBytes: config.OVERMAP_MAX_IMAGE_BYTES });
  } catch (e) {
    if (e instanceof ObjectTooLarge) return { ok: false, status: 'too_large', error: e.message };
    if (e instanceof ServiceError) throw e; // the store itself is down: retry the batch
    return { ok: false, status: 'read_error', error: (e as Error).message };
  }
}

/**
 * Fetch, decode, score (the engine's scoreImages) and write one batch's part file; returns its
 * records. Per-image failures become records; overlays are written before the part file, so a
 * record names its overlay only once the PNG exists.
 */
async function scoreRecords(
  batch: number,
  chunk: BatchChunk,
  ctx: RunContext,
  deps: BatchDeps,
): Promise<ImageRecord[]> {
  const { scorer, threshold } = ctx;
  const { config } = deps;
  const keys = chunk.keys;
  const labels = chunk.labels ?? keys.map(() => null);
  const own = pLimit(downloadSlots(config));
  const stage = (name: string, since: number) =>
    deps.metrics?.stageSeconds.observe({ stage: name }, (performance.now() - since) / 1000);
  const overlays = ctx.run.params.overlays;
  const records: ImageRecord[] = new Array(keys.length);
  const images: ImageSource[] = keys.map((key, i) => ({
    key,
    label: ctx.classOf(labels[i]),
    read: () => readImage(ctx, key, config),
  }));
  await scoreImages(scorer, images, {
    limit: deps.downloads ?? ((fn) => own(fn)),
    maxInputPixels: config.OVERMAP_MAX_INPUT_PIXELS,
    maxBytes: config.OVERMAP_MAX_IMAGE_BYTES,
    microBatch: deps.microBatch ?? ctx.microBatch,
    keepMaps: overlays !== 'none',
    measure: true,
    computeLock: deps.computeLock,
    decode: deps.decode,
    observe: (s, since) => stage(s === 'decode' ? 'fetch_decode' : 'score', since),
    onFailed: (i, f) => {
      records[i] = errorRecord(keys[i]!, labels[i] ?? null, f.status, f.error);
    },
    onScored: (i, s, measures) => {
      records[i] = recordFor(keys[i]!, labels[i] ?? null, s, scorer.spec, threshold, images[i]!.label, measures);
      return overlays === 'all' || records[i]!.accepted === false;
    },
    onOverlay: async (i, png) => {
      records[i]!.overlay = await ctx.results.putOverlay(keys[i]!, png);
    },
  });

  const tWrite = performance.now();
  await ctx.results.writePart(batch, records);
  stage('write', tWrite);
  return records;
}
