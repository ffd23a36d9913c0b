/**
 * Finalization: once every batch's part file exists, stream the parts into
 * records.parquet, then write manifest.json (create-once, last: its presence means the
 * run is complete). A second finalization finds the manifest and does nothing.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import parquet = require('@dsnp/parquetjs');
import {
  FinalizeJobSchema, type ImageRecord, PreconditionFailed, RecordSchema, type RunJson, RunJsonSchema, type Scored,
  batchFromPartKey, canonicalClass, listAll, logger, openStore, partKey, quantiles, riskCoverageTable,
} from '@overmap/shared';

export const PARQUET_SCHEMA = new parquet.ParquetSchema({
  key: { type: 'UTF8' },
  label: { type: 'UTF8', optional: true },
  status: { type: 'UTF8' },
  error: { type: 'UTF8', optional: true },
  pred_class: { type: 'UTF8', optional: true },
  pred_index: { type: 'INT32', optional: true },
  pred_p: { type: 'DOUBLE', optional: true },
  top_json: { type: 'UTF8', optional: true },
  overmap: { type: 'DOUBLE', optional: true },
  gradcam_seg: { type: 'DOUBLE', optional: true },
  attention_seg: { type: 'DOUBLE', optional: true },
  gradcam_attention: { type: 'DOUBLE', optional: true },
  msp: { type: 'DOUBLE', optional: true },
  entropy: { type: 'DOUBLE', optional: true },
  margin: { type: 'DOUBLE', optional: true },
  mc_dropout: { type: 'DOUBLE', optional: true },
  accepted: { type: 'BOOLEAN', optional: true },
});

export function flatten(r: ImageRecord): Record<string, unknown> {
  const row: Record<string, unknown> = {
    key: r.key, label: r.label ?? undefined, status: r.status, error: r.error ?? undefined,
    pred_class: r.prediction?.class, pred_index: r.prediction?.index, pred_p: r.prediction?.top[0]?.p,
    top_json: r.prediction ? JSON.stringify(r.prediction.top) : undefined,
    accepted: r.accepted ?? undefined,
  };
  for (const k of ['overmap', 'gradcam_seg', 'attention_seg', 'gradcam_attention', 'msp', 'entropy', 'margin', 'mc_dropout'] as const) {
    const v = r.scores[k];
    row[k] = v === null || v === undefined ? undefined : v;
  }
  return row;
}

export interface FinalizeResult { manifestWritten: boolean; total: number }

export async function finalizeRun(job: Pick<Job, 'data'>, toolVersion: string): Promise<FinalizeResult> {
  const parsed = FinalizeJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed finalize job payload: ${parsed.error.message}`);
  const { runId, results: resultsUri } = parsed.data;
  const results = openStore(resultsUri, {}, 'results URI');
  if (await results.exists('manifest.json')) return { manifestWritten: false, total: 0 };
  const runRaw = await results.get('run.json');
  const run: RunJson = RunJsonSchema.parse(JSON.parse(runRaw.toString('utf8')));
  if (run.run_id !== runId) throw new UnrecoverableError(`run.json under ${resultsUri} is for run ${run.run_id}, not ${runId}`);
  if (run.batches === undefined) throw new Error(`run ${runId}: the listing has not finished yet`);

  const present = new Set<number>();
  for await (const o of listAll(results, 'parts/')) {
    const b = batchFromPartKey(o.key);
    if (b !== undefined) present.add(b);
  }
  const missing: number[] = [];
  for (let b = 0; b < run.batches; b++) if (!present.has(b)) missing.push(b);
  if (missing.length) throw new Error(`run ${runId}: ${missing.length} part files missing (first: ${partKey(missing[0]!)})`);

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'overmap-'));
  const file = path.join(tmp, 'records.parquet');
  const writer = await parquet.ParquetWriter.openFile(PARQUET_SCHEMA, file);
  const byStatus: Record<string, number> = {};
  const perClass: Record<string, number> = {};
  const scores = { overmap: [] as number[], msp: [] as number[] };
  const scored: Scored[] = [];
  let total = 0, accepted = 0, rejected = 0, labelled = 0, correct = 0, labelledAccepted = 0, correctAccepted = 0;
  const seen = new Set<string>();
  const parts: string[] = [];
  try {
    for (let b = 0; b < run.batches; b++) {
      const key = partKey(b);
      parts.push(key);
      const text = (await results.get(key)).toString('utf8');
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        const r = RecordSchema.parse(JSON.parse(line));
        if (seen.has(r.key)) throw new UnrecoverableError(`run ${runId}: key ${r.key} appears in two part files`);
        seen.add(r.key);
        total++;
        byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
        if (r.accepted === true) accepted++;
        if (r.accepted === false) rejected++;
        if (r.prediction) perClass[r.prediction.class] = (perClass[r.prediction.class] ?? 0) + 1;
        if (r.scores.overmap !== null) scores.overmap.push(r.scores.overmap);
        if (r.scores.msp !== null) scores.msp.push(r.scores.msp);
        if (r.label !== null && r.prediction) {
          labelled++;
          const want = canonicalClass(r.label);
          const ok = canonicalClass(r.prediction.class) === want;
          if (ok) correct++;
          if (r.accepted) {
            labelledAccepted++;
            if (ok) correctAccepted++;
          }
          scored.push({ confidence: r.scores.overmap ?? 0, correct: ok, correctTop3: r.prediction.top.slice(0, 3).some((t) => canonicalClass(t.class) === want) });
        }
        await writer.appendRow(flatten(r));
      }
    }
    await writer.close();
    await results.put('records.parquet', await fs.readFile(file), { contentType: 'application/vnd.apache.parquet' });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }

  const manifest = {
    run_id: runId,
    dataset: run.dataset,
    results: run.results,
    created: run.created,
    finished: new Date().toISOString(),
    tool_version: toolVersion,
    model: run.model,
    threshold: run.params.threshold,
    counts: { total, by_status: byStatus, accepted, rejected },
    parts,
    parquet: 'records.parquet',
    summary: {
      score_quantiles: { overmap: quantiles(scores.overmap), msp: quantiles(scores.msp) },
      predicted_per_class: perClass,
      ...(labelled > 0 ? {
        labelled,
        accuracy: correct / labelled,
        accuracy_accepted: labelledAccepted > 0 ? correctAccepted / labelledAccepted : null,
        risk_coverage_overmap: riskCoverageTable(scored),
      } : {}),
    },
  };
  try {
    await results.put('manifest.json', JSON.stringify(manifest, null, 2), { contentType: 'application/json', ifNoneMatch: true });
  } catch (e) {
    if (e instanceof PreconditionFailed) return { manifestWritten: false, total };
    throw e;
  }
  logger.info({ run: runId, total, byStatus }, 'run finalized');
  return { manifestWritten: true, total };
}
