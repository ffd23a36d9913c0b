/**
 * The decision score `scores.confidence`: what `accepted` compares with the threshold. One
 * definition for the engine (which writes it), the evaluation and the audit (which recompute it
 * for other rules from the records' components).
 *
 * The model spec's `decision.rule`:
 *   overmap   confidence = scores.overmap (the paper's measure; the default)
 *   softmax   confidence = the primary score alone (max softmax probability, margin or MaxLogit-pNorm)
 *   sirc      SIRC (Xia & Bouganis, ACCV 2022): the primary stays the main score and the
 *             secondary (an Over-MAP term) moves only the images where it is low:
 *               confidence = p ^ (1 + exp(−b · (s − a)))
 *             p = the primary score in [0, 1], s = the secondary score. This is SIRC's
 *             −(S1max − S1)(1 + exp(−b(S2 − a))) with S1 = log p (S1max = 0), exponentiated so
 *             the confidence stays in [0, 1]: where s is well above a the exponent is ≈ 1 and
 *             confidence ≈ p (the primary's ranking is kept); where s falls below a the exponent
 *             grows and the confidence drops towards 0; p = 1 stays 1. SIRC sets
 *             a = mean − k·std and b = 1/std of s on in-distribution data; here a, b (and the
 *             secondary) are chosen on validation by `npm run experiment` and stored in the spec.
 * A missing (null) secondary leaves the primary unchanged.
 */
import { z } from 'zod';
import { DecisionSecondarySchema } from './score-derivations';
import type { DefaultScoreRegistry, ScoresOf } from './score-registry';

/** The decision score's rule and parameters; each default written once, here. */
export const DecisionSchema = z
  .strictObject({
    rule: z.enum(['overmap', 'softmax', 'sirc']).default('overmap'),
    primary: z.enum(['msp', 'margin', 'maxlogit_pnorm']).default('msp'),
    secondary: DecisionSecondarySchema.default('overmap'),
    a: z.number().default(0),
    b: z.number().positive().default(1),
    /**
     * `run`: SIRC's a and b are taken again at finalize from the scored pool itself (a = mean − k·std,
     * b = c / std of the secondary over every scored image of the run), so the rule follows the data
     * it scores; a and b above are then only the workers' provisional values. Absent: `fixed`.
     */
    calibrate: z.enum(['fixed', 'run']).optional(),
    /** SIRC's recipe constants, chosen on validation: needed with calibrate `run` */
    k: z.number().optional(),
    c: z.number().positive().optional(),
  })
  .refine((d) => d.calibrate !== 'run' || (d.rule === 'sirc' && d.k !== undefined && d.c !== undefined), {
    message: 'calibrate "run" needs rule "sirc" and its k and c (a = mean - k*std, b = c/std on the run)',
  });
export type Decision = z.infer<typeof DecisionSchema>;
/** The decision of a spec that names none: the paper's Over-MAP as the confidence. */
export const DEFAULT_DECISION: Decision = DecisionSchema.parse({});

/** Mergeable moments of the secondary over a run's scored images (shards add up). */
export interface PoolMoments {
  n: number;
  sum: number;
  sumSq: number;
}

/** Rounds to 1e-4 (the decision's a and b, and the threshold, as the specs store them). */
export const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Moments of the values (for sircFromMoments). */
export function momentsOf(values: readonly number[]): PoolMoments {
  let sum = 0,
    sumSq = 0;
  for (const v of values) {
    sum += v;
    sumSq += v * v;
  }
  return { n: values.length, sum, sumSq };
}

/**
 * SIRC's a and b from a secondary's moments: a = mean − k·std, b = c / std (population std; 1
 * where it is 0, so a constant secondary gets b = c), rounded to 1e-4. The one recipe for the
 * choice on validation (evaluation) and the calibration on a run (finalize).
 */
export function sircFromMoments(m: PoolMoments, k: number, c: number): { a: number; b: number } {
  const mean = m.sum / m.n;
  const std = Math.sqrt(Math.max(0, m.sumSq / m.n - mean * mean)) || 1;
  return { a: round4(mean - k * std), b: round4(c / std) };
}

/** The decision with SIRC's a and b from the pool's moments; unchanged unless calibrate is `run`. */
export function calibrateOnPool(d: Decision, m: PoolMoments): Decision {
  if (d.calibrate !== 'run' || d.rule !== 'sirc' || m.n === 0) return d;
  return { ...d, ...sircFromMoments(m, d.k!, d.c!) };
}

/** SIRC's combination of a primary p in [0, 1] and a secondary s. */
export function sirc(p: number, s: number, a: number, b: number): number {
  const exponent = 1 + Math.exp(-b * (s - a));
  const c = Math.pow(Math.min(1, Math.max(0, p)), exponent);
  return Number.isFinite(c) ? c : 0;
}

/** scores.confidence from a record's other scores under a decision rule (null where its inputs are). */
export function decisionScore(scores: ScoresOf<DefaultScoreRegistry>, d: Decision): number | null {
  if (d.rule === 'overmap') return scores.overmap ?? null;
  const p = scores[d.primary];
  if (p === null || p === undefined) return null;
  if (d.rule === 'softmax') return p;
  const s = scores[d.secondary];
  return s === null || s === undefined ? p : sirc(p, s, d.a, d.b);
}
