/**
 * One pass over a run's records (streamed one part file at a time by RunResults.records()):
 * the queues' best records (bounded heaps) and the aggregates the header shows: counts,
 * accuracy, per-class table, confusion matrix, and a bounded uniform sample of labelled
 * records for the risk-coverage curves. Memory is O(queues × perQueue + sample + classes²),
 * whatever the run's size.
 */
import seedrandom from 'seedrandom';
import {
  CONFIDENCE_SCORES,
  type ConfidenceScore,
  type ImageRecord,
  REPORT_REJECT_FRACTIONS,
  type Scored,
  aurc,
  classIndexer,
  confidenceValue,
  isScored,
  orientedName,
  riskCoverageTable,
} from '@overmap/shared';
import { QUEUES, type QueueContext, type QueueDef, type QueueId, reasonOf } from './queues';
import { TopN } from './top-n';

const MAX_REASONS = 200;

export interface ClassRow {
  class: string;
  /** records labelled with this class, and how many of them the model got right */
  labelled: number;
  correct: number;
  /** records predicted as this class, how many rejected, and their mean confidence */
  predicted: number;
  rejected: number;
  confidenceSum: number;
}

export interface Aggregates {
  total: number;
  byStatus: Record<string, number>;
  accepted: number;
  rejected: number;
  /** records whose label names a class, and of those: correct, accepted, accepted and correct */
  labelled: number;
  correct: number;
  labelledAccepted: number;
  correctAccepted: number;
  /** records with a label that names no class of the model (neither right nor wrong) */
  unknownLabels: number;
  /** records with any label at all */
  withLabel: number;
  perClass: ClassRow[];
  /** confusion[label][predicted] */
  confusion: number[][];
  /** unreadable reasons -> count ("other reasons" past MAX_REASONS distinct ones) */
  reasons: Record<string, number>;
}

/** values: each curve score's confidenceValue (higher = more confident), in `scoreNames` order */
interface SampleItem {
  correct: boolean;
  values: (number | null)[];
}

export interface CollectOptions {
  perQueue: number;
  sampleSize: number;
}

export interface Curve {
  name: string;
  aurc: number;
  points: { rejected: number; accuracy: number }[];
}
export interface RiskCoverage {
  /** labelled scorable records seen, and how many the curves were computed on */
  population: number;
  sampled: number;
  /** 95% bound on a curve point's error from sampling: 0 when every record was used */
  maxError: number;
  curves: Curve[];
}

export class Collector {
  readonly agg: Aggregates;
  readonly heaps = new Map<QueueId, TopN<ImageRecord & { rank: number }>>();
  private readonly sample: SampleItem[] = [];
  private sampleSeen = 0;
  /** seeded: the sample, and so the curves, are the same on every run */
  private readonly rng = seedrandom('overmap-report-sample');
  /** the curves' scores: the score registry's confidences (a score that needs the label is none) */
  private readonly scoreNames: readonly ConfidenceScore[] = CONFIDENCE_SCORES;

  constructor(
    readonly classes: string[],
    readonly ctx: QueueContext,
    readonly queues: QueueDef[],
    private readonly o: CollectOptions,
  ) {
    const k = classes.length;
    this.agg = {
      total: 0,
      byStatus: {},
      accepted: 0,
      rejected: 0,
      labelled: 0,
      correct: 0,
      labelledAccepted: 0,
      correctAccepted: 0,
      unknownLabels: 0,
      withLabel: 0,
      reasons: {},
      perClass: classes.map((c) => ({
        class: c,
        labelled: 0,
        correct: 0,
        predicted: 0,
        rejected: 0,
        confidenceSum: 0,
      })),
      confusion: Array.from({ length: k }, () => new Array<number>(k).fill(0)),
    };
    for (const q of queues) this.heaps.set(q.id, new TopN(o.perQueue));
  }

  add(r: ImageRecord): void {
    const a = this.agg;
    a.total++;
    a.byStatus[r.status] = (a.byStatus[r.status] ?? 0) + 1;
    if (r.accepted === true) a.accepted++;
    else if (r.accepted === false) a.rejected++;
    if (r.label != null) a.withLabel++;
    const label = this.ctx.classOf(r.label);
    if (r.label != null && label === null) a.unknownLabels++;
    const pred = r.prediction?.index;
    if (pred !== undefined && a.perClass[pred]) {
      const row = a.perClass[pred]!;
      row.predicted++;
      if (r.accepted === false) row.rejected++;
      row.confidenceSum += r.scores.confidence ?? 0;
    }
    if (label !== null && pred !== undefined && a.perClass[label]) {
      const correct = pred === label;
      a.labelled++;
      a.perClass[label]!.labelled++;
      if (correct) {
        a.correct++;
        a.perClass[label]!.correct++;
      }
      if (r.accepted === true) {
        a.labelledAccepted++;
        if (correct) a.correctAccepted++;
      }
      const row = a.confusion[label];
      if (row && pred < row.length) row[pred]!++;
      this.addToSample({ correct, values: this.scoreNames.map((s) => confidenceValue(r.scores, s)) });
    }
    if (!isScored(r.status)) {
      const reason = reasonOf(r);
      if (reason in a.reasons || Object.keys(a.reasons).length < MAX_REASONS)
        a.reasons[reason] = (a.reasons[reason] ?? 0) + 1;
      else a.reasons['other reasons'] = (a.reasons['other reasons'] ?? 0) + 1;
    }
    for (const q of this.queues) {
      const rank = q.rank(r, this.ctx);
      if (rank !== null) this.heaps.get(q.id)!.offer(rank, r.key, { ...r, rank });
    }
  }

  /** Reservoir sampling (Vitter's algorithm R): a uniform sample of at most sampleSize items. */
  private addToSample(item: SampleItem): void {
    this.sampleSeen++;
    if (this.sample.length < this.o.sampleSize) this.sample.push(item);
    else {
      const j = Math.floor(this.rng() * this.sampleSeen);
      if (j < this.o.sampleSize) this.sample[j] = item;
    }
  }

  /**
   * Accuracy against the fraction rejected for every score present on every sampled record,
   * through the shared risk-coverage math. On a sample of n records, a point's accuracy is
   * off by at most 1.96·sqrt(0.25 / kept) at 95% (kept = n·(1 − rejected)); maxError is that
   * bound at the curve's last point (the fewest kept).
   */
  riskCoverage(): RiskCoverage {
    const n = this.sample.length;
    const curves: Curve[] = [];
    const of: number[] = []; // curve -> score index
    this.scoreNames.forEach((name, i) => {
      if (n === 0 || this.sample.some((x) => x.values[i] == null)) return;
      const scored: Scored[] = this.sample.map((x) => ({ confidence: x.values[i]!, correct: x.correct }));
      const table = riskCoverageTable(scored, REPORT_REJECT_FRACTIONS);
      // a score where lower is more confident enters negated (confidenceValue), and its curve says so: −entropy
      const curve = {
        name: orientedName(name, '−'),
        aurc: aurc(scored),
        points: table.map((t) => ({ rejected: t.rejected, accuracy: t.accuracy })),
      };
      // A score equal to another on every record (confidence is overmap under some specs) shares its line.
      const twin = curves.findIndex((_c, j) => this.sample.every((x) => x.values[of[j]!] === x.values[i]));
      if (twin >= 0) curves[twin]!.name += ` = ${curve.name}`;
      else {
        curves.push(curve);
        of.push(i);
      }
    });
    const minKept = Math.max(1, Math.round(n * (1 - REPORT_REJECT_FRACTIONS[REPORT_REJECT_FRACTIONS.length - 1]!)));
    return {
      population: this.sampleSeen,
      sampled: n,
      maxError: n < this.sampleSeen ? 1.96 * Math.sqrt(0.25 / minKept) : 0,
      curves,
    };
  }
}

export function collectorFor(classes: string[], threshold: number, o: CollectOptions): Collector {
  return new Collector(classes, { classOf: classIndexer(classes), threshold }, QUEUES, o);
}
