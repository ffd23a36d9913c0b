/** manifest.json: written once, last, by the finalization; its presence means the run is complete. */
import { z } from 'zod';
import { RunId } from '../schemas';

const Counts = z.object({
  total: z.number().int().min(0),
  by_status: z.record(z.string(), z.number().int().min(0)),
  accepted: z.number().int().min(0),
  rejected: z.number().int().min(0),
});

export const ManifestSchema = z.object({
  run_id: RunId,
  dataset: z.string(),
  results: z.string(),
  created: z.string(),
  finished: z.string(),
  tool_version: z.string(),
  model: z.object({ uri: z.string(), hash: z.string(), name: z.string().optional() }),
  /** the acceptance threshold on scores.confidence */
  threshold: z.number(),
  counts: Counts,
  /** the part keys, relative to the results URI; or, for a run of many shards, the key of the file listing them */
  parts: z.union([z.array(z.string()), z.object({ list: z.string(), count: z.number().int() })]),
  /** the Parquet file, or the shards' glob (records/*.parquet), relative to the results URI */
  parquet: z.string(),
  /** the shards, where the records were compacted in parallel */
  shards: z.array(z.string()).optional(),
  summary: z.object({
    score_quantiles: z.record(z.string(), z.record(z.string(), z.number().nullable())),
    predicted_per_class: z.record(z.string(), z.number().int()),
    /** records whose label names a class of the model (labels naming none are not counted as right or wrong) */
    labelled: z.number().int().optional(),
    accuracy: z.number().optional(),
    accuracy_accepted: z.number().nullable().optional(),
    risk_coverage: z.array(z.record(z.string(), z.number().nullable())).optional(),
  }).passthrough(),
}).passthrough();
export type Manifest = z.infer<typeof ManifestSchema>;
