/**
 * Evaluation by failure type (Jaeger et al., ICLR 2023; Traub et al., NeurIPS 2024): one pool of
 * images per kind of failure, each image a failure or not, and for every confidence the
 * selective-classification metrics of accepting the most confident first:
 *  - in-distribution errors: a labelled run, failure = wrong Top-1 prediction;
 *  - shifted errors: the same on a run over shifted images of the known classes;
 *  - unknown objects: a labelled run's images plus a run over objects of no known class; failure =
 *    a wrong prediction or any unknown image (what a curator must catch: SIRC's "SCOD" setting);
 *  - flipped labels: records with given labels, failure = the label is wrong, confidence = the
 *    trust in the label (built by the caller, see label-noise.ts).
 * Metrics: AURC, E-AURC, AUGRC, AUROC of failure detection (P(a non-failure outscores a failure)),
 * FPR@95TPR (share of failures still accepted when 95% of the non-failures are), and where classes
 * are known, the Top-1 / Top-3 macro accuracy gains at 12/15/18% rejected.
 */
import seedrandom from 'seedrandom';
import { type ImageRecord, type Scored, augrc, aurc, aurocOfErrorDetection, eAurc } from '@overmap/shared';
import {
  CONFIDENCES,
  type ConfidenceName,
  type ScoredRecord,
  confidenceLabel,
  confidenceOf,
  reportFor,
} from './evaluate-records';
import { fprAtTpr } from './out-of-distribution';

export interface FailureItem {
  confidence: number;
  failure: boolean;
  label?: number;
  correctTop3?: boolean;
}

export interface FailureRow {
  name: string;
  aurc: number;
  eAurc: number;
  augrc: number;
  auroc: number;
  fprAt95Tpr: number;
  /** Top-1 / Top-3 macro accuracy gains at 12/15/18% rejected; only where every item has a class */
  gainTop1Macro?: Record<string, number>;
  gainTop3Macro?: Record<string, number>;
}

export interface FailureTypeReport {
  type: string;
  description: string;
  n: number;
  failures: number;
  rows: FailureRow[];
}

/** Every metric of one confidence over one pool. */
export function failureRow(name: string, items: FailureItem[]): FailureRow {
  const scored: Scored[] = items.map((x) => ({
    confidence: x.confidence,
    correct: !x.failure,
    label: x.label,
    correctTop3: x.correctTop3,
  }));
  const ok = scored.filter((x) => x.correct).map((x) => x.confidence),
    bad = scored.filter((x) => !x.correct).map((x) => x.confidence);
  const row: FailureRow = {
    name,
    aurc: aurc(scored),
    eAurc: eAurc(scored),
    augrc: augrc(scored),
    auroc: aurocOfErrorDetection(scored),
    fprAt95Tpr: fprAtTpr(ok, bad),
  };
  if (items.length > 0 && items.every((x) => x.label !== undefined && x.correctTop3 !== undefined)) {
    const r = reportFor(name, scored);
    row.gainTop1Macro = r.gainTop1Macro;
    row.gainTop3Macro = r.gainTop3Macro;
  }
  return row;
}

export interface PoolItem {
  record: ImageRecord;
  failure: boolean;
  label?: number;
  correctTop3?: boolean;
}

/** A pool from a labelled run: failure = wrong prediction. */
export const errorPool = (scored: ScoredRecord[]): PoolItem[] =>
  scored.map((x) => ({ record: x.record, failure: !x.correct, label: x.label, correctTop3: x.correctTop3 }));

/** Unknown objects added to a labelled pool: every unknown image with a prediction is a failure. */
export const unknownPool = (known: ScoredRecord[], unknown: ImageRecord[]): PoolItem[] => [
  ...errorPool(known).map(({ record, failure }) => ({ record, failure })),
  ...unknown.filter((r) => r.prediction).map((record) => ({ record, failure: true })),
];

/** Every confidence the records carry (unrun ones skipped), plus extra named confidences (e.g. a decision ablation). */
export function failureTypeReport(
  type: string,
  description: string,
  pool: PoolItem[],
  options: {
    names?: readonly ConfidenceName[];
    extra?: { name: string; value: (r: ImageRecord) => number | null }[];
    seed?: string;
  } = {},
): FailureTypeReport {
  const rng = seedrandom(options.seed ?? `overmap-failure-${type}`);
  const rows: FailureRow[] = [];
  const add = (name: string, values: (number | null)[]) => {
    if (values.some((v) => v === null || !Number.isFinite(v))) return; // e.g. mc_dropout not run, or an older record
    rows.push(
      failureRow(
        name,
        pool.map((p, i) => ({
          confidence: values[i]!,
          failure: p.failure,
          label: p.label,
          correctTop3: p.correctTop3,
        })),
      ),
    );
  };
  for (const name of options.names ?? CONFIDENCES)
    add(
      confidenceLabel(name),
      pool.map((p) => confidenceOf(p.record, name, rng)),
    );
  for (const e of options.extra ?? [])
    add(
      e.name,
      pool.map((p) => e.value(p.record)),
    );
  return { type, description, n: pool.length, failures: pool.filter((p) => p.failure).length, rows };
}
