/**
 * The review queues as the report lists them: which apply to the run (the label queues need
 * labels), and each one's exports (CSV, JSONL, Label Studio) and cards.
 */
import { type ImageRecord, type ObjectStore, type RunJson, SCORE_NAMES, classIndexer } from '@overmap/shared';
import type { Aggregates } from './collect';
import { type ExportRow, imageUri, toCsv, toJsonl, toLabelStudio } from './exports';
import { QUEUES, type QueueDef } from './queues';
import type { Card, ReportData, ReportQueue } from './report-data';
import type { CardImages } from './tiles';

/** The queues that apply to the run, and why the others are left out. */
export function chooseQueues(
  agg: Aggregates,
  classes: string[],
): { active: QueueDef[]; omitted: ReportData['omittedQueues'] } {
  const omitted: ReportData['omittedQueues'] = [];
  const active = QUEUES.filter((q) => {
    if (!q.needsLabels || agg.labelled > 0) return true;
    const why =
      agg.withLabel === 0
        ? 'the run has no labels: run it with --labels folder or --labels <csv|jsonl> to find probable label errors.'
        : `none of the ${agg.withLabel} labels names one of the model's classes (${classes.join(', ')}), so no prediction can disagree with one.`;
    omitted.push({ id: q.id, title: q.title, why });
    return false;
  });
  return { active, omitted };
}

export interface QueueContext {
  out: ObjectStore;
  run: RunJson;
  classes: string[];
  /** the pictures of the listed records */
  images: Map<string, CardImages>;
}

/** Writes the queue's exports; returns it as the page lists it. */
export async function writeQueue(
  q: QueueDef,
  listed: (ImageRecord & { rank: number })[],
  total: number,
  agg: Aggregates,
  c: QueueContext,
): Promise<ReportQueue> {
  const { out, run } = c;
  const rows = listed as ExportRow[];
  const modelVersion = `${run.model.name ?? 'overmap'}@${run.model.hash.slice(0, 12)}`;
  const exports = {
    csv: `exports/${q.id}.csv`,
    jsonl: `exports/${q.id}.jsonl`,
    labelStudio: `exports/${q.id}.label-studio.json`,
  };
  await out.put(exports.csv, toCsv(rows, run.dataset, q.rankName), { contentType: 'text/csv' });
  // a Buffer, so that an empty queue's empty file has a known length (the S3 SDK warns on an empty string)
  await out.put(exports.jsonl, Buffer.from(toJsonl(rows, run.dataset, q.rankName)), {
    contentType: 'application/x-ndjson',
  });
  await out.put(exports.labelStudio, toLabelStudio(rows, run.dataset, q.rankName, modelVersion), {
    contentType: 'application/json',
  });
  const classOf = classIndexer(c.classes);
  return {
    id: q.id,
    title: q.title,
    description: q.description,
    rankName: q.rankName,
    total,
    exports,
    ...(q.id === 'unreadable' ? { reasons: agg.reasons } : {}),
    cards: rows.map((r): Card => ({
      key: r.key,
      image: imageUri(run.dataset, r.key),
      label: r.label,
      labelClass: classOf(r.label),
      pred: r.prediction?.class ?? null,
      predIndex: r.prediction?.index ?? null,
      top: r.prediction?.top ?? [],
      status: r.status,
      error: r.error,
      accepted: r.accepted,
      rank: r.rank,
      scores: Object.fromEntries(
        SCORE_NAMES.filter((s) => r.scores[s] !== undefined).map((s) => [s, r.scores[s] ?? null]),
      ),
      mask_fraction: r.mask_fraction ?? null,
      imageIssues: r.image_issues ?? [],
      duplicateGroup: r.duplicate_group ?? null,
      img: c.images.get(r.key) ?? {},
    })),
  };
}
