/**
 * Evaluation of every confidence in a set of records with known labels: AURC, E-AURC,
 * AUROC of error detection, Top-1 / Top-3 macro accuracy against the fraction rejected,
 * and the accuracy gain at the paper's 12%, 15% and 18% rejection. Only scorable records
 * (ok, no_mask) count; no_mask records carry overmap 0, so they are rejected first.
 */
import seedrandom from 'seedrandom';
import {
  type ConfidenceScoreOf,
  type DefaultScoreRegistry,
  EVALUATION_REJECT_FRACTIONS,
  type ImageRecord,
  PAPER_REJECT_FRACTIONS,
  SCORE_REGISTRY,
  type ScoreRegistry,
  type Scored,
  aurc,
  aurocOfErrorDetection,
  classIndexer,
  confidenceScoresOf,
  confidenceValue,
  eAurc,
  macroAccuracy,
  orientedName,
  riskCoverageTable,
} from '@overmap/shared';

/**
 * What evaluate measures: every confidence of a score registry (its `confidence` entries, in
 * record order: `confidence` is the decision score, the spec's `decision` rule; then Over-MAP,
 * its parts, the softmax baselines, the threshold-free Grad-CAM/mask measures and the runner-up
 * contrast), then random.
 */
export function confidencesOf(): (ConfidenceScoreOf<DefaultScoreRegistry> | 'random')[];
export function confidencesOf<const R extends ScoreRegistry>(registry: R): (ConfidenceScoreOf<R> | 'random')[];
export function confidencesOf(registry: ScoreRegistry = SCORE_REGISTRY): string[] {
  return [...confidenceScoresOf(registry), 'random'];
}
export const CONFIDENCES = confidencesOf();
export type ConfidenceName = (typeof CONFIDENCES)[number] | 'fused';

/**
 * The name a confidence is reported under: a score where lower is more confident is measured
 * negated, as neg_<name> (neg_entropy).
 */
export const confidenceLabel = (name: ConfidenceName): string => orientedName(name, 'neg_');

/** A record's confidence, higher = more confident (confidenceValue); null where the record does not carry it. */
export function confidenceOf(r: ImageRecord, name: ConfidenceName, rng?: () => number): number | null {
  switch (name) {
    case 'random':
      return rng ? rng() : Math.random();
    case 'fused':
      return null;
    default:
      return confidenceValue(r.scores, name);
  }
}

export interface ScoredRecord {
  record: ImageRecord;
  label: number;
  pred: number;
  correct: boolean;
  correctTop3: boolean;
}

/**
 * The records with a prediction and a label naming a class (classIndexer: the manifest's rule),
 * each right or wrong.
 */
export function scorable(records: ImageRecord[], classes: string[]): ScoredRecord[] {
  const classOf = classIndexer(classes);
  const out: ScoredRecord[] = [];
  for (const r of records) {
    const label = classOf(r.label);
    if (!r.prediction || label === null) continue;
    out.push({
      record: r,
      label,
      pred: r.prediction.index,
      correct: r.prediction.index === label,
      correctTop3: r.prediction.top.slice(0, 3).some((t) => classOf(t.class) === label),
    });
  }
  return out;
}

export function toScored(items: ScoredRecord[], conf: (x: ScoredRecord, i: number) => number): Scored[] {
  return items.map((x, i) => ({
    confidence: conf(x, i),
    correct: x.correct,
    correctTop3: x.correctTop3,
    label: x.label,
  }));
}

export interface ConfidenceReport {
  name: string;
  aurc: number;
  eAurc: number;
  auroc: number;
  table: ReturnType<typeof riskCoverageTable>;
  gainTop3Macro: Record<string, number>;
  gainTop1Macro: Record<string, number>;
}

export function reportFor(name: string, scored: Scored[]): ConfidenceReport {
  const table = riskCoverageTable(scored, EVALUATION_REJECT_FRACTIONS);
  const base3 = macroAccuracy(scored, true),
    base1 = macroAccuracy(scored);
  const gainTop3Macro: Record<string, number> = {},
    gainTop1Macro: Record<string, number> = {};
  for (const r of table) {
    if (!PAPER_REJECT_FRACTIONS.includes(r.rejected)) continue;
    gainTop3Macro[`${Math.round(r.rejected * 100)}%`] = r.macroTop3Accuracy! - base3;
    gainTop1Macro[`${Math.round(r.rejected * 100)}%`] = r.macroAccuracy! - base1;
  }
  return {
    name,
    aurc: aurc(scored),
    eAurc: eAurc(scored),
    auroc: aurocOfErrorDetection(scored),
    table,
    gainTop3Macro,
    gainTop1Macro,
  };
}

/** Rank-normalises a confidence to (0, 1] within a set, so that different scales can be fused. */
export function ranks(values: number[]): number[] {
  const idx = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const r = new Array<number>(values.length);
  idx.forEach((i, k) => {
    r[i] = (k + 1) / values.length;
  });
  return r;
}

/** Fusion weight w for w·rank(overmap) + (1-w)·rank(msp), chosen by AURC on a validation set. */
export function chooseFusionWeight(val: ScoredRecord[]): { weight: number; aurc: number } {
  const om = ranks(val.map((x) => x.record.scores.overmap ?? 0));
  const msp = ranks(val.map((x) => x.record.scores.msp ?? 0));
  let best = { weight: 0, aurc: Infinity };
  for (let w = 0; w <= 1.0001; w += 0.1) {
    const a = aurc(val.map((x, i) => ({ confidence: w * om[i]! + (1 - w) * msp[i]!, correct: x.correct })));
    if (a < best.aurc - 1e-12) best = { weight: Math.round(w * 10) / 10, aurc: a };
  }
  return best;
}

export function evaluateRecords(
  test: ScoredRecord[],
  options: { fusionWeight?: number; seed?: string; omit?: readonly ConfidenceName[] } = {},
): ConfidenceReport[] {
  const rng = seedrandom(options.seed ?? 'overmap-evaluate');
  const reports: ConfidenceReport[] = [];
  for (const name of CONFIDENCES) {
    if (options.omit?.includes(name)) continue; // a score the run's model cannot produce
    const values = test.map((x) => confidenceOf(x.record, name, rng));
    if (values.some((v) => v === null)) continue; // e.g. mc_dropout not run
    reports.push(
      reportFor(
        confidenceLabel(name),
        toScored(test, (_x, i) => values[i]!),
      ),
    );
  }
  if (options.fusionWeight !== undefined) {
    const w = options.fusionWeight;
    const om = ranks(test.map((x) => x.record.scores.overmap ?? 0));
    const msp = ranks(test.map((x) => x.record.scores.msp ?? 0));
    reports.push(
      reportFor(
        `fused (${w}·overmap + ${Math.round((1 - w) * 10) / 10}·msp, ranks)`,
        test.map((x, i) => ({
          confidence: w * om[i]! + (1 - w) * msp[i]!,
          correct: x.correct,
          correctTop3: x.correctTop3,
          label: x.label,
        })),
      ),
    );
  }
  return reports;
}
