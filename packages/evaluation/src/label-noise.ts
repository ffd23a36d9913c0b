/**
 * How well a confidence finds wrong labels in training data, by the one suspicion formula
 * (@overmap/shared label-suspicion.ts, the one the report's label-error queue ranks by):
 *   suspicion = 1 + c  if prediction ≠ label,   1 - c  otherwise   (c = confidence in [0, 1]).
 * `npm run experiment` measures it for each confidence (scripts/lib/experiment-scores.js); its
 * `confidence` row is the report's queue. For Over-MAP there is also a label-side variant:
 * 1 - label_gradcam_seg, low when the evidence for the *given* label's class lies off the object.
 */
import { type SuspicionInput, aurocOfErrorDetection } from '@overmap/shared';

export { suspicion } from '@overmap/shared';

export interface NoiseItem extends SuspicionInput {
  flipped: boolean;
}

/** AUROC of flipped vs clean by a suspicion score, and precision among the top k. */
export function noiseReport(
  items: { flipped: boolean; score: number }[],
  k: number,
): { auroc: number; precisionAtK: number } {
  // aurocOfErrorDetection(correct = not flipped, confidence = -score) = P(score(flipped) > score(clean))
  const auroc = aurocOfErrorDetection(items.map((x) => ({ confidence: -x.score, correct: !x.flipped })));
  const top = [...items].sort((a, b) => b.score - a.score).slice(0, k);
  return { auroc, precisionAtK: top.filter((x) => x.flipped).length / Math.max(1, top.length) };
}
