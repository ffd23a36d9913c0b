/**
 * Unknown inputs: how well each confidence separates the images of a known-distribution run
 * from those of an out-of-distribution run (objects of no class the model knows), as the
 * paper's introduction asks of a confidence measure: unknown inputs should score low.
 *  - AUROC: P(an in-distribution image outscores an unknown one), ties count half;
 *  - FPR at 95% TPR: the share of unknown images still kept when the threshold keeps 95% of
 *    the known ones (lower is better; the usual out-of-distribution figure);
 *  - at the run's own threshold, the share of each set accepted (Over-MAP's `accepted`).
 * Every record with a prediction counts (ok and no_mask: no_mask scores Over-MAP 0, which is
 * what an image with no object should get); labels are not needed.
 */
import seedrandom from 'seedrandom';
import { type ImageRecord, aurocOfErrorDetection } from '@overmap/shared';
import { CONFIDENCES, type ConfidenceName, confidenceLabel, confidenceOf, ranks } from './evaluate-records';

export interface OodRow {
  name: string;
  auroc: number;
  fprAt95Tpr: number;
}
export interface OodReport {
  nIn: number;
  nOut: number;
  rows: OodRow[];
  /** share of each set with accepted = true (the run's Over-MAP threshold) */
  accepted: { in: number; out: number };
}

/** Share of `outside` at or above the threshold that keeps `tpr` of `inside` (ties kept). */
export function fprAtTpr(inside: number[], outside: number[], tpr = 0.95): number {
  if (inside.length === 0 || outside.length === 0) return NaN;
  const sorted = [...inside].sort((a, b) => b - a);
  const t = sorted[Math.max(0, Math.ceil(tpr * sorted.length) - 1)]!;
  return outside.filter((v) => v >= t).length / outside.length;
}

export function separationRow(name: string, inside: number[], outside: number[]): OodRow {
  const auroc = aurocOfErrorDetection([
    ...inside.map((confidence) => ({ confidence, correct: true })),
    ...outside.map((confidence) => ({ confidence, correct: false })),
  ]);
  return { name, auroc, fprAt95Tpr: fprAtTpr(inside, outside) };
}

export function outOfDistributionReport(
  inRecords: ImageRecord[],
  outRecords: ImageRecord[],
  options: { fusionWeight?: number; seed?: string; omit?: readonly ConfidenceName[] } = {},
): OodReport {
  const inside = inRecords.filter((r) => r.prediction);
  const outside = outRecords.filter((r) => r.prediction);
  const rng = seedrandom(options.seed ?? 'overmap-ood');
  const rows: OodRow[] = [];
  const values = (rs: ImageRecord[], name: ConfidenceName) => rs.map((r) => confidenceOf(r, name, rng));
  for (const name of CONFIDENCES) {
    if (options.omit?.includes(name)) continue; // a score the run's model cannot produce
    const a = values(inside, name),
      b = values(outside, name);
    if ([...a, ...b].some((v) => v === null)) continue; // e.g. mc_dropout not run
    rows.push(separationRow(confidenceLabel(name), a as number[], b as number[]));
  }
  if (options.fusionWeight !== undefined) {
    // Rank fusion over the union: ranks mean the same thing for both sets.
    const w = options.fusionWeight;
    const all = [...inside, ...outside];
    const om = ranks(all.map((r) => r.scores.overmap ?? 0)),
      msp = ranks(all.map((r) => r.scores.msp ?? 0));
    const fused = all.map((_, i) => w * om[i]! + (1 - w) * msp[i]!);
    rows.push(
      separationRow(
        `fused (${w}·overmap + ${Math.round((1 - w) * 10) / 10}·msp, ranks)`,
        fused.slice(0, inside.length),
        fused.slice(inside.length),
      ),
    );
  }
  const share = (rs: ImageRecord[]) =>
    rs.length === 0 ? NaN : rs.filter((r) => r.accepted === true).length / rs.length;
  return { nIn: inside.length, nOut: outside.length, rows, accepted: { in: share(inside), out: share(outside) } };
}
