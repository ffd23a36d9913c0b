/**
 * Selective classification metrics (Geifman & El-Yaniv 2017). Sort by confidence, keep
 * the most confident fraction (the coverage); the error rate of what is kept is the
 * selective risk. AURC is the mean selective risk over all coverages n/N; E-AURC
 * subtracts the AURC of an oracle ranking with the same errors. AUROC of error detection
 * is the probability that a correct prediction outscores a wrong one (ties count half).
 */
export interface Scored {
  confidence: number;
  correct: boolean;
  /** true class index, for macro accuracy */
  label?: number;
  /** whether the true class is among the top 3 */
  correctTop3?: boolean;
}

/** Indices sorted by confidence, most confident first; ties keep input order (stable). */
function order(items: Scored[]): number[] {
  return items.map((_, i) => i).sort((a, b) => items[b]!.confidence - items[a]!.confidence || a - b);
}

export function aurc(items: Scored[]): number {
  if (items.length === 0) return NaN;
  let errors = 0,
    sum = 0;
  order(items).forEach((i, n) => {
    if (!items[i]!.correct) errors++;
    sum += errors / (n + 1);
  });
  return sum / items.length;
}

/** AURC of the oracle that ranks every correct prediction above every error. */
export function optimalAurc(items: Scored[]): number {
  const oracle = items.map((x) => ({ ...x, confidence: x.correct ? 1 : 0 }));
  return aurc(oracle);
}

export const eAurc = (items: Scored[]) => aurc(items) - optimalAurc(items);

/**
 * AUGRC (Traub et al., NeurIPS 2024): the area under the generalized risk-coverage curve, where the
 * generalized risk at a coverage is the share of *all* items that are failures and accepted
 * (P(failure, accepted), not P(failure | accepted) as in AURC). Equivalently the average risk of an
 * undetected failure over all rejection rates. The curve runs from (0, 0) through one point per
 * distinct confidence (ties enter together), integrated by trapezoids; then
 *   AUGRC = (1 − AUROC)·acc·(1 − acc) + ½(1 − acc)²
 * with AUROC of error detection (ties half) and acc the accuracy of all items.
 */
export function augrc(items: Scored[]): number {
  const n = items.length;
  if (n === 0) return NaN;
  const idx = order(items);
  let area = 0,
    prevCov = 0,
    prevRisk = 0,
    errors = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j < n && items[idx[j]!]!.confidence === items[idx[i]!]!.confidence) {
      if (!items[idx[j]!]!.correct) errors++;
      j++;
    }
    const cov = j / n,
      risk = errors / n;
    area += ((cov - prevCov) * (risk + prevRisk)) / 2;
    prevCov = cov;
    prevRisk = risk;
    i = j;
  }
  return area;
}

export function aurocOfErrorDetection(items: Scored[]): number {
  const pos = items.filter((x) => x.correct).map((x) => x.confidence);
  const neg = items.filter((x) => !x.correct).map((x) => x.confidence);
  if (pos.length === 0 || neg.length === 0) return NaN;
  // Rank-sum (Mann-Whitney U) with average ranks for ties.
  const all = [...pos.map((v) => ({ v, p: true })), ...neg.map((v) => ({ v, p: false }))].sort((a, b) => a.v - b.v);
  let rankSumPos = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k]!.p) rankSumPos += avg;
    i = j + 1;
  }
  return (rankSumPos - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

/** The kept items after rejecting the least confident `rejectFraction`. */
export function keepMostConfident(items: Scored[], rejectFraction: number): Scored[] {
  const keep = Math.round(items.length * (1 - rejectFraction));
  return order(items)
    .slice(0, keep)
    .map((i) => items[i]!);
}

export const accuracy = (items: Scored[], top3 = false) =>
  items.length === 0 ? NaN : items.filter((x) => (top3 ? x.correctTop3 : x.correct)).length / items.length;

/** Mean over classes present of the per-class accuracy (the paper's "macro accuracy"). */
export function macroAccuracy(items: Scored[], top3 = false): number {
  const by = new Map<number, { n: number; ok: number }>();
  for (const x of items) {
    if (x.label === undefined) continue;
    const s = by.get(x.label) ?? { n: 0, ok: 0 };
    s.n++;
    if (top3 ? x.correctTop3 : x.correct) s.ok++;
    by.set(x.label, s);
  }
  if (by.size === 0) return NaN;
  return [...by.values()].reduce((a, s) => a + s.ok / s.n, 0) / by.size;
}

export interface RiskCoverageRow {
  rejected: number;
  coverage: number;
  kept: number;
  accuracy: number;
  risk: number;
  top3Accuracy?: number;
  macroAccuracy?: number;
  macroTop3Accuracy?: number;
}

/** The table at each fraction rejected: a grid of reject-fractions.ts (no default: each reader has its own). */
export function riskCoverageTable(items: Scored[], rejectFractions: readonly number[]): RiskCoverageRow[] {
  return rejectFractions.map((r) => {
    const kept = keepMostConfident(items, r);
    const acc = accuracy(kept);
    const row: RiskCoverageRow = { rejected: r, coverage: 1 - r, kept: kept.length, accuracy: acc, risk: 1 - acc };
    if (items.some((x) => x.correctTop3 !== undefined)) row.top3Accuracy = accuracy(kept, true);
    if (items.some((x) => x.label !== undefined)) {
      row.macroAccuracy = macroAccuracy(kept);
      row.macroTop3Accuracy = macroAccuracy(kept, true);
    }
    return row;
  });
}

/** Quantiles by linear interpolation between order statistics. */
export function quantiles(values: number[], qs = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]): Record<string, number> {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const out: Record<string, number> = {};
  for (const q of qs) {
    if (v.length === 0) {
      out[`p${Math.round(q * 100)}`] = NaN;
      continue;
    }
    const pos = q * (v.length - 1),
      lo = Math.floor(pos),
      hi = Math.ceil(pos);
    out[`p${Math.round(q * 100)}`] = v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
  }
  return out;
}
