/**
 * How well a confidence finds wrong labels in training data. A record is suspicious when
 * the model confidently disagrees with its label, or agrees only hesitantly:
 *   suspicion = 1 + c  if prediction ≠ label,   1 - c  otherwise   (c = confidence in [0, 1]).
 * For Over-MAP there is also a label-side variant: 1 - label_gradcam_seg, low when the
 * evidence for the *given* label's class lies off the object.
 */
import { aurocOfErrorDetection } from '@overmap/shared';

export interface NoiseItem {
  flipped: boolean;
  disagrees: boolean;
  confidence: number;
}

export function suspicion(x: NoiseItem): number {
  return x.disagrees ? 1 + x.confidence : 1 - x.confidence;
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
