/**
 * `overmap audit`: the confidences measured on the user's own data. A person verifies the labels
 * of a random sample of a run's images; for every confidence the records carry, the audit gives
 * AURC, AUGRC and the AUROC of error detection with bootstrap 95% intervals on that sample, picks
 * the decision score a model spec can express with the lowest AUGRC, and sets its threshold so
 * that the error among accepted images is at most α with probability ≥ 1 − δ (risk-control.ts).
 * Nothing is rescored: the records hold every component.
 */
import {
  type ImageRecord,
  type Scored,
  augrc,
  aurc,
  aurocOfErrorDetection,
  classIndexer,
  confidenceValue,
  isScored,
} from '@overmap/shared';
import { CONFIDENCES, confidenceLabel } from '../evaluate-records';
import { type Interval, bootstrapInterval } from './bootstrap';
import { type RiskControlResult, controlSelectiveRisk } from './risk-control';

/** The scores a model spec's `decision` can make the decision score, and how. */
export const DECISION_CANDIDATES = {
  confidence: null, // the run's own decision, unchanged
  overmap: { rule: 'overmap' },
  msp: { rule: 'softmax', primary: 'msp' },
  margin: { rule: 'softmax', primary: 'margin' },
  maxlogit_pnorm: { rule: 'softmax', primary: 'maxlogit_pnorm' },
} as const;
export type DecisionCandidate = keyof typeof DECISION_CANDIDATES;

export interface AuditOptions {
  alpha: number;
  delta: number;
  resamples?: number;
  seed?: string;
}

export interface ScoreAudit {
  name: string;
  aurc: Interval;
  augrc: Interval;
  auroc: Interval;
}

export interface AuditResult {
  /** verified keys, those with a record, those whose record was scored */
  verified: number;
  matched: number;
  scored: number;
  /** verified keys the run has no record of (a typo, or another dataset) */
  unknownKeys: string[];
  /** verified labels that name none of the model's classes: each such prediction counts as an error */
  notAClass: number;
  /** Top-1 accuracy of the run's predictions on the verified sample */
  accuracy: number;
  scores: ScoreAudit[];
  chosen: {
    score: DecisionCandidate;
    /** the spec's `decision` to use (null: keep the run's), and its threshold */
    decision: (typeof DECISION_CANDIDATES)[DecisionCandidate];
    riskControl: RiskControlResult;
    /** share of the whole run's scored images the chosen rule accepts */
    runCoverage: number | null;
  };
}

interface Item {
  record: ImageRecord;
  error: boolean;
}

const metricsOf = (items: Item[], name: (typeof CONFIDENCES)[number]): Scored[] =>
  items.map((x) => ({ confidence: confidenceValue(x.record.scores, name as never) ?? NaN, correct: !x.error }));

/** Audits `records` (one run's) against verified labels. */
export function auditRecords(
  records: ImageRecord[],
  verified: Map<string, string>,
  classes: readonly string[],
  options: AuditOptions,
): AuditResult {
  const classOf = classIndexer(classes);
  const byKey = new Map(records.map((r) => [r.key, r]));
  const unknownKeys: string[] = [];
  const items: Item[] = [];
  let matched = 0,
    notAClass = 0;
  for (const [key, label] of verified) {
    const r = byKey.get(key);
    if (!r) {
      unknownKeys.push(key);
      continue;
    }
    matched++;
    if (!isScored(r.status) || !r.prediction) continue;
    const c = classOf(label);
    if (c === null) notAClass++;
    items.push({ record: r, error: c === null || r.prediction.index !== c });
  }
  const seed = options.seed ?? 'overmap-audit';
  const boot = (m: (xs: Scored[]) => number, xs: Scored[], name: string) =>
    bootstrapInterval(xs, m, { resamples: options.resamples ?? 1000, seed: `${seed}-${name}` });
  const scores: ScoreAudit[] = [];
  for (const name of CONFIDENCES) {
    if (name === 'random') continue;
    const xs = metricsOf(items, name);
    if (xs.length === 0 || xs.some((x) => !Number.isFinite(x.confidence))) continue; // not run, or older records
    scores.push({
      name: confidenceLabel(name),
      aurc: boot(aurc, xs, `aurc-${name}`),
      augrc: boot(augrc, xs, `augrc-${name}`),
      auroc: boot(aurocOfErrorDetection, xs, `auroc-${name}`),
    });
  }
  const candidates = (Object.keys(DECISION_CANDIDATES) as DecisionCandidate[]).filter((c) =>
    scores.some((s) => s.name === c),
  );
  const augrcOf = (c: string) => scores.find((s) => s.name === c)!.augrc.value;
  // lowest AUGRC; the run's own decision where it ties (no change without a reason)
  const score = candidates.reduce((best, c) => (augrcOf(c) < augrcOf(best) ? c : best), candidates[0] ?? 'confidence');
  const riskControl = controlSelectiveRisk(
    metricsOf(items, score).map((x) => ({ confidence: x.confidence, error: !x.correct })),
    options.alpha,
    options.delta,
  );
  const runScored = records.filter((r) => isScored(r.status) && r.prediction);
  const t = riskControl.threshold;
  const runCoverage =
    t === null || runScored.length === 0
      ? null
      : runScored.filter((r) => (confidenceValue(r.scores, score) ?? -Infinity) >= t).length / runScored.length;
  return {
    verified: verified.size,
    matched,
    scored: items.length,
    unknownKeys,
    notAClass,
    accuracy: items.length ? items.filter((x) => !x.error).length / items.length : NaN,
    scores,
    chosen: { score, decision: DECISION_CANDIDATES[score], riskControl, runCoverage },
  };
}
