/** run.json: what a run is (written by enqueue before the first job, read by everyone after). */
import { z } from 'zod';
import { DecisionSchema } from '../decision-score';
import { ImageCheckParamsSchema } from '../image-issues';
import { RoutingSchema } from '../issue-routing';
import { RunId, RunInstance } from '../schemas';

/** Part files per Parquet shard, where OVERMAP_SHARD_PARTS does not say (the one spelling of 256). */
export const DEFAULT_SHARD_PARTS = 256;
/** Near-duplicate distance where --near-duplicate-bits does not say (chosen on the planted set: BENCHMARKS.md). */
export const DEFAULT_NEAR_DUPLICATE_BITS = 6;

export const RunParamsSchema = z.object({
  batchSize: z.number().int().min(1),
  labels: z.string().nullable(),
  overlays: z.enum(['none', 'rejected', 'all']).default('none'),
  /** the acceptance threshold on scores.confidence (the model spec's, copied here: one threshold per run) */
  threshold: z.number().min(0).max(1),
  /** part files per Parquet shard: a run of more batches is compacted in parallel into records/part-*.parquet */
  shardParts: z.number().int().min(1).default(DEFAULT_SHARD_PARTS),
  /** batches per batch job (the last job of a run may hold fewer): runs enqueued before groups had one */
  jobBatches: z.number().int().min(1).default(1),
  /** the first batches, one job each, before the groups start (queue.ts jobGroups); 0 in runs enqueued before */
  ungroupedBatches: z.number().int().min(0).default(0),
  /** the S3 Inventory manifest the keys came from (`--inventory`), where not the dataset's listing */
  inventory: z.string().optional(),
  /** image checks' cut and the checks switched off (image-issues.ts) */
  imageChecks: ImageCheckParamsSchema.default(() => ImageCheckParamsSchema.parse({})),
  /** near duplicates: the most differing bits of the 64-bit perceptual hashes of two copies (0: exact pixels only) */
  nearDuplicateBits: z.number().int().min(0).max(16).default(DEFAULT_NEAR_DUPLICATE_BITS),
  /** the spec's decision and issue routing (absent in older runs): finalize calibrates and routes with them */
  decision: DecisionSchema.optional(),
  routing: RoutingSchema.optional(),
});

export const RunJsonSchema = z.object({
  run_id: RunId,
  /** this enqueue of the run: job ids and Redis keys carry it, so a rerun never meets an old run's jobs */
  instance: RunInstance,
  dataset: z.string(),
  results: z.string(),
  model: z.object({ uri: z.string(), hash: z.string(), name: z.string().optional() }),
  /** the model's class names, in output order (so that reading a run needs no model) */
  classes: z.array(z.string()).min(2).optional(),
  params: RunParamsSchema,
  tool_version: z.string(),
  created: z.string(),
  /** Set when the listing has finished: the number of batch jobs and image keys. */
  batches: z.number().int().min(0).optional(),
  images: z.number().int().min(0).optional(),
  skipped_keys: z.number().int().min(0).optional(),
  /** Set when the run was re-pointed at another model before any record was written: the old model's hash, and when. */
  repointed: z.object({ from: z.string(), at: z.string() }).optional(),
  /** HMAC of the rest, where the fleet has OVERMAP_JOB_SECRET (job-signing.ts) */
  sig: z.string().optional(),
});
export type RunJson = z.infer<typeof RunJsonSchema>;
/** A run.json as written: the fields with defaults may be left out. */
export type RunJsonInput = z.input<typeof RunJsonSchema>;
