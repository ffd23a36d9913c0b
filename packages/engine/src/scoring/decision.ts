/**
 * The decision score `scores.confidence`: what `accepted` compares with the threshold.
 *
 * The spec's `decision.rule`:
 *   overmap   confidence = scores.overmap (the paper's measure; the default, today's behaviour)
 *   softmax   confidence = the primary softmax score alone (max softmax probability or margin)
 *   sirc      SIRC (Xia & Bouganis, ACCV 2022): the softmax stays the primary score and the
 *             secondary (an Over-MAP term) moves only the images where it is low:
 *               confidence = p ^ (1 + exp(−b · (s − a)))
 *             p = the primary score in [0, 1], s = the secondary score. This is SIRC's
 *             −(S1max − S1)(1 + exp(−b(S2 − a))) with S1 = log p (S1max = 0), exponentiated so
 *             the confidence stays in [0, 1]: where s is well above a the exponent is ≈ 1 and
 *             confidence ≈ p (the softmax ranking is kept); where s falls below a the exponent
 *             grows and the confidence drops towards 0; p = 1 stays 1. SIRC sets
 *             a = mean − k·std and b = 1/std of s on in-distribution data; here a, b (and the
 *             secondary) are chosen on validation by `npm run experiment` and stored in the spec.
 * A missing (null) secondary leaves the primary unchanged.
 */
import type { Scores } from '@overmap/shared/core';
import { DEFAULT_DECISION, type Decision } from '../model/model-spec-schema';

// The secondaries a spec may name are the score registry's (@overmap/shared score-registry.ts:
// `decisionSecondary`), as DECISION_SECONDARIES and the spec's DecisionSecondarySchema. The rule,
// its parameters and their defaults are the spec schema's (model/model-spec-schema.ts).
export { DEFAULT_DECISION, type Decision };

/** SIRC's combination of a primary p in [0, 1] and a secondary s. */
export function sirc(p: number, s: number, a: number, b: number): number {
  const exponent = 1 + Math.exp(-b * (s - a));
  const c = Math.pow(Math.min(1, Math.max(0, p)), exponent);
  return Number.isFinite(c) ? c : 0;
}

/** scores.confidence from a record's other scores under the spec's decision rule (null where its inputs are). */
export function decisionScore(scores: Partial<Scores>, d: Decision): number | null {
  if (d.rule === 'overmap') return scores.overmap ?? null;
  const p = scores[d.primary];
  if (p === null || p === undefined) return null;
  if (d.rule === 'softmax') return p;
  const s = scores[d.secondary];
  return s === null || s === undefined ? p : sirc(p, s, d.a, d.b);
}
