/** What `enqueueDataset` is given and what it answers (enqueue-dataset.ts). */
import type { Decision, ImageCheckParams, Routing } from '@overmap/shared';
import type { Redis } from 'ioredis';
import type { LabelReport } from './enqueue-labels';
import type { EnqueueProgress } from './enqueue-progress';

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
  model: {
    uri: string;
    hash: string;
    name?: string;
    threshold: number;
    classes: string[];
    /** the spec's decision and routing, kept in run.json so that finalize can calibrate and route without the spec */
    decision?: Decision;
    routing?: Routing;
  };
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
  /** image checks' robust-z cut and the checks off (--image-z, --image-checks-off) */
  imageChecks?: ImageCheckParams;
  /** near duplicates: most differing perceptual-hash bits (--near-duplicate-bits) */
  nearDuplicateBits?: number;
  onProgress?: (p: EnqueueProgress) => void;
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
  /** listing chunks that were lost and rebuilt from a new listing (rebuild-chunks.ts) */
  rebuiltChunks?: number;
  /** keys skipped because they could escape the dataset prefix ('..', absolute) */
  unsafeKeys: string[];
  /** a local dataset's keys skipped because their real path leaves it (links out of the folder or the
   *  allow-list): how many, and the first few */
  outsideKeys: number;
  outsideExamples: string[];
  labels: LabelReport | null;
}
