/**
 * One batch job: fetch the images (bounded concurrency), decode them, score them in
 * micro-batches (yielding to the event loop between, so BullMQ's lock renewal keeps
 * running), write the batch's part file at its deterministic key (a retry overwrites it),
 * then count the batch done in Redis, idempotently; the worker that completes the last
 * batch enqueues the run's finalization.
 */
import type { Job, Queue } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import {
  type BatchJob, BatchJobSchema, type Config, type ImageRecord, canonicalClass, errorRecord, logger, maybeFinalize, partKey, runKeys,
} from '@overmap/shared';
import { decodeImage } from '../images/decode-image';
import { overlayPng } from '../images/overlay-png';
import type { ImageScore } from '../scoring/pipeline';
import { recordFor } from './build-record';
import type { Metrics } from './metrics';
import type { RunContexts } from './run-context';

export interface BatchDeps {
  contexts: RunContexts;
  redis: Redis;
  finalizeQueue: Queue;
  config: Config;
  metrics?: Metrics;
  /** serialises compute across the jobs a worker holds, so downloads overlap compute */
  computeLock: <T>(fn: () => Promise<T>) => Promise<T>;
  microBatch?: number;
}

/** overlays/<key>.png, the key's path kept so that overlays sit like the dataset. */
export const overlayKey = (key: string) => `overlays/${key.replace(/\.[^./]+$/, '')}.png`;

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export function parseBatchJob(data: unknown): BatchJob {
  const r = BatchJobSchema.safeParse(data);
  if (!r.success) {
    // Malformed payloads are never retried: no retry can fix them.
    throw new UnrecoverableError(`malformed batch job payload: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

export async function processBatch(job: Job, deps: BatchDeps): Promise<{ images: number; byStatus: Record<string, number> }> {
  const data = parseBatchJob(job.data);
  const t0 = performance.now();
  const ctx = await deps.contexts.get(data.runId, data.results).catch((e) => {
    if ((e as Error).name === 'InputError' || (e as Error).name === 'ZodError' || e instanceof SyntaxError) throw new UnrecoverableError((e as Error).message);
    throw e;
  });
  const { scorer } = ctx;
  const labels = data.labels ?? data.keys.map(() => null);
  const limit = pLimit(deps.config.OVERMAP_DOWNLOAD_CONCURRENCY);
  const stage = (name: string, seconds: number) => deps.metrics?.stageSeconds.observe({ stage: name }, seconds);

  // Fetch and decode: per-image failures become records, never a failed batch.
  const tFetch = performance.now();
  const decoded = await Promise.all(data.keys.map((key) => limit(async () => {
    let bytes: Buffer;
    try {
      bytes = await ctx.dataset.get(key);
    } catch (e) {
      if ((e as Error).name === 'ServiceError') throw e; // the store itself is down: retry the batch
      return { ok: false as const, status: 'read_error' as const, error: (e as Error).message };
    }
    return decodeImage(bytes, {
      size: scorer.inputSize, segSize: scorer.segInputSize,
      maxInputPixels: deps.config.OVERMAP_MAX_INPUT_PIXELS, maxBytes: deps.config.OVERMAP_MAX_IMAGE_BYTES,
    });
  })));
  stage('fetch_decode', (performance.now() - tFetch) / 1000);

  const records: (ImageRecord | undefined)[] = new Array(data.keys.length);
  const okIdx: number[] = [];
  decoded.forEach((d, i) => {
    if (d.ok) okIdx.push(i);
    else records[i] = errorRecord(data.keys[i]!, labels[i] ?? null, d.status, d.error);
  });

  const overlays = ctx.run.params.overlays;
  const overlayJobs: { index: number; rgb: Uint8Array; maps: NonNullable<ImageScore['maps']> }[] = [];
  await deps.computeLock(async () => {
    const tScore = performance.now();
    const mb = deps.microBatch ?? scorer.microBatch ?? 16;
    for (let s = 0; s < okIdx.length; s += mb) {
      const idx = okIdx.slice(s, s + mb);
      const scores = scorer.scoreBatch(idx.map((i) => {
        const d = decoded[i]!;
        if (!d.ok) throw new Error('unreachable');
        const l = labels[i];
        return { rgb: d.rgb, segRgb: d.segRgb, key: data.keys[i]!, label: l == null ? null : ctx.classIndex.get(canonicalClass(l)) ?? null };
      }), { keepMaps: overlays !== 'none' });
      idx.forEach((i, j) => {
        const s = scores[j]!;
        records[i] = recordFor(data.keys[i]!, labels[i] ?? null, s, scorer.spec.classes, scorer.spec.threshold);
        const d = decoded[i]!;
        if (s.maps && d.ok && (overlays === 'all' || records[i]!.accepted === false)) overlayJobs.push({ index: i, rgb: d.rgb, maps: s.maps });
      });
      await yieldToLoop();
    }
    stage('score', (performance.now() - tScore) / 1000);
  });

  // Overlays first: a record names its overlay only once the PNG exists.
  await Promise.all(overlayJobs.map((o) => limit(async () => {
    const key = overlayKey(data.keys[o.index]!);
    await ctx.results.put(key, await overlayPng(o.rgb, scorer.inputSize, o.maps), { contentType: 'image/png' });
    records[o.index]!.overlay = key;
  })));

  const body = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const tWrite = performance.now();
  await ctx.results.put(partKey(data.batch), body, { contentType: 'application/x-ndjson' });
  stage('write', (performance.now() - tWrite) / 1000);

  const byStatus: Record<string, number> = {};
  for (const r of records) byStatus[r!.status] = (byStatus[r!.status] ?? 0) + 1;

  // Count completion once per batch, however often it runs.
  const keys = runKeys(data.runId);
  const added = await deps.redis.sadd(keys.done, String(data.batch));
  if (added === 1) {
    const m = deps.redis.multi();
    for (const [s, n] of Object.entries(byStatus)) m.hincrby(keys.statuses, s, n);
    await m.exec();
    for (const [s, n] of Object.entries(byStatus)) deps.metrics?.images.inc({ status: s }, n);
  }
  await maybeFinalize(deps.redis, deps.finalizeQueue, data.runId, data.results);
  stage('batch', (performance.now() - t0) / 1000);
  logger.debug({ run: data.runId, batch: data.batch, images: records.length, byStatus }, 'batch done');
  return { images: records.length, byStatus };
}
