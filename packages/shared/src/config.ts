/**
 * Configuration from the environment, read once and validated: a bad value fails at
 * start with every bad variable listed. The deploy checks compare the variables the
 * manifests set against ENV_VARS.
 */
import { z } from 'zod';
import { InputError } from './errors';
import { DEFAULT_SHARD_PARTS } from './results/run-json';

/** The image limits where OVERMAP_MAX_INPUT_PIXELS / OVERMAP_MAX_IMAGE_BYTES do not say (the report uses them too). */
export const DEFAULT_IMAGE_LIMITS = { maxInputPixels: 50_000_000, maxBytes: 64 * 1024 * 1024 } as const;

const int = (d: number, min = 0) => z.coerce.number().int().min(min).default(d);

export const ConfigSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .default('redis://127.0.0.1:6379'),
  S3_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().optional(),
  AWS_DEFAULT_REGION: z.string().optional(),
  /** onnx (ONNX Runtime for the models, TF.js's fastest for the rest), or a TF.js backend only */
  OVERMAP_BACKEND: z.enum(['onnx', 'tensorflow', 'wasm', 'cpu']).optional(),
  /** ONNX Runtime intra-op threads per worker process (1: run one process per core instead) */
  OVERMAP_ONNX_THREADS: int(1, 1),
  /** ONNX Runtime execution providers, in order of preference (e.g. cuda,cpu on the GPU image) */
  OVERMAP_ONNX_PROVIDERS: z
    .string()
    .regex(/^[a-z0-9_]+(,[a-z0-9_]+)*$/, 'comma-separated provider names, e.g. cuda,cpu')
    .default('cpu'),
  OVERMAP_MODEL: z.string().optional(),
  OVERMAP_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('bull'),
  /** Jobs (groups of batches) a worker holds at once: 2 lets the next one download while one computes. */
  OVERMAP_WORKER_CONCURRENCY: int(2, 1),
  OVERMAP_DOWNLOAD_CONCURRENCY: int(16, 1),
  /**
   * Seconds a worker may take to finish its jobs after SIGTERM (past it, another worker resumes
   * them at their first batch not done).
   */
  OVERMAP_GRACE_SECONDS: int(120, 1),
  /** BullMQ job lock: a worker that dies holding a batch loses it to another after this. */
  OVERMAP_LOCK_SECONDS: int(60, 1),
  /** sharp's limitInputPixels: larger images become `too_large` records. */
  OVERMAP_MAX_INPUT_PIXELS: int(DEFAULT_IMAGE_LIMITS.maxInputPixels, 1),
  OVERMAP_MAX_IMAGE_BYTES: int(DEFAULT_IMAGE_LIMITS.maxBytes, 1),
  /**
   * Memory a worker may spend on downloads in flight (all its batches): with the size limit, it
   * sets how many run at once.
   */
  OVERMAP_DOWNLOAD_BUDGET_MB: int(512, 1),
  /** 0: pick a free port (printed in the log): several workers on one host */
  METRICS_PORT: int(9464, 0),
  /** where /metrics, /healthz, /readyz listen: loopback unless told (the k8s manifests say 0.0.0.0) */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds a loaded model may stay unused in a worker before it is disposed (a fleet serving many runs). */
  OVERMAP_SCORER_IDLE_SECONDS: int(600, 1),
  /**
   * Shared by producer and workers (a Kubernetes Secret): jobs, listing chunks and run.json are
   * signed with it and workers refuse anything unsigned.
   */
  OVERMAP_JOB_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  /** Comma-separated dataset/results URI prefixes a worker may touch (empty: any). */
  OVERMAP_ALLOWED_PREFIXES: z.string().optional(),
  /**
   * Part files per Parquet shard (set at enqueue, kept in run.json): larger runs are compacted in
   * parallel into records/part-*.parquet.
   */
  OVERMAP_SHARD_PARTS: int(DEFAULT_SHARD_PARTS, 1),
  /** Images per batch job (set at enqueue, kept in run.json as whole batches per job, at least one): a job costs
   *  about a kilobyte of Redis, so 1024 images per job is about one byte per queued image. A retried job skips
   *  its batches already done. */
  OVERMAP_JOB_IMAGES: int(1024, 1),
  /** Batches at the start of a run that get a job each before grouping starts (256 × 64 = 16,384 images):
   *  a small run then has enough jobs for every worker; grouping only matters for Redis at scale. */
  OVERMAP_UNGROUPED_BATCHES: int(256, 0),
  /** Any non-empty value: print stack traces with unexpected errors. */
  OVERMAP_DEBUG: z.string().optional(),
});
export type Config = z.infer<typeof ConfigSchema>;
export const ENV_VARS = Object.keys(ConfigSchema.shape);
/** Every setting's default, from the schema: for libraries called without a resolved configuration. */
export const CONFIG_DEFAULTS: Config = ConfigSchema.parse({});

/** A value as an error may print it: never a secret (URLs lose their password, secret-looking
 *  variables their value). */
function shown(name: string, raw: unknown): string {
  if (/SECRET|PASSWORD|TOKEN/.test(name)) return '"***"';
  return JSON.stringify(String(raw ?? '').replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@'));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked = Object.fromEntries(
    ENV_VARS.filter((k) => env[k] !== undefined && env[k] !== '').map((k) => [k, env[k]]),
  );
  const r = ConfigSchema.safeParse(picked);
  if (!r.success) {
    const bad = r.error.issues.map((i) => {
      const name = String(i.path[0]);
      return `${i.path.join('.')}=${shown(name, picked[name])} (${i.message})`;
    });
    throw new InputError(`bad environment: ${bad.join('; ')}`);
  }
  return r.data;
}

/**
 * One variable through the schema, for settings read before loadConfig runs (the logger's
 * level, the queue prefix). A bad value is the same one-line error as loadConfig's, never a
 * silent fall back to the default.
 */
export function configValue<K extends keyof Config>(name: K, env: NodeJS.ProcessEnv = process.env): Config[K] {
  const field = ConfigSchema.shape[name];
  const raw = env[name];
  const r = field.safeParse(raw === '' ? undefined : raw);
  if (!r.success) {
    throw new InputError(`bad environment: ${name}=${shown(name, raw)} (${r.error.issues[0]?.message ?? 'invalid'})`);
  }
  return r.data as Config[K];
}
