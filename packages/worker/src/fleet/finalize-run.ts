/**
 * Finalization: once every batch's part file exists, stream the parts (one in memory at a
 * time) into Parquet while summarising (results/run-summary.ts), then write manifest.json
 * (create-once, last: its presence means the run is complete). A run of one shard is
 * finalized by one job into records.parquet; a larger one is compacted by one job per shard
 * (records/part-NNNNN.parquet + a summary), in parallel across the workers, and the
 * finalization merges the shard summaries. A second finalization finds the manifest and
 * does nothing.
 */
import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { checkJobSignature } from './job-guard';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Annotator, type RunAnnotations, type ShardAnnotations, annotateRun, shardAnnotations } from './annotate-run';
import {
  CompactJobSchema,
  DUPLICATES_PARQUET,
  DUPLICATES_PREFIX,
  duplicatesParquet,
  enqueueCompactions,
  FinalizeJobSchema,
  type ImageRecord,
  InputError,
  type Manifest,
  RECORDS_PREFIX,
  type RunJson,
  type RunRef,
  RunResults,
  RunSummary,
  checkAllowed,
  logger,
  markShardDone,
  partKey,
  recordsParquetStream,
  shardCount,
  shardKey,
} from '@overmap/shared';

export interface FinalizeResult {
  manifestWritten: boolean;
  total: number;
}
export interface Guard {
  secret?: string;
  allowed?: string[];
}

/** The run's results and run.json, behind the job's signature and the allow-list. */
async function openRun(
  data: RunRef,
  guard: Guard,
): Promise<{ results: RunResults; run: RunJson & { batches: number; classes: string[] } }> {
  try {
    checkAllowed(data.results, guard.allowed ?? [], 'results URI');
    const results = RunResults.open(data.results, { secret: guard.secret, allowed: guard.allowed });
    const run = await results.requireRun(data.runId);
    if (run.instance !== data.instance)
      throw new InputError(
        `job for instance ${data.instance} of run ${data.runId}, but ${data.results} holds instance ${run.instance}: stale`,
      );
    if (!run.classes)
      throw new InputError(
        `run ${data.runId}: run.json has no class list (enqueued by an older version): enqueue the run again into a new --out`,
      );
    if (run.batches === undefined) throw new Error(`run ${data.runId}: the listing has not finished yet`);
    return { results, run: run as RunJson & { batches: number; classes: string[] } };
  } catch (e) {
    if (e instanceof InputError) throw new UnrecoverableError(e.message);
    throw e;
  }
}

/**
 * Streams part files [from, to) through the summary into one Parquet object: read one part
 * at a time, encoded one row group at a time, and written to the store as it is produced (a
 * file, or an S3 multipart upload); a failure part way leaves no object.
 */
async function compactParts(
  results: RunResults,
  from: number,
  to: number,
  summary: RunSummary,
  shard?: number,
  annotations?: { shard: ShardAnnotations; run: RunJson & { classes: string[] } },
): Promise<string> {
  const annotator = annotations && new Annotator(annotations.shard, annotations.run);
  async function* records(): AsyncGenerator<ImageRecord> {
    const seen = new Set<string>();
    for (let b = from; b < to; b++) {
      let part = await results.readPart(b);
      if (annotator) {
        // The part file gets its records' image_issues and duplicate_group too (rewritten only where they changed).
        const a = annotator.part(part);
        if (a.changed) await results.writePart(b, a.records);
        part = a.records;
      }
      for (const r of part) {
        if (seen.has(r.key)) throw new UnrecoverableError(`key ${r.key} appears in two part files`);
        seen.add(r.key);
        summary.add(r);
        yield r;
      }
    }
  }
  const key = await results.putParquet(recordsParquetStream(records()), shard);
  if (annotator) await results.putDuplicates(duplicatesParquet(annotator.rows), shard);
  return key;
}

/** What the manifest says of the run-wide step. */
function annotationFields(
  a: Pick<RunAnnotations, 'fences' | 'nearDuplicateBits' | 'stats' | 'decision'>,
  shards: number,
) {
  return {
    ...(a.decision ? { decision: { ...a.decision.rule, calibrated_on: 'run', pool: a.decision.pool } } : {}),
    duplicates: {
      parquet: shards === 1 ? DUPLICATES_PARQUET : `${DUPLICATES_PREFIX}*.parquet`,
      near_duplicate_bits: a.nearDuplicateBits,
      ...a.stats,
    },
    image_checks: a.fences,
  };
}

/**
 * The run-wide step of a run of several shards: the image checks' fences and the duplicate
 * groups (annotate-run.ts), written per shard under annotations/; then the compactions.
 */
export async function groupRun(
  job: Pick<Job, 'data'>,
  deps: { finalizeQueue: Queue },
  guard: Guard = {},
): Promise<{ groups: number }> {
  checkJobSignature(job.data, guard.secret, 'group');
  const parsed = FinalizeJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed group job payload: ${parsed.error.message}`);
  const { results, run } = await openRun(parsed.data, guard);
  const a = await annotateRun(results, run);
  const shards = shardCount(run.batches, run.params.shardParts);
  for (let s = 0; s < shards; s++) {
    const from = s * run.params.shardParts;
    await results.writeAnnotations(s, shardAnnotations(a, from, Math.min(run.batches, from + run.params.shardParts)));
  }
  await results.writeAnnotations('run', {
    fences: a.fences,
    nearDuplicateBits: a.nearDuplicateBits,
    stats: a.stats,
    ...(a.decision ? { decision: a.decision } : {}),
  });
  await enqueueCompactions(deps.finalizeQueue, parsed.data, shards, guard.secret);
  logger.info({ run: run.run_id, ...a.stats }, 'run grouped: compactions enqueued');
  return { groups: a.stats.groups };
}

/** One shard of a large run: its part files into records/part-NNNNN.parquet and its summary. */
export async function compactShard(
  job: Pick<Job, 'data'>,
  deps: { redis: Redis; finalizeQueue: Queue },
  guard: Guard = {},
): Promise<{ shard: number }> {
  checkJobSignature(job.data, guard.secret, 'compaction');
  const parsed = CompactJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed compaction job payload: ${parsed.error.message}`);
  const data = parsed.data;
  const { results, run } = await openRun(data, guard);
  const shards = shardCount(run.batches, run.params.shardParts);
  if (data.shard >= shards)
    throw new UnrecoverableError(`run ${run.run_id} has ${shards} shards, not ${data.shard + 1}`);
  const from = data.shard * run.params.shardParts,
    to = Math.min(run.batches, from + run.params.shardParts);
  const summary = new RunSummary(run.classes);
  const annotations = (await results.readAnnotations(data.shard)) as ShardAnnotations | undefined;
  if (!annotations)
    logger.warn(
      { run: run.run_id, shard: data.shard },
      'no annotations for this shard (enqueued by an older version): compacted without image checks or duplicates',
    );
  await compactParts(results, from, to, summary, data.shard, annotations && { shard: annotations, run });
  await results.writeShardSummary(data.shard, summary.s);
  await markShardDone(deps.redis, deps.finalizeQueue, data, shards, guard.secret);
  return { shard: data.shard };
}

export async function finalizeRun(
  job: Pick<Job, 'data'>,
  toolVersion: string,
  guard: Guard = {},
): Promise<FinalizeResult> {
  checkJobSignature(job.data, guard.secret, 'finalize');
  const parsed = FinalizeJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed finalize job payload: ${parsed.error.message}`);
  const { results, run } = await openRun(parsed.data, guard);
  if (await results.hasManifest()) return { manifestWritten: false, total: 0 };
  const runId = run.run_id;

  const present = new Set<number>();
  for await (const b of results.partBatches()) present.add(b);
  const missing: number[] = [];
  for (let b = 0; b < run.batches; b++) if (!present.has(b)) missing.push(b);
  if (missing.length)
    throw new Error(`run ${runId}: ${missing.length} part files missing (first: ${partKey(missing[0]!)})`);

  const summary = new RunSummary(run.classes);
  const shards = shardCount(run.batches, run.params.shardParts);
  const partKeys = Array.from({ length: run.batches }, (_, b) => partKey(b));
  let files: Pick<Manifest, 'parts' | 'parquet' | 'shards'>;
  let annotated: ReturnType<typeof annotationFields> | undefined;
  if (shards === 1) {
    const a = await annotateRun(results, run);
    annotated = annotationFields(a, 1);
    const parquet = await compactParts(results, 0, run.batches, summary, undefined, {
      shard: shardAnnotations(a, 0, run.batches),
      run,
    });
    files = { parts: partKeys, parquet };
  } else {
    const a = (await results.readAnnotations('run')) as Parameters<typeof annotationFields>[0] | undefined;
    annotated = a && annotationFields(a, shards);
    // The shards were compacted in parallel; their summaries add up to the run's.
    for (let s = 0; s < shards; s++) {
      const st = await results.readShardSummary(s);
      if (!st) throw new Error(`run ${runId}: shard ${s} of ${shards} has not been compacted yet`);
      summary.merge(st);
    }
    files = {
      parts: { list: await results.writePartsList(partKeys), count: partKeys.length },
      parquet: `${RECORDS_PREFIX}*.parquet`,
      shards: Array.from({ length: shards }, (_, s) => shardKey(s)),
    };
  }

  const written = await results.writeManifest({
    run_id: runId,
    dataset: run.dataset,
    results: run.results,
    created: run.created,
    finished: new Date().toISOString(),
    tool_version: toolVersion,
    model: run.model,
    threshold: run.params.threshold,
    counts: {
      total: summary.s.total,
      by_status: summary.s.byStatus,
      accepted: summary.s.accepted,
      rejected: summary.s.rejected,
    },
    ...files,
    ...annotated,
    summary: summary.summary(),
  });
  if (written) logger.info({ run: runId, total: summary.s.total, shards }, 'run finalized');
  return { manifestWritten: written, total: summary.s.total };
}
