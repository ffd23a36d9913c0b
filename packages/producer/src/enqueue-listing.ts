/**
 * The read side of a listing: the keys of the dataset's listing or of an S3 Inventory, from
 * the saved cursor on, filtered to image keys that pass isSafeKey and cut into batches of
 * `batchSize` (the last one may be short), each handed to the flusher with its labels.
 */
import {
  type BatchChunk,
  IMAGE_EXTENSIONS,
  InputError,
  type ObjectStore,
  isImageKey,
  isSafeKey,
  listAll,
} from '@overmap/shared';
import type { Labels } from './enqueue-labels';
import type { EnqueueCounts } from './enqueue-progress';
import { type Inventory, inventoryKeys } from './s3-inventory';

/** A listed key and the source's resume token after it. */
export interface ListedKey {
  key: string;
  after: string;
  /** a key the source itself marks unreadable (an inventory key with a malformed encoding) */
  unsafe?: boolean;
  /** a key the store refused: its real path leaves a local dataset (a link out of the folder or the allow-list) */
  outside?: boolean;
}

export interface KeySourceOptions {
  dataset: ObjectStore;
  inventory: Inventory | null;
  /** the saved cursor of a resumed listing */
  resumeAfter?: string;
  /** the listing ended before a crash: nothing is listed again */
  listingDone: boolean;
  /** inventory data files read at once */
  inventoryConcurrency?: number;
}

/**
 * The dataset's listing as a key source: the resume token is the key itself (listings are in
 * key order). Keys the store refused (links out of a local dataset) come in their place in
 * that order, marked `outside`, so that they are counted once even across a resume.
 */
async function* listingKeys(dataset: ObjectStore, resumeAfter: string | undefined): AsyncGenerator<ListedKey> {
  const refused: string[] = [];
  for await (const obj of listAll(dataset, '', resumeAfter, (k) => refused.push(k))) {
    while (refused.length && refused[0]! < obj.key) {
      const k = refused.shift()!;
      yield { key: k, after: k, outside: true };
    }
    yield { key: obj.key, after: obj.key };
  }
  for (const k of refused) yield { key: k, after: k, outside: true };
}

/**
 * Where the keys come from. A listing that ended before a crash is not listed again: its last
 * group may be short, so listing on would add batches to a group whose job already exists,
 * under the same id.
 */
export function keySource(s: KeySourceOptions): AsyncIterable<ListedKey> {
  if (s.listingDone) return (async function* () {})();
  if (s.inventory)
    return inventoryKeys(s.inventory, { resumeAfter: s.resumeAfter, concurrency: s.inventoryConcurrency });
  return listingKeys(s.dataset, s.resumeAfter);
}

/** Where the cut batches go: the enqueue's ChunkFlusher (chunks and jobs), or a rebuild of lost chunks. */
export interface BatchSink {
  add(chunk: BatchChunk, after: string): void;
  due(): boolean;
  flush(final?: boolean): Promise<void>;
}

export interface ListingSink {
  batchSize: number;
  labels: Labels | null;
  counts: EnqueueCounts;
  flusher: BatchSink;
}

/** Keys a listing skipped that the user should hear of: the first few of each kind. */
export interface SkippedKeys {
  /** keys that could leave the dataset prefix (absolute, or with '..'): the first 20 */
  unsafeKeys: string[];
  /** keys whose real path leaves a local dataset: how many, and the first 5 */
  outsideKeys: number;
  outsideExamples: string[];
}

/** Lists the source into batches; returns the keys it skipped that matter. The caller flushes the rest. */
export async function listBatches(source: AsyncIterable<ListedKey>, sink: ListingSink): Promise<SkippedKeys> {
  const { counts, flusher, labels } = sink;
  const unsafeKeys: string[] = [];
  const outsideExamples: string[] = [];
  let outsideKeys = 0;
  let current: string[] = [];
  let lastAfter: string | undefined;
  const cut = (after: string) => {
    const chunk: BatchChunk = { batch: counts.batches++, keys: current };
    if (labels) chunk.labels = current.map(labels.of);
    flusher.add(chunk, after);
    current = [];
  };
  for await (const obj of source) {
    counts.listed++;
    if (obj.outside) {
      counts.skipped++;
      if (++outsideKeys <= 5) outsideExamples.push(obj.key);
      continue;
    }
    if (!isImageKey(obj.key)) {
      counts.skipped++;
      continue;
    }
    if (!isSafeKey(obj.key) || obj.unsafe) {
      counts.skipped++;
      if (unsafeKeys.length < 20) unsafeKeys.push(obj.key);
      continue;
    }
    current.push(obj.key);
    lastAfter = obj.after;
    counts.images++;
    if (current.length === sink.batchSize) cut(obj.after);
    if (flusher.due()) await flusher.flush();
    else if (counts.listed % 1000 === 0) counts.report();
  }
  if (current.length) cut(lastAfter ?? '');
  return { unsafeKeys, outsideKeys, outsideExamples };
}

/** A listing that found no image key is refused, naming what was looked at. */
export function checkSomeImages(
  counts: EnqueueCounts,
  dataset: ObjectStore,
  inventory: Inventory | null,
  outsideKeys = 0,
): void {
  if (counts.batches > 0) return;
  if (inventory)
    throw new InputError(
      `no image keys under ${dataset.uri} in the inventory ${inventory.uri} (${counts.skipped} other keys skipped): check --inventory and the dataset prefix; images are ${IMAGE_EXTENSIONS.join(', ')}`,
    );
  throw new InputError(
    `no image keys under ${dataset.uri} (${counts.skipped} other keys skipped${outsideKeys ? `, ${outsideKeys} of them links that lead out of it` : ''}): check the dataset URI; images are ${IMAGE_EXTENSIONS.join(', ')}`,
  );
}
