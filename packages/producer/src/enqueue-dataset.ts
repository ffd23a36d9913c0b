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
 */
import { createHash, randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import {
  BATCH_QUEUE,
  type BatchChunk,
  FINALIZE_QUEUE,
  IMAGE_EXTENSIONS,
  InputError,
  type RunJson,
  RunResults,
  batchGroupJob,
  canonicalUri,
  checkAllowed,
  configValue,
  isImageKey,
  isSafeKey,
  groupStart,
  jobBatchesFor,
  jobCount,
  listAll,
  maybeFinalize,
  openStore,
  runInstanceKey,
  runKeys,
} from '@overmap/shared';
import { type LabelReport, LabelTally, loadLabels } from './enqueue-labels';
import { recoverRun } from './recover-run';
import { type Inventory, inventoryKeys, readInventory } from './s3-inventory';

export interface EnqueueOptions {
  /** the dataset URI; with `inventory`, optional (default s3://<sourceBucket>/) and within the inventoried bucket */
  dataset?: string;
  /** URI of an S3 Inventory manifest.json: its data files list the keys instead of the dataset's listing */
  inventory?: string;
  /** inventory data files read at once (each one's keys are held in memory until its turn) */
  inventoryConcurrency?: number;
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
  /** OVERMAP_JOB_IMAGES: images per job, in whole batches (default: the environment's, else 1024) */
  jobImages?: number;
  /** batches at the start that get a job each (default OVERMAP_UNGROUPED_BATCHES) */
  ungroupedBatches?: number;
  /** OVERMAP_JOB_SECRET: jobs, chunks and run.json are signed */
  secret?: string;
  /** OVERMAP_ALLOWED_PREFIXES, parsed: the dataset and results must lie under one */
  allowed?: string[];
  /** part files per Parquet shard (OVERMAP_SHARD_PARTS) */
  shardParts?: number;
  onProgress?: (p: EnqueueProgress) => void;
}

export interface EnqueueProgress {
  listed: number;
  images: number;
  skipped: number;
  batches: number;
  added: number;
  done: boolean;
}
export interface EnqueueResult extends EnqueueProgress {
  runId: string;
  /** the dataset URI of the run (canonical): with --inventory and no dataset, the source bucket's */
  dataset: string;
  /** batches per job */
  jobBatches: number;
  /** batch jobs of the run (groups) */
  jobs: number;
  resumed: boolean;
  alreadyComplete: boolean;
  /** failed batches put back in the queue (a finished listing being recovered) */
  retried: number;
  /** keys skipped because they could escape the dataset prefix ('..', absolute) */
  unsafeKeys: string[];
  labels: LabelReport | null;
}

export function defaultRunId(dataset: string, results: string): string {
  return `run-${createHash('sha256')
    .update(`${canonicalUri(dataset)}\n${canonicalUri(results)}`)
    .digest('hex')
    .slice(0, 12)}`;
}

/** The dataset's listing as a key source: the resume token is the key itself (listings are in key order). */
async function* listingKeys(
  dataset: ReturnType<typeof openStore>,
  resumeAfter: string | undefined,
): AsyncGenerator<{ key: string; after: string }> {
  for await (const obj of listAll(dataset, '', resumeAfter)) yield { key: obj.key, after: obj.key };
}

/** A results URI inside the dataset would be listed as images by the next run: refused. */
function checkOutsideDataset(dataset: string, results: string): void {
  const d = canonicalUri(dataset),
    r = canonicalUri(results);
  if (r.startsWith(d)) {
    throw new InputError(
      `--out ${results} is inside the dataset ${dataset}: the next run would score its own results; choose an --out outside the dataset`,
    );
  }
}

/** A reused --out must mean the same run: name every parameter that differs. */
function checkSameRun(run: RunJson, o: EnqueueOptions & { dataset: string }, runId: string, uri: string): void {
  const diffs: string[] = [];
  const cmp = (what: string, had: unknown, now: unknown) => {
    if (JSON.stringify(had) !== JSON.stringify(now))
      diffs.push(`${what} ${JSON.stringify(had)} -> ${JSON.stringify(now)}`);
  };
  cmp('run id', run.run_id, runId);
  cmp('dataset', run.dataset, canonicalUri(o.dataset));
  cmp('model hash', run.model.hash.slice(0, 12), o.model.hash.slice(0, 12));
  cmp('--labels', run.params.labels, o.labels);
  cmp('--overlays', run.params.overlays, o.overlays ?? 'none');
  cmp('--batch-size', run.params.batchSize, o.batchSize);
  cmp('--inventory', run.params.inventory ?? null, o.inventory ? canonicalInventory(o.inventory) : null);
  if (diffs.length)
    throw new InputError(
      `${uri} already holds run ${run.run_id} with other parameters (${diffs.join('; ')}): rerun with the same ones to resume it, or use another --out`,
    );
}

/** The manifest URI as run.json keeps it (a plain path made absolute). */
const canonicalInventory = (uri: string) => canonicalUri(uri).replace(/\/$/, '');

export async function enqueueDataset(opts: EnqueueOptions): Promise<EnqueueResult> {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1 || opts.batchSize > 10_000) {
    throw new InputError(`--batch-size ${opts.batchSize} is out of range: use an integer from 1 to 10000`);
  }
  const jobImages = opts.jobImages ?? configValue('OVERMAP_JOB_IMAGES');
  if (!Number.isInteger(jobImages) || jobImages < 1)
    throw new InputError(
      `OVERMAP_JOB_IMAGES=${jobImages} is not a positive integer: unset it (1024) or give images per job`,
    );
  let inventory: Inventory | null = null;
  if (opts.inventory) inventory = await readInventory(opts.inventory, opts.dataset);
  else if (!opts.dataset)
    throw new InputError(
      'no dataset URI: give one (s3://bucket/prefix/, file:///dir/ or a path), or --inventory <manifest.json URI>',
    );
  const o = { ...opts, dataset: inventory ? inventory.dataset : opts.dataset! };
  checkOutsideDataset(o.dataset, o.results);
  checkAllowed(o.dataset, o.allowed ?? [], 'dataset');
  checkAllowed(o.results, o.allowed ?? [], 'results URI');
  const dataset = openStore(o.dataset, {}, 'dataset URI');
  const results = RunResults.open(o.results, { secret: o.secret });
  await dataset.check();
  const runId = o.runId ?? defaultRunId(o.dataset, o.results);
  const labels = await loadLabels(o.labels);
  const tally = labels && o.labels ? new LabelTally(o.labels, labels, o.model.classes) : null;

  const existing = await results.readRun();
  if (existing) checkSameRun(existing, o, runId, results.uri);
  let run: RunJson = existing ?? {
    run_id: runId,
    instance: randomBytes(5).toString('hex'),
    dataset: canonicalUri(o.dataset),
    results: canonicalUri(o.results),
    model: { uri: o.model.uri, hash: o.model.hash, ...(o.model.name ? { name: o.model.name } : {}) },
    classes: o.model.classes,
    params: {
      batchSize: o.batchSize,
      labels: o.labels,
      overlays: o.overlays ?? 'none',
      threshold: o.model.threshold,
      shardParts: o.shardParts ?? 256,
      jobBatches: jobBatchesFor(o.batchSize, jobImages),
      ungroupedBatches: o.ungroupedBatches ?? configValue('OVERMAP_UNGROUPED_BATCHES'),
      ...(o.inventory ? { inventory: canonicalInventory(o.inventory) } : {}),
    },
    tool_version: o.toolVersion,
    created: new Date().toISOString(),
  };
  const { instance } = run;
  // A resumed run keeps its grouping (job ids name a group's first batch), whatever the environment says now.
  const { jobBatches } = run.params;
  const grouping = { jobBatches, ungroupedBatches: run.params.ungroupedBatches };
  const jobsOf = (batches: number) => jobCount(batches, grouping);
  const keys = runKeys(runId, instance);
  await o.redis.set(runInstanceKey(runId), instance);
  await o.redis.hsetnx(keys.state, 'started', String(Date.parse(run.created)));
  await o.redis.hset(keys.state, 'results', canonicalUri(o.results));

  const queue = new Queue(BATCH_QUEUE, { connection: o.redis, prefix: o.prefix });
  const finalizeQueue = new Queue(FINALIZE_QUEUE, { connection: o.redis, prefix: o.prefix });
  try {
    if (existing?.batches !== undefined) {
      // The listing finished earlier: recover from the results store whatever Redis lost.
      const r = await recoverRun({
        results,
        run: existing,
        redis: o.redis,
        queues: { queue, finalizeQueue },
        secret: o.secret,
      });
      const p: EnqueueProgress = {
        listed: 0,
        images: existing.images ?? 0,
        skipped: existing.skipped_keys ?? 0,
        batches: existing.batches,
        added: r.added,
        done: true,
      };
      o.onProgress?.(p);
      return {
        ...p,
        runId,
        dataset: run.dataset,
        jobBatches,
        jobs: jobsOf(existing.batches),
        resumed: false,
        alreadyComplete: true,
        retried: r.retried,
        unsafeKeys: [],
        labels: null,
      };
    }

    const state = await o.redis.hgetall(keys.state);
    const resumed = !!existing && state.cursor !== undefined;
    // Without Redis state for a run that has started, skip groups already written.
    const checkParts = !!existing && !resumed;
    let batchIndex = resumed ? Number(state.batches ?? 0) : 0;
    let images = resumed ? Number(state.images ?? 0) : 0;
    let skipped = resumed ? Number(state.skipped ?? 0) : 0;
    let listed = 0,
      added = 0,
      runWritten = !!existing;
    const unsafeKeys: string[] = [];
    const bulkSize = o.bulkSize ?? 50;
    const writes = pLimit(16);
    // `after`: the source's resume token after the chunk's last key (Redis keeps it as the cursor)
    let pending: { chunk: BatchChunk; after: string }[] = [];
    let current: string[] = [];
    let lastAfter: string | undefined;

    /** Writes the pending chunks, adds their groups' jobs, saves the cursor; `final`: the listing has ended (saved with the cursor, in one HSET). */
    const flush = async (final = false) => {
      if (pending.length === 0) {
        if (final) await o.redis.hset(keys.state, { listingDone: '1', batches: batchIndex, images, skipped });
        return;
      }
      if (!runWritten) {
        // Before the first chunk: an empty dataset, or labels that fit nothing, write nothing.
        pending.forEach((p) => tally?.count(p.chunk));
        tally?.check(images, pending[0]!.chunk.keys[0]!);
        await results.writeRun(run);
        runWritten = true;
      } else {
        pending.forEach((p) => tally?.count(p.chunk));
      }
      await Promise.all(pending.map((p) => writes(() => results.writeChunk(p.chunk))));
      // Whole groups only (flush is called at group boundaries; the listing's last group may be short).
      const groups = new Map<number, number>();
      for (const p of pending) {
        const first = groupStart(p.chunk.batch, grouping);
        groups.set(first, (groups.get(first) ?? 0) + 1);
      }
      let todo = [...groups];
      if (checkParts) {
        const written = await Promise.all(
          todo.map(async ([first, count]) => {
            for (let b = first; b < first + count; b++) if (!(await results.partExists(b))) return false;
            return true;
          }),
        );
        todo = todo.filter((_, i) => !written[i]);
      }
      if (todo.length) {
        const run = { runId, instance, results: canonicalUri(o.results) };
        const out = await queue.addBulk(todo.map(([first, count]) => batchGroupJob(run, first, count, o.secret)));
        added += out.length;
      }
      await o.redis.hset(keys.state, {
        cursor: pending[pending.length - 1]!.after,
        batches: batchIndex,
        images,
        skipped,
        ...(final ? { listingDone: '1' } : {}),
      });
      pending = [];
      o.onProgress?.({ listed, images, skipped, batches: batchIndex, added, done: false });
    };

    const cut = (after: string) => {
      const chunk: BatchChunk = { batch: batchIndex++, keys: current };
      if (labels) chunk.labels = current.map(labels.of);
      pending.push({ chunk, after });
      current = [];
    };

    // A listing that ended before a crash (its last group may be short, so listing on would add
    // batches to a group whose job already exists, under the same id): not listed again.
    const listingDone = resumed && state.listingDone === '1';
    const source = listingDone
      ? (async function* () {})()
      : inventory
        ? inventoryKeys(inventory, {
            resumeAfter: resumed ? state.cursor : undefined,
            concurrency: o.inventoryConcurrency,
          })
        : listingKeys(dataset, resumed ? state.cursor : undefined);
    for await (const obj of source) {
      listed++;
      if (!isImageKey(obj.key)) {
        skipped++;
        continue;
      }
      if (!isSafeKey(obj.key) || ('unsafe' in obj && obj.unsafe)) {
        skipped++;
        if (unsafeKeys.length < 20) unsafeKeys.push(obj.key);
        continue;
      }
      current.push(obj.key);
      lastAfter = obj.after;
      images++;
      if (current.length === o.batchSize) cut(obj.after);
      // A flush ends on a group boundary, so that a resumed listing starts a new group.
      if (pending.length >= bulkSize * jobBatches && groupStart(batchIndex, grouping) === batchIndex) await flush();
      else if (listed % 1000 === 0)
        o.onProgress?.({ listed, images, skipped, batches: batchIndex, added, done: false });
    }
    if (current.length) cut(lastAfter ?? '');
    await flush(true);
    if (batchIndex === 0) {
      if (inventory)
        throw new InputError(
          `no image keys under ${dataset.uri} in the inventory ${inventory.uri} (${skipped} other keys skipped): check --inventory and the dataset prefix; images are ${IMAGE_EXTENSIONS.join(', ')}`,
        );
      throw new InputError(
        `no image keys under ${dataset.uri} (${skipped} other keys skipped): check the dataset URI; images are ${IMAGE_EXTENSIONS.join(', ')}`,
      );
    }
    run = { ...run, batches: batchIndex, images, skipped_keys: skipped };
    await results.writeRun(run);
    await o.redis.hset(keys.state, { total: batchIndex, images, skipped, shardParts: run.params.shardParts });
    if (checkParts)
      await recoverRun({ results, run, redis: o.redis, queues: { queue, finalizeQueue }, secret: o.secret });
    else await maybeFinalize(o.redis, finalizeQueue, { runId, instance, results: results.uri }, o.secret);
    const p = { listed, images, skipped, batches: batchIndex, added, done: true };
    o.onProgress?.(p);
    const report = tally ? (resumed ? tally.report : tally.finish()) : null;
    return {
      ...p,
      runId,
      dataset: run.dataset,
      jobBatches,
      jobs: jobsOf(batchIndex),
      resumed,
      alreadyComplete: false,
      retried: 0,
      unsafeKeys,
      labels: report,
    };
  } finally {
    await Promise.all([queue.close(), finalizeQueue.close()]);
  }
}
