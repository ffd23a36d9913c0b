/**
 * Suspicion that an image's given label is wrong: the one formula, which the report's
 * label-error queue ranks by and the evaluation measures on seeded flipped labels
 * (evaluation label-noise.ts; `npm run experiment`, EVALUATION.md "Finding flipped labels"):
 *   suspicion = 1 + c  where the prediction disagrees with the label,   1 − c  where it agrees
 * with c a confidence oriented so that higher = more confident (confidenceValue), in [0, 1]:
 * a confident disagreement is the most suspicious, a hesitant agreement the least trusted.
 *
 * This is the evaluation's formula, kept over the report's former (p(predicted) − p(label)) ×
 * overmap, which nothing measured: the evaluation found that Over-MAP does not add to the softmax
 * in finding flipped labels (AUROC flipped vs clean, in sample / out of sample / two folds: the
 * decision score 0.870 / 0.862 / 0.820, overmap 0.827 / 0.824 / 0.774), so a factor of overmap
 * would rank by the weaker signal. The report ranks by the decision score, `confidence`, whose
 * row in those tables is the report's queue's measure.
 */
import type { ImageRecord } from './schemas';
import { type ConfidenceScore, confidenceValue } from './score-derivations';

export interface SuspicionInput {
  /** the prediction names another class than the label */
  disagrees: boolean;
  /** the confidence, higher = more confident */
  confidence: number;
}

export function suspicion(x: SuspicionInput): number {
  return x.disagrees ? 1 + x.confidence : 1 - x.confidence;
}

/**
 * Whether a record's prediction disagrees with its label, by the labels' one rule (classIndexer):
 * null where it cannot tell (no prediction, no label, or a label that names no class).
 */
export function disagreesWithLabel(
  r: ImageRecord,
  classOf: (label: string | null | undefined) => number | null,
): boolean | null {
  const label = classOf(r.label);
  return label === null || !r.prediction ? null : r.prediction.index !== label;
}

/**
 * A record's suspicion by one confidence (the decision score by default); null where disagreement
 * or the confidence is unknown.
 */
export function labelSuspicion(
  r: ImageRecord,
  classOf: (label: string | null | undefined) => number | null,
  name: ConfidenceScore = 'confidence',
): number | null {
  const disagrees = disagreesWithLabel(r, classOf);
  const confidence = confidenceValue(r.scores, name);
  return disagrees === null || confidence === null ? null : suspicion({ disagrees, confidence });
}
