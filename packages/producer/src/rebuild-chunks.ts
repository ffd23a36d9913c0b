/**
 * Lost listing chunks, rebuilt. A run's chunks (listing/batch-NNNNNN.json: each batch's keys and
 * labels) are the only record of its cut once the listing has ended; a lifecycle rule or an
 * operator's `rm` that deletes one would leave its batch failing for good and the run unable to
 * finish. The cut is deterministic (the listing's key order, or the inventory's row order, the
 * same image filter and batch size), so listing the dataset again reproduces every chunk: the
 * missing ones are written again, signed as before, and the whole listing is checked against
 * what run.json recorded (its batch and image counts) so that a dataset that changed since is
 * refused rather than cut differently. `overmap retry` and a rerun of enqueue/run call it.
 */
import {
  type BatchChunk,
  InputError,
  LISTING_PREFIX,
  type RunJson,
  type RunResults,
  chunkKey,
  listAll,
  openStore,
} from '@overmap/shared';
import { loadLabels } from './enqueue-labels';
import { keySource, listBatches } from './enqueue-listing';
import { EnqueueCounts } from './enqueue-progress';
import { readInventory } from './s3-inventory';

/** The batches of a listed run whose chunk is missing (one listing of listing/, not a request per batch). */
export async function missingChunks(results: RunResults, batches: number): Promise<number[]> {
  const present = new Set<string>();
  for await (const o of listAll(results.store, LISTING_PREFIX)) present.add(o.key);
  const missing: number[] = [];
  for (let b = 0; b < batches; b++) if (!present.has(chunkKey(b))) missing.push(b);
  return missing;
}

export interface RebuildOptions {
  allowed?: string[];
  /** progress lines */
  log?: (line: string) => void;
}

/** Writes the run's missing chunks again from a new listing; returns how many. Refuses a dataset that changed. */
export async function rebuildMissingChunks(results: RunResults, run: RunJson, o: RebuildOptions = {}): Promise<number> {
  if (run.batches === undefined) return 0;
  const missing = new Set(await missingChunks(results, run.batches));
  if (missing.size === 0) return 0;
  o.log?.(
    `${run.run_id}: ${missing.size} listing chunk(s) missing (first: ${chunkKey(Math.min(...missing))}): listing ${run.dataset} again to rebuild them`,
  );
  const inventory = run.params.inventory ? await readInventory(run.params.inventory, run.dataset) : null;
  const dataset = openStore(run.dataset, { allowed: o.allowed }, 'dataset URI');
  const labels = await loadLabels(run.params.labels);
  const counts = new EnqueueCounts();
  let pending: BatchChunk[] = [];
  let written = 0;
  const sink = {
    add: (chunk: BatchChunk) => {
      if (missing.has(chunk.batch)) pending.push(chunk);
    },
    due: () => pending.length >= 64,
    flush: async () => {
      // Chunks are written only once the whole listing has matched run.json: a changed dataset writes nothing.
    },
  };
  await listBatches(keySource({ dataset, inventory, listingDone: false }), {
    batchSize: run.params.batchSize,
    labels,
    counts,
    flusher: sink,
  });
  if (counts.batches !== run.batches || (run.images !== undefined && counts.images !== run.images))
    throw new InputError(
      `${run.dataset} has changed since run ${run.run_id} was listed (${run.images} images in ${run.batches} batches then, ` +
        `${counts.images} in ${counts.batches} now), so its ${missing.size} lost listing chunk(s) cannot be rebuilt: score the dataset into a new --out`,
    );
  for (const chunk of pending) {
    await results.writeChunk(chunk);
    written++;
  }
  pending = [];
  return written;
}
