/**
 * The decision score's choice on validation (what `npm run experiment` writes into the shipped
 * specs): the softmax alone, or SIRC with each primary × Over-MAP secondary × k × c, its a and b
 * from the secondary's validation statistics (SIRC: a = mean − k·std, b = c / std); the one with
 * the lowest AUGRC over the validation errors plus the validation unknowns, among those whose AUGRC
 * on validation errors alone is within 2% of max softmax's (SIRC's aim: help with unknowns without
 * hurting the separation of right from wrong).
 */
import {
  DECISION_SECONDARIES,
  type Decision,
  DEFAULT_DECISION,
  type DecisionSecondary,
  type ImageRecord,
  augrc,
  aurocOfErrorDetection,
  decisionScore,
  momentsOf,
  round4,
  sircFromMoments,
} from '@overmap/shared';
import type { ScoredRecord } from './evaluate-records';
import { separationRow } from './out-of-distribution';

export const K_GRID = [0, 0.5, 1, 1.5, 2, 3];
export const C_GRID = [1, 3];
export { round4 };

/** SIRC's a and b for a secondary from in-distribution records: a = mean − k·std, b = c / std (rounded to 1e-4). */
export function sircParams(
  records: ImageRecord[],
  secondary: DecisionSecondary,
  k: number,
  c: number,
): { a: number; b: number } {
  const v = records.map((r) => r.scores[secondary]).filter((x): x is number => x !== null && x !== undefined);
  return sircFromMoments(momentsOf(v), k, c);
}

export interface DecisionMetrics {
  /** AUGRC and AUROC of the known pool's errors */
  augrcId: number;
  aurocId: number;
  /** AUGRC of errors plus every unknown image as a failure; AUROC known vs unknown (NaN without unknowns) */
  augrcMixed: number;
  aurocUnknown: number;
}

/** A decision rule's metrics on a labelled pool and an unknown pool (missing scores count as 0). */
export function decisionMetrics(d: Decision, known: ScoredRecord[], unknown: ImageRecord[]): DecisionMetrics {
  const conf = (r: ImageRecord) => decisionScore(r.scores, d) ?? 0;
  const id = known.map((x) => ({ confidence: conf(x.record), correct: x.correct }));
  const mixed = [...id, ...unknown.map((r) => ({ confidence: conf(r), correct: false }))];
  return {
    augrcId: augrc(id),
    aurocId: aurocOfErrorDetection(id),
    augrcMixed: unknown.length ? augrc(mixed) : NaN,
    aurocUnknown: unknown.length
      ? separationRow(
          '',
          known.map((x) => conf(x.record)),
          unknown.map(conf),
        ).auroc
      : NaN,
  };
}

export type GridDecision = Decision & { k?: number; c?: number };
export interface DecisionChoice {
  rows: (DecisionMetrics & { d: GridDecision })[];
  best: DecisionMetrics & { d: GridDecision };
  msp: DecisionMetrics & { d: GridDecision };
}

/** The decision chosen on validation (see the header). */
export function chooseDecision(valKnown: ScoredRecord[], valUnknown: ImageRecord[]): DecisionChoice {
  const valRecs = valKnown.map((x) => x.record);
  const cands: GridDecision[] = [
    { ...DEFAULT_DECISION, rule: 'softmax', primary: 'msp' },
    { ...DEFAULT_DECISION, rule: 'softmax', primary: 'margin' },
  ];
  for (const primary of ['msp', 'margin'] as const)
    for (const secondary of DECISION_SECONDARIES)
      for (const k of K_GRID)
        for (const c of C_GRID)
          cands.push({ rule: 'sirc', primary, secondary, ...sircParams(valRecs, secondary, k, c), k, c });
  const rows = cands.map((d) => ({ d, ...decisionMetrics(d, valKnown, valUnknown) }));
  const msp = rows[0]!;
  const allowed = rows.filter((r) => r.augrcId <= msp.augrcId * 1.02);
  allowed.sort((a, b) => a.augrcMixed - b.augrcMixed);
  return { rows, best: allowed[0]!, msp };
}

/** A decision in words, as the experiment's tables name it. */
export const decisionName = (d: Decision) =>
  d.rule === 'softmax'
    ? `${d.primary} alone`
    : d.rule === 'overmap'
      ? 'overmap'
      : `SIRC ${d.primary} ⊕ ${d.secondary} (a = ${d.a}, b = ${d.b})`;

/** The spec's decision fields of a candidate (SIRC's k and c kept: `calibrate: "run"` needs them). */
export const stripDecision = ({ rule, primary, secondary, a, b, k, c }: GridDecision): Decision => ({
  rule,
  primary,
  secondary,
  a,
  b,
  ...(rule === 'sirc' && k !== undefined && c !== undefined ? { k, c } : {}),
});
