/**
 * A run's summary as a mergeable sketch, so that shards summarised on different workers add
 * up to the run's: counts exactly; score quantiles from fixed-bin histograms over [0, 1]
 * (BINS bins: a quantile is off by at most 1/BINS); the risk-coverage table from the
 * confidence histogram of labelled records (rows at bin edges: a rejected fraction is off by
 * at most the share of records in one bin). Labels map to classes by classIndexer: a label
 * naming no class counts as neither right nor wrong.
 */
import { classIndexer } from '../labels';
import { SUMMARY_REJECT_FRACTIONS } from '../reject-fractions';
import type { ImageRecord } from '../schemas';
import { SKETCHED_SCORES, type SketchedScore } from '../score-derivations';
import type { Manifest } from './manifest';

export const BINS = 1000;

const bin = (v: number) => Math.min(BINS - 1, Math.max(0, Math.floor(v * BINS)));
const zeros = () => new Array<number>(BINS).fill(0);

export interface RunSummaryState {
  total: number; accepted: number; rejected: number;
  labelled: number; correct: number; labelledAccepted: number; correctAccepted: number;
  byStatus: Record<string, number>;
  perClass: Record<string, number>;
  /** records per image issue, and records with a copy (absent in summaries written before the checks) */
  imageIssues?: Record<string, number>;
  duplicates?: number;
  /** per sketched score (the registry's `sketched`), in registry order */
  hist: Record<SketchedScore, number[]>;
  /** per confidence bin, labelled records: [count, correct, correct in top 3] */
  rc: [number[], number[], number[]];
}

export class RunSummary {
  readonly s: RunSummaryState;
  private readonly classOf: (label: string | null | undefined) => number | null;

  constructor(classes: readonly string[], state?: RunSummaryState) {
    this.classOf = classIndexer(classes);
    this.s = state ?? {
      total: 0, accepted: 0, rejected: 0, labelled: 0, correct: 0, labelledAccepted: 0, correctAccepted: 0,
      byStatus: {}, perClass: {}, imageIssues: {}, duplicates: 0,
      hist: Object.fromEntries(SKETCHED_SCORES.map((k) => [k, zeros()])) as Record<SketchedScore, number[]>,
      rc: [zeros(), zeros(), zeros()],
    };
  }

  add(r: ImageRecord): void {
    const s = this.s;
    s.total++;
    s.byStatus[r.status] = (s.byStatus[r.status] ?? 0) + 1;
    if (r.accepted === true) s.accepted++;
    if (r.accepted === false) s.rejected++;
    if (r.prediction) s.perClass[r.prediction.class] = (s.perClass[r.prediction.class] ?? 0) + 1;
    s.imageIssues ??= {};
    for (const i of r.image_issues ?? []) s.imageIssues[i] = (s.imageIssues[i] ?? 0) + 1;
    if (r.duplicate_group) s.duplicates = (s.duplicates ?? 0) + 1;
    for (const k of SKETCHED_SCORES) {
      const v = r.scores[k];
      if (v !== null && v !== undefined && Number.isFinite(v)) s.hist[k][bin(v)]!++;
    }
    const label = this.classOf(r.label);
    if (label === null || !r.prediction) return;
    const ok = r.prediction.index === label;
    s.labelled++;
    if (ok) s.correct++;
    if (r.accepted) {
      s.labelledAccepted++;
      if (ok) s.correctAccepted++;
    }
    const b = bin(r.scores.confidence ?? 0);
    s.rc[0][b]!++;
    if (ok) s.rc[1][b]!++;
    if (r.prediction.top.slice(0, 3).some((t) => this.classOf(t.class) === label)) s.rc[2][b]!++;
  }

  merge(other: RunSummaryState): this {
    const s = this.s;
    for (const k of ['total', 'accepted', 'rejected', 'labelled', 'correct', 'labelledAccepted', 'correctAccepted'] as const) s[k] += other[k];
    for (const [k, n] of Object.entries(other.byStatus)) s.byStatus[k] = (s.byStatus[k] ?? 0) + n;
    for (const [k, n] of Object.entries(other.perClass)) s.perClass[k] = (s.perClass[k] ?? 0) + n;
    s.imageIssues ??= {};
    for (const [k, n] of Object.entries(other.imageIssues ?? {})) s.imageIssues[k] = (s.imageIssues[k] ?? 0) + n;
    s.duplicates = (s.duplicates ?? 0) + (other.duplicates ?? 0);
    // ?.: a shard summarised before a score was sketched has no histogram for it
    for (const k of SKETCHED_SCORES) other.hist[k]?.forEach((n, i) => { s.hist[k][i]! += n; });
    other.rc.forEach((arr, j) => arr.forEach((n, i) => { s.rc[j]![i]! += n; }));
    return this;
  }

  /** Quantiles from a histogram: the centre of the bin where the cumulative count crosses q·n. */
  static quantiles(hist: number[], qs = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]): Record<string, number | null> {
    const n = hist.reduce((a, b) => a + b, 0);
    const out: Record<string, number | null> = {};
    for (const q of qs) {
      if (n === 0) { out[`p${Math.round(q * 100)}`] = null; continue; }
      const target = Math.max(1, Math.ceil(q * n));
      let cum = 0, i = 0;
      for (; i < BINS; i++) { cum += hist[i]!; if (cum >= target) break; }
      out[`p${Math.round(q * 100)}`] = (Math.min(i, BINS - 1) + 0.5) / BINS;
    }
    return out;
  }

  /** Accuracy of what is kept after rejecting about each fraction, least confident bins first. */
  riskCoverage(): Record<string, number | null>[] {
    const [count, correct, top3] = this.s.rc;
    const n = this.s.labelled;
    return SUMMARY_REJECT_FRACTIONS.map((r) => {
      // keep whole bins from the top until the kept share would drop below 1 - r
      let kept = 0, ok = 0, ok3 = 0;
      for (let i = BINS - 1; i >= 0 && kept < Math.round(n * (1 - r)); i--) {
        kept += count[i]!; ok += correct[i]!; ok3 += top3[i]!;
      }
      const acc = kept ? ok / kept : null;
      return {
        rejected: r, coverage: n ? kept / n : 0, kept, accuracy: acc,
        risk: acc === null ? null : 1 - acc, top3Accuracy: kept ? ok3 / kept : null,
      };
    });
  }

  summary(): Manifest['summary'] {
    const s = this.s;
    return {
      score_quantiles: Object.fromEntries(SKETCHED_SCORES.map((k) => [k, RunSummary.quantiles(s.hist[k])])),
      score_quantile_resolution: 1 / BINS,
      predicted_per_class: s.perClass,
      image_issues: s.imageIssues ?? {},
      images_with_copies: s.duplicates ?? 0,
      ...(s.labelled > 0 ? {
        labelled: s.labelled,
        accuracy: s.correct / s.labelled,
        accuracy_accepted: s.labelledAccepted > 0 ? s.correctAccepted / s.labelledAccepted : null,
        risk_coverage: this.riskCoverage(),
      } : {}),
    };
  }
}
