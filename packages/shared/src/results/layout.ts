/**
 * The results layout under a results URI (CONTRACT.md), as keys relative to it. Nothing
 * else in the project spells these names.
 */
export const RUN_JSON = 'run.json';
export const MANIFEST_JSON = 'manifest.json';
export const RECORDS_PARQUET = 'records.parquet';
export const PARTS_PREFIX = 'parts/';
export const OVERLAYS_PREFIX = 'overlays/';
export const LISTING_PREFIX = 'listing/';
export const FAILURES_JSONL = 'failures.jsonl';

/** `parts/batch-000042.jsonl`: one file per batch, so a retried batch overwrites its own file. */
export const partKey = (batch: number) => `${PARTS_PREFIX}batch-${String(batch).padStart(6, '0')}.jsonl`;

export const batchFromPartKey = (key: string): number | undefined => {
  const m = /^parts\/batch-(\d{6,})\.jsonl$/.exec(key);
  return m ? Number(m[1]) : undefined;
};

/** `overlays/<key>.png`, the whole key kept (x.webp and x.avif get two files): overlays sit like the dataset. */
export const overlayKey = (key: string) => `${OVERLAYS_PREFIX}${key}.png`;

/** `listing/batch-000042.json`: the keys (and labels) of batch 42, written by enqueue before its job. */
export const chunkKey = (batch: number) => `${LISTING_PREFIX}batch-${String(batch).padStart(6, '0')}.json`;

/** Records of a large run: Parquet shards, each compacted from a range of part files by one job. */
export const RECORDS_PREFIX = 'records/';
export const shardKey = (shard: number) => `${RECORDS_PREFIX}part-${String(shard).padStart(5, '0')}.parquet`;
export const shardSummaryKey = (shard: number) => `${RECORDS_PREFIX}summary-${String(shard).padStart(5, '0')}.json`;
/** The list of part files of a run too large to name them in the manifest. */
export const PARTS_LIST = 'parts.txt';

/** duplicates.parquet (one shard) or duplicates/part-NNNNN.parquet: one row per image that has a copy. */
export const DUPLICATES_PARQUET = 'duplicates.parquet';
export const DUPLICATES_PREFIX = 'duplicates/';
export const duplicatesShardKey = (shard: number) => `${DUPLICATES_PREFIX}part-${String(shard).padStart(5, '0')}.parquet`;
/** The run-wide step's output for a sharded run: the image-check fences and each shard's duplicate groups. */
export const ANNOTATIONS_PREFIX = 'annotations/';
export const annotationsKey = (shard: number) => `${ANNOTATIONS_PREFIX}shard-${String(shard).padStart(5, '0')}.json`;
