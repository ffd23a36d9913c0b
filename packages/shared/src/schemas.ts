/**
 * Every payload that crosses a process boundary, as a zod schema: job payloads (parsed
 * first thing in the processor; a payload that fails is an UnrecoverableError), run.json,
 * records and the manifest (the names are the contract's).
 */
import { z } from 'zod';

/** An object key relative to the dataset prefix: no absolute paths, no '..', no NUL. */
export const ObjectKey = z.string().min(1).max(1024).refine(
  (k) => !k.startsWith('/') && !k.includes('\0') && !k.split(/[\\/]/).includes('..'),
  { message: "object keys must be relative and must not contain '..'" },
);

export const RunId = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'run ids use letters, digits, _ . - (at most 100)');

export const BatchJobSchema = z.object({
  runId: RunId,
  results: z.string().min(1),
  batch: z.number().int().min(0),
  keys: z.array(ObjectKey).min(1).max(10_000),
  labels: z.array(z.string().nullable()).optional(),
}).refine((j) => !j.labels || j.labels.length === j.keys.length, { message: 'labels must be as many as keys' });
export type BatchJob = z.infer<typeof BatchJobSchema>;

export const FinalizeJobSchema = z.object({ runId: RunId, results: z.string().min(1) });
export type FinalizeJob = z.infer<typeof FinalizeJobSchema>;

export const RunParamsSchema = z.object({
  batchSize: z.number().int().min(1),
  labels: z.string().nullable(),
  overlays: z.enum(['none', 'rejected', 'all']).default('none'),
  /** the model spec's acceptance threshold on scores.overmap */
  threshold: z.number().min(0).max(1),
});

export const RunJsonSchema = z.object({
  run_id: RunId,
  dataset: z.string(),
  results: z.string(),
  model: z.object({ uri: z.string(), hash: z.string(), name: z.string().optional() }),
  params: RunParamsSchema,
  tool_version: z.string(),
  created: z.string(),
  /** Set when the listing has finished: the number of batch jobs and image keys. */
  batches: z.number().int().min(0).optional(),
  images: z.number().int().min(0).optional(),
  skipped_keys: z.number().int().min(0).optional(),
});
export type RunJson = z.infer<typeof RunJsonSchema>;

export const STATUSES = ['ok', 'no_mask', 'read_error', 'decode_error', 'too_large'] as const;
export type ImageStatus = (typeof STATUSES)[number];

export const ScoresSchema = z.object({
  overmap: z.number().nullable(),
  gradcam_seg: z.number().nullable(),
  attention_seg: z.number().nullable(),
  gradcam_attention: z.number().nullable(),
  msp: z.number().nullable(),
  entropy: z.number().nullable(),
  margin: z.number().nullable(),
  mc_dropout: z.number().nullable().optional(),
  /** Grad-CAM of the given label's class against the mask, where a label is known */
  label_gradcam_seg: z.number().nullable().optional(),
});
export type Scores = z.infer<typeof ScoresSchema>;

export const PredictionSchema = z.object({
  class: z.string(),
  index: z.number().int(),
  top: z.array(z.object({ class: z.string(), p: z.number() })).min(3),
});
export type Prediction = z.infer<typeof PredictionSchema>;

export const RecordSchema = z.object({
  key: z.string(),
  label: z.string().nullable(),
  status: z.enum(STATUSES),
  error: z.string().nullable(),
  prediction: PredictionSchema.nullable(),
  scores: ScoresSchema,
  accepted: z.boolean().nullable(),
  /** Mask area as a fraction of the image, for inspection. */
  mask_fraction: z.number().nullable().optional(),
  overlay: z.string().nullable().optional(),
});
export type ImageRecord = z.infer<typeof RecordSchema>;

export const EMPTY_SCORES: Scores = {
  overmap: null, gradcam_seg: null, attention_seg: null, gradcam_attention: null, msp: null, entropy: null, margin: null,
};

export function errorRecord(key: string, label: string | null, status: ImageStatus, error: string): ImageRecord {
  return { key, label, status, error, prediction: null, scores: { ...EMPTY_SCORES }, accepted: null };
}
