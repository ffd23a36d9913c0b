/**
 * `overmap enqueue`: streams the dataset's listing (one ListObjectsV2 page in memory at
 * a time), keeps image keys, cuts them into batches and adds batch jobs with addBulk as
 * it goes, with deterministic job ids. run.json is written before the first job; the
 * batch total is recorded when the listing ends. Re-running the same command adds
 * nothing twice: a finished listing is recorded in run.json, an interrupted one resumes
 * after the last enqueued batch (Redis keeps the cursor; without it, batches whose part
 * file exists are skipped).
 */
import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BATCH_QUEUE, type BatchJob, FINALIZE_QUEUE, IMAGE_EXTENSIONS, InputError, JOB_OPTIONS, JobName, type RunJson, RunResults,
  batchJobId, canonicalUri, finalizeJobId, folderLabel, isImageKey, listAll, maybeFinalize, openObject, openStore, parseLabelFile, runKeys,
} from '@overmap/shared';

export interface EnqueueOptions {
  dataset: string;
  results: string;
  runId?: string;
  batchSize: number;
  model: { uri: string; hash: string; name?: string; threshold: number; classes: string[] };
  labels: string | null; // 'folder' | URI | null
  overlays?: 'none' | 'rejected' | 'all';
  toolVersion: string;
  redis: Redis;
  prefix: string;
  /** jobs per addBulk call */
  bulkSize?: number;
  onProgress?: (p: EnqueueProgress) => void;
}

export interface EnqueueProgress { listed: number; images: number; skipped: number; batches: number; added: number; done: boolean }
export interface EnqueueResult extends EnqueueProgress { runId: string; resumed: boolean; alreadyComplete: boolean }

export function defaultRunId(dataset: string, results: string): string {
  return `run-${createHash('sha256').update(`${canonicalUri(dataset)}\n${canonicalUri(results)}`).digest('hex').slice(0, 12)}`;
}

async function loadLabels(spec: string | null): Promise<((key: string) => string | null) | null> {
  if (!spec) return null;
  if (spec === 'folder') return folderLabel;
  const { store, key: name } = openObject(spec.replace(/\/$/, ''), 'labels URI');
  const raw = await store.getIfExists(name);
  if (!raw) throw new InputError(`label file ${spec} not found: give --labels folder or the URI of a CSV/JSONL file`);
  const map = parseLabelFile(raw.toString('utf8'), name);
  return (key) => map.get(key) ?? null;
}

/**
 * A run id is derived from its URIs, so a user who deletes a run's results and enqueues
 * again reuses it. BullMQ keeps completed jobs (24 h here) and ignores adds with their ids,
 * and the old done-set would count the new run as finished: without this, such a rerun
 * would add nothing and never finish. Called only when the results hold no run.json.
 */
async function clearStaleRun(redis: Redis, prefix: string, runId: string): Promise<void> {
  const keys = runKeys(runId);
  const stale = await redis.hgetall(keys.state);
  if (Object.keys(stale).length === 0) return;
  const batches = Number(stale.total ?? stale.batches ?? 0);
  const queue = new Queue(BATCH_QUEUE, { connection: redis, prefix });
  const finalize = new Queue(FINALIZE_QUEUE, { connection: redis, prefix });
  try {
    for (let b = 0; b < batches; b += 100) {
      await Promise.all(Array.from({ length: Math.min(100, batches - b) }, (_, i) => queue.remove(batchJobId(runId, b + i)).catch(() => 0)));
    }
    await finalize.remove(finalizeJobId(runId)).catch(() => 0);
    await redis.del(keys.state, keys.done, keys.statuses);
  } finally {
    await Promise.all([queue.close(), finalize.close()]);
  }
}

export async function enqueueDataset(o: EnqueueOptions): Promise<EnqueueResult> {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > 10_000) {
    throw new InputError(`--batch-size ${o.batchSize} is out of range: use an integer from 1 to 10000`);
  }
  const dataset = openStore(o.dataset, {}, 'dataset URI');
  const results = RunResults.open(o.results);
  await dataset.check();
  const runId = o.runId ?? defaultRunId(o.dataset, o.results);
  const labelOf = await loadLabels(o.labels);
  const keys = runKeys(runId);

  let run: RunJson | undefined = await results.readRun();
  if (run) {
    if (run.run_id !== runId || run.dataset !== canonicalUri(o.dataset) || run.model.hash !== o.model.hash) {
      throw new InputError(`${results.uri} already holds run ${run.run_id} of ${run.dataset} with model ${run.model.hash.slice(0, 12)}: use another --out for a different run`);
    }
    if (run.batches !== undefined) {
      // Listing finished earlier: make sure the total is known to Redis, add nothing.
      await o.redis.hset(keys.state, { total: run.batches, images: run.images ?? 0, results: canonicalUri(o.results) });
      const p: EnqueueProgress = { listed: 0, images: run.images ?? 0, skipped: run.skipped_keys ?? 0, batches: run.batches, added: 0, done: true };
      o.onProgress?.(p);
      const fq = new Queue(FINALIZE_QUEUE, { connection: o.redis, prefix: o.prefix });
      await maybeFinalize(o.redis, fq, runId, results.uri).finally(() => fq.close());
      return { ...p, runId, resumed: false, alreadyComplete: true };
    }
  }
  if (!run) await clearStaleRun(o.redis, o.prefix, runId);
  await o.redis.hsetnx(keys.state, 'started', String(Date.now()));
  await o.redis.hset(keys.state, 'results', canonicalUri(o.results));
  const state = await o.redis.hgetall(keys.state);
  const resumed = !!run && state.cursor !== undefined;
  // Without Redis state for a run that has started, skip batches already written.
  const checkParts = !!run && !resumed;
  let batchIndex = resumed ? Number(state.batches ?? 0) : 0;
  let images = resumed ? Number(state.images ?? 0) : 0;
  let skipped = resumed ? Number(state.skipped ?? 0) : 0;
  let listed = 0, added = 0;

  const queue = new Queue(BATCH_QUEUE, { connection: o.redis, prefix: o.prefix });
  const finalizeQueue = new Queue(FINALIZE_QUEUE, { connection: o.redis, prefix: o.prefix });
  const bulkSize = o.bulkSize ?? 200;
  let pending: { batch: BatchJob; lastKey: string }[] = [];
  let current: string[] = [];

  const writeRun = async (extra: Partial<RunJson>) => {
    const base: RunJson = run ?? {
      run_id: runId, dataset: canonicalUri(o.dataset), results: canonicalUri(o.results),
      model: { uri: o.model.uri, hash: o.model.hash, ...(o.model.name ? { name: o.model.name } : {}) },
      classes: o.model.classes,
      params: { batchSize: o.batchSize, labels: o.labels, overlays: o.overlays ?? 'none', threshold: o.model.threshold },
      tool_version: o.toolVersion, created: new Date().toISOString(),
    };
    run = { ...base, ...extra };
    await results.writeRun(run);
  };

  const flush = async () => {
    if (pending.length === 0) return;
    if (!run) await writeRun({});
    let jobs = pending;
    if (checkParts) {
      const exists = await Promise.all(jobs.map((j) => results.partExists(j.batch.batch)));
      jobs = jobs.filter((_, i) => !exists[i]);
    }
    if (jobs.length) {
      const out = await queue.addBulk(jobs.map((j) => ({
        name: JobName.Batch, data: j.batch,
        opts: { jobId: batchJobId(runId, j.batch.batch), ...JOB_OPTIONS.batch },
      })));
      added += out.length;
    }
    const last = pending[pending.length - 1]!;
    await o.redis.hset(keys.state, { cursor: last.lastKey, batches: batchIndex, images, skipped });
    pending = [];
    o.onProgress?.({ listed, images, skipped, batches: batchIndex, added, done: false });
  };

  const cut = () => {
    const batch: BatchJob = { runId, results: canonicalUri(o.results), batch: batchIndex++, keys: current };
    if (labelOf) batch.labels = current.map(labelOf);
    pending.push({ batch, lastKey: current[current.length - 1]! });
    current = [];
  };

  try {
    for await (const obj of listAll(dataset, '', resumed ? state.cursor : undefined)) {
      listed++;
      if (!isImageKey(obj.key) || obj.key.split('/').includes('..')) { skipped++; continue; }
      current.push(obj.key);
      images++;
      if (current.length === o.batchSize) cut();
      if (pending.length >= bulkSize) await flush();
      else if (listed % 1000 === 0) o.onProgress?.({ listed, images, skipped, batches: batchIndex, added, done: false });
    }
    if (current.length) cut();
    await flush();
    if (batchIndex === 0) {
      throw new InputError(`no image keys under ${dataset.uri} (${skipped} other keys skipped): check the dataset URI; images are ${IMAGE_EXTENSIONS.join(', ')}`);
    }
    await writeRun({ batches: batchIndex, images, skipped_keys: skipped });
    await o.redis.hset(keys.state, { total: batchIndex, images, skipped });
    await maybeFinalize(o.redis, finalizeQueue, runId, results.uri);
    const p = { listed, images, skipped, batches: batchIndex, added, done: true };
    o.onProgress?.(p);
    return { ...p, runId, resumed, alreadyComplete: false };
  } finally {
    await Promise.all([queue.close(), finalizeQueue.close()]);
  }
}

