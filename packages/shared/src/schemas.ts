/**
 * Every payload that crosses a process boundary, as a zod schema: job payloads (parsed
 * first thing in the processor; a payload that fails is an UnrecoverableError), run.json,
 * records and the manifest (the names are the contract's).
 */
import { z } from 'zod';
import { SCORE_REGISTRY } from './score-registry';
import { scoreNamesOf, scoresSchemaOf } from './score-derivations';

/** Whether a listed key is safe to fetch: relative, no '..' segment (either separator), no NUL. */
export function isSafeKey(k: string): boolean {
  return (
    k.length > 0 &&
    k.length <= 1024 &&
    !k.startsWith('/') &&
    !k.startsWith('\\') &&
    !k.includes('\0') &&
    !k.split(/[\\/]/).includes('..')
  );
}

/** An object key relative to the dataset prefix: no absolute paths, no '..', no NUL. */
export const ObjectKey = z
  .string()
  .refine(isSafeKey, { message: "object keys must be relative and must not contain '..'" });

export const RunId = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'run ids use letters, digits, _ . - (at most 100)');
/** One enqueue of a run: a rerun after its results were deleted is another instance. */
export const RunInstance = z.string().regex(/^[a-z0-9]{6,16}$/, 'run instances are 6-16 lowercase letters or digits');

/**
 * A batch job names a group of consecutive batches only (`count` of them from `batch` on;
 * one where `count` is absent, as jobs were before groups); each batch's keys and labels are
 * its listing chunk under the results (results/layout.ts), written before the job. A BullMQ
 * job costs about a kilobyte of Redis whatever it holds, so one job covers a group of
 * batches (run.json `params.jobBatches`, from OVERMAP_JOB_IMAGES): Redis per queued image is
 * that kilobyte over the group's images. A lost job can be re-added from the results store alone.
 */
export const BatchJobSchema = z.object({
  runId: RunId,
  instance: RunInstance,
  results: z.string().min(1),
  /** the group's first batch */
  batch: z.number().int().min(0),
  /** batches in the group (signed with the rest: a job cannot be widened) */
  count: z.number().int().min(1).max(100_000).optional(),
  /** HMAC of the rest, where the fleet has OVERMAP_JOB_SECRET (job-signing.ts) */
  sig: z.string().optional(),
});
export type BatchJob = z.infer<typeof BatchJobSchema>;

/** A listing chunk: the keys of one batch, in listing order, and their labels where given. */
export const BatchChunkSchema = z
  .object({
    batch: z.number().int().min(0),
    keys: z.array(z.string()).min(1).max(10_000),
    labels: z.array(z.string().nullable()).optional(),
    sig: z.string().optional(),
  })
  .refine((c) => !c.labels || c.labels.length === c.keys.length, { message: 'labels must be as many as keys' });
export type BatchChunk = z.infer<typeof BatchChunkSchema>;

export const FinalizeJobSchema = z.object({
  runId: RunId,
  instance: RunInstance,
  results: z.string().min(1),
  sig: z.string().optional(),
});

/** Compaction of one shard's part files into records/part-NNNNN.parquet and its summary. */
export const CompactJobSchema = z.object({
  runId: RunId,
  instance: RunInstance,
  results: z.string().min(1),
  shard: z.number().int().min(0),
  sig: z.string().optional(),
});
export type CompactJob = z.infer<typeof CompactJobSchema>;
export type FinalizeJob = z.infer<typeof FinalizeJobSchema>;

export const STATUSES = ['ok', 'no_mask', 'read_error', 'decode_error', 'too_large'] as const;
export type ImageStatus = (typeof STATUSES)[number];

/** The statuses of an image that was scored: ok, and no_mask (scored, but no object found: overmap 0). */
export const SCORED_STATUSES = ['ok', 'no_mask'] as const satisfies readonly ImageStatus[];
export type ScoredStatus = (typeof SCORED_STATUSES)[number];
/** Whether a status is one of a scored image (the rest could not be read, decoded or sized): the one test of it. */
export function isScored(status: string): status is ScoredStatus {
  return (SCORED_STATUSES as readonly string[]).includes(status);
}

/**
 * A record's scores: one field per entry of the score registry (score-registry.ts), in its
 * order, which is also the Parquet columns' and the manifest's; what each score means is there.
 */
export const ScoresSchema = scoresSchemaOf(SCORE_REGISTRY);
export type Scores = z.infer<typeof ScoresSchema>;
export type ScoreName = keyof Scores;
/** Every score name, in record order. */
export const SCORE_NAMES: ScoreName[] = scoreNamesOf(SCORE_REGISTRY);

export const PredictionSchema = z.object({
  class: z.string(),
  index: z.number().int(),
  top: z.array(z.object({ class: z.string(), p: z.number() })).min(3),
});
export type Prediction = z.infer<typeof PredictionSchema>;

/** The record's `issue`: what a curator should do about the image (issue-routing.ts has the rule). */
export const ISSUES = ['none', 'label_error', 'unknown_object', 'off_object', 'low_confidence', 'bad_image'] as const;
export type Issue = (typeof ISSUES)[number];
export const IssueSchema = z.enum(ISSUES);

/** The image's own problems (image-issues.ts decides them against the run's distribution at finalize). */
export const IMAGE_ISSUES = [
  'dark',
  'light',
  'blurry',
  'low_information',
  'grayscale',
  'odd_size',
  'odd_aspect',
] as const;
export type ImageIssue = (typeof IMAGE_ISSUES)[number];

/** What the worker measured of the image (engine image-measures.ts has each one's definition). */
export const ImageMeasuresSchema = z.object({
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  format: z.string().nullable(),
  bytes: z.number().int().min(0),
  brightness: z.number(),
  luma_p05: z.number(),
  luma_p99: z.number(),
  entropy: z.number(),
  sharpness: z.number(),
  colorfulness: z.number(),
  content_hash: z.string().regex(/^[0-9a-f]{32}$/),
  phash: z.string().regex(/^[0-9a-f]{16}$/),
});
export type ImageMeasuresRecord = z.infer<typeof ImageMeasuresSchema>;

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
  /** the routed failure type (issue-routing.ts); absent in records written before routing existed */
  issue: IssueSchema.optional(),
  /** the image's measures; null where it could not be decoded (absent in records written before they existed) */
  image: ImageMeasuresSchema.nullable().optional(),
  /** the image's own problems, decided at finalize (empty before it, and when none) */
  image_issues: z.array(z.enum(IMAGE_ISSUES)).optional(),
  /** records that share it are exact or near copies of each other (null: no copy), set at finalize */
  duplicate_group: z.string().nullable().optional(),
});
export type ImageRecord = z.infer<typeof RecordSchema>;

/** Scores of an image that could not be scored: every required score null. */
export const EMPTY_SCORES: Scores = Object.fromEntries(
  SCORE_NAMES.filter((k) => !ScoresSchema.shape[k].isOptional()).map((k) => [k, null]),
) as Scores;

export function errorRecord(key: string, label: string | null, status: ImageStatus, error: string): ImageRecord {
  return {
    key,
    label,
    status,
    error,
    prediction: null,
    scores: { ...EMPTY_SCORES },
    accepted: null,
    issue: 'bad_image',
    image: null,
    image_issues: [],
    duplicate_group: null,
  };
}
