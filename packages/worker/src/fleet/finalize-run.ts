/**
 * Finalization: once every batch's part file exists, stream the parts (one in memory at a
 * time) into records.parquet while counting and summarising, then write manifest.json
 * (create-once, last: its presence means the run is complete). A second finalization finds
 * the manifest and does nothing.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { checkJobSignature } from './process-batch';
import {
  FinalizeJobSchema, type ImageRecord, InputError, type Manifest, RECORDS_PARQUET, type RunJson, RunResults, type Scored,
  checkAllowed, classIndexer, logger, partKey, quantiles, riskCoverageTable, writeRecordsParquet,
} from '@overmap/shared';

export interface FinalizeResult { manifestWritten: boolean; total: number }

/** Counts and summaries over a run's records, fed one record at a time. */
class RunSummary {
  total = 0; accepted = 0; rejected = 0; labelled = 0; correct = 0; labelledAccepted = 0; correctAccepted = 0;
  readonly byStatus: Record<string, number> = {};
  readonly perClass: Record<string, number> = {};
  readonly values = { confidence: [] as number[], overmap: [] as number[], msp: [] as number[] };
  readonly scored: Scored[] = [];
  private readonly seen = new Set<string>();
  private readonly classOf: (label: string | null | undefined) => number | null;

  constructor(classes: readonly string[]) {
    this.classOf = classIndexer(classes);
  }

  add(r: ImageRecord): void {
    if (this.seen.has(r.key)) throw new UnrecoverableError(`key ${r.key} appears in two part files`);
    this.seen.add(r.key);
    this.total++;
    this.byStatus[r.status] = (this.byStatus[r.status] ?? 0) + 1;
    if (r.accepted === true) this.accepted++;
    if (r.accepted === false) this.rejected++;
    if (r.prediction) this.perClass[r.prediction.class] = (this.perClass[r.prediction.class] ?? 0) + 1;
    for (const k of ['confidence', 'overmap', 'msp'] as const) {
      const v = r.scores[k];
      if (v !== null) this.values[k].push(v);
    }
    // "Correct" has one definition: the label names a class (classIndexer) and it is the predicted one.
    const label = this.classOf(r.label);
    if (label === null || !r.prediction) return;
    const ok = r.prediction.index === label;
    this.labelled++;
    if (ok) this.correct++;
    if (r.accepted) {
      this.labelledAccepted++;
      if (ok) this.correctAccepted++;
    }
    this.scored.push({ confidence: r.scores.confidence ?? 0, correct: ok, correctTop3: r.prediction.top.slice(0, 3).some((t) => this.classOf(t.class) === label) });
  }

  summary(): Manifest['summary'] {
    return {
      score_quantiles: Object.fromEntries(Object.entries(this.values).map(([k, v]) => [k, quantiles(v)])),
      predicted_per_class: this.perClass,
      ...(this.labelled > 0 ? {
        labelled: this.labelled,
        accuracy: this.correct / this.labelled,
        accuracy_accepted: this.labelledAccepted > 0 ? this.correctAccepted / this.labelledAccepted : null,
        risk_coverage: riskCoverageTable(this.scored) as unknown as Record<string, number | null>[],
      } : {}),
    };
  }
}

async function* recordsOf(results: RunResults, batches: number, summary: RunSummary): AsyncGenerator<ImageRecord> {
  for (let b = 0; b < batches; b++) {
    for (const r of await results.readPart(b)) {
      summary.add(r);
      yield r;
    }
  }
}

export async function finalizeRun(job: Pick<Job, 'data'>, toolVersion: string, guard: { secret?: string; allowed?: string[] } = {}): Promise<FinalizeResult> {
  checkJobSignature(job.data, guard.secret, 'finalize');
  const parsed = FinalizeJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed finalize job payload: ${parsed.error.message}`);
  const { runId, instance, results: resultsUri } = parsed.data;
  let run: RunJson;
  let results: RunResults;
  try {
    checkAllowed(resultsUri, guard.allowed ?? [], 'results URI');
    results = RunResults.open(resultsUri, { secret: guard.secret });
    if (await results.hasManifest()) return { manifestWritten: false, total: 0 };
    run = await results.requireRun(runId);
  } catch (e) {
    if (e instanceof InputError) throw new UnrecoverableError(e.message);
    throw e;
  }
  if (run.instance !== instance) throw new UnrecoverableError(`finalize job for instance ${instance} of run ${runId}, but ${resultsUri} holds instance ${run.instance}: stale`);
  if (run.batches === undefined) throw new Error(`run ${runId}: the listing has not finished yet`);

  const present = new Set<number>();
  for await (const b of results.partBatches()) present.add(b);
  const missing: number[] = [];
  for (let b = 0; b < run.batches; b++) if (!present.has(b)) missing.push(b);
  if (missing.length) throw new Error(`run ${runId}: ${missing.length} part files missing (first: ${partKey(missing[0]!)})`);
  if (!run.classes) throw new UnrecoverableError(`run ${runId}: run.json has no class list (enqueued by an older version): enqueue the run again into a new --out`);

  const summary = new RunSummary(run.classes);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'overmap-'));
  try {
    const file = path.join(tmp, RECORDS_PARQUET);
    await writeRecordsParquet(file, recordsOf(results, run.batches, summary));
    await results.putParquet(await fs.readFile(file));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
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
    counts: { total: summary.total, by_status: summary.byStatus, accepted: summary.accepted, rejected: summary.rejected },
    parts: Array.from({ length: run.batches }, (_, b) => partKey(b)),
    parquet: RECORDS_PARQUET,
    summary: summary.summary(),
  });
  if (written) logger.info({ run: runId, total: summary.total, byStatus: summary.byStatus }, 'run finalized');
  return { manifestWritten: written, total: summary.total };
}
