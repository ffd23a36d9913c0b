/**
 * The run-wide step between scoring and compaction. One pass over every part file (one in memory
 * at a time) sums the images' measures into mergeable histograms, whose medians and spreads are
 * the image checks' fences (shared/image-issues.ts), and keeps each image's two hashes (about 30
 * bytes an image); the perceptual hashes are grouped (shared/near-duplicates.ts). Compaction then
 * gives each record its `image_issues` and `duplicate_group`, rewrites the part files whose
 * records changed, and writes the duplicates table. A run of one shard does all of it in its
 * finalization; a larger one in a group job (which writes each shard's share under
 * annotations/ and then fans out the compactions).
 */
import {
  type Decision,
  type ImageCheckParams,
  type PoolMoments,
  DEFAULT_ROUTING,
  calibrateOnPool,
  classIndexer,
  decisionScore,
  acceptAndRoute,
  type ImageFences,
  type ImageRecord,
  ImageStats,
  type RunJson,
  type RunResults,
  groupNearDuplicates,
  imageIssues,
  groupId,
  groupingHash,
  splitOf,
} from '@overmap/shared';

/** A growable Uint32 column (the pass does not know the run's size in images up front). */
class Column {
  data = new Uint32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Uint32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }
  get values(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

/** An image with a copy: its group's first member (run ordinal), distance, byte-exactness, group spans splits. */
export type DupEntry = [first: number, distance: number, exact: 0 | 1, leaky: 0 | 1];

export interface RunAnnotations {
  fences: ImageFences;
  nearDuplicateBits: number;
  /** image ordinal (position in the run's part order) -> its entry, for images with a copy */
  dup: Map<number, DupEntry>;
  /** ordinal of each part's first record */
  partStart: number[];
  stats: { groups: number; images_in_groups: number; leaky_groups: number; comparisons: number };
  /** the decision calibrated on the run (calibrate `run`), and the pool it was taken from */
  decision?: { rule: Decision; pool: PoolMoments };
}

/** Scans parts [0, batches): the measures' histograms, every decoded image's hashes, the secondary's moments. */
async function scan(results: RunResults, batches: number, secondary?: Decision['secondary']) {
  const stats = new ImageStats();
  const pool: PoolMoments = { n: 0, sum: 0, sumSq: 0 };
  const [hi, lo, ex, ord, split] = [new Column(), new Column(), new Column(), new Column(), new Column()];
  const splits = new Map<string | null, number>();
  const partStart: number[] = [];
  let ordinal = 0;
  for (let b = 0; b < batches; b++) {
    partStart.push(ordinal);
    for (const r of await results.readPart(b)) {
      const v = secondary && r.prediction ? r.scores[secondary] : null;
      if (typeof v === 'number' && Number.isFinite(v)) {
        pool.n++;
        pool.sum += v;
        pool.sumSq += v * v;
      }
      const m = r.image;
      if (m) {
        stats.add(m);
        const [h, l] = groupingHash(m);
        hi.push(h);
        lo.push(l);
        ex.push(parseInt(m.content_hash.slice(0, 8), 16) >>> 0);
        ord.push(ordinal);
        const s = splitOf(r.key);
        if (!splits.has(s)) splits.set(s, splits.size);
        split.push(splits.get(s)!);
      }
      ordinal++;
    }
  }
  return { stats, pool, hi: hi.values, lo: lo.values, ex: ex.values, ord: ord.values, split: split.values, partStart };
}

/** The run-wide annotations: fences from the run's measures, and its near-duplicate groups. */
export async function annotateRun(results: RunResults, run: RunJson & { batches: number }): Promise<RunAnnotations> {
  const d = run.params.decision;
  const calibrate = d?.calibrate === 'run' && d.rule === 'sirc';
  const s = await scan(results, run.batches, calibrate ? d.secondary : undefined);
  const params: ImageCheckParams = run.params.imageChecks;
  const k = run.params.nearDuplicateBits;
  const g = groupNearDuplicates(s.hi, s.lo, k);
  const leaky = new Set<number>();
  for (let i = 0; i < g.first.length; i++)
    if (g.first[i]! >= 0 && s.split[i] !== s.split[g.first[i]!]) leaky.add(g.first[i]!);
  const dup = new Map<number, DupEntry>();
  for (let i = 0; i < g.first.length; i++) {
    const f = g.first[i]!;
    if (f < 0) continue;
    dup.set(s.ord[i]!, [s.ord[f]!, g.distance[i]!, s.ex[i] === s.ex[f] ? 1 : 0, leaky.has(f) ? 1 : 0]);
  }
  return {
    fences: s.stats.fences(params),
    nearDuplicateBits: k,
    dup,
    partStart: s.partStart,
    stats: { groups: g.groups, images_in_groups: dup.size, leaky_groups: leaky.size, comparisons: g.comparisons },
    ...(calibrate ? { decision: { rule: calibrateOnPool(d, s.pool), pool: s.pool } } : {}),
  };
}

/** What compaction of parts [from, to) needs of the annotations (what a group job writes per shard). */
export interface ShardAnnotations {
  fences: ImageFences;
  /** ordinal of the shard's first record */
  start: number;
  /** [ordinal, ...entry] of the shard's images with a copy */
  dup: [number, ...DupEntry][];
  /** the decision calibrated on the run, where the spec asks for it: records are scored and routed again */
  decision?: Decision;
}

export function shardAnnotations(a: RunAnnotations, from: number, to: number): ShardAnnotations {
  const start = a.partStart[from] ?? 0;
  const end = to < a.partStart.length ? a.partStart[to]! : Infinity;
  const dup: [number, ...DupEntry][] = [];
  for (const [o, e] of a.dup) if (o >= start && o < end) dup.push([o, ...e]);
  return { fences: a.fences, start, dup, ...(a.decision ? { decision: a.decision.rule } : {}) };
}

/**
 * Annotates a shard's records as they stream through compaction, collecting its duplicates
 * rows; `changed` says whether a part's records differ from what its file holds.
 */
export class Annotator {
  private ordinal: number;
  private readonly dup: Map<number, DupEntry>;
  readonly rows: import('@overmap/shared').DuplicateRow[] = [];

  private readonly classOf: (label: string | null | undefined) => number | null;

  constructor(
    private readonly a: ShardAnnotations,
    private readonly run: Pick<RunJson, 'params'> & { classes: readonly string[] },
  ) {
    this.ordinal = a.start;
    this.dup = new Map(a.dup.map(([o, ...e]) => [o, e as DupEntry]));
    this.classOf = classIndexer(run.classes);
  }

  /** A scored record decided again under the run-calibrated decision: confidence, accepted and issue. */
  private redecide(r: ImageRecord): ImageRecord {
    const d = this.a.decision;
    if (!d || !r.prediction) return r;
    const confidence = decisionScore(r.scores, d);
    const { accepted, issue } = acceptAndRoute(
      {
        status: r.status,
        confidence,
        labelIndex: this.classOf(r.label),
        predIndex: r.prediction.index,
        labelQuality: r.scores.label_quality,
        gradcamSeg: r.scores.gradcam_seg,
      },
      this.run.params.threshold,
      this.run.params.routing ?? DEFAULT_ROUTING,
      this.run.classes.length,
    );
    if (confidence === r.scores.confidence && accepted === r.accepted && issue === r.issue) return r;
    return { ...r, scores: { ...r.scores, confidence }, accepted, issue };
  }

  /** The part's records annotated, and whether any changed. */
  part(records: ImageRecord[]): { records: ImageRecord[]; changed: boolean } {
    let changed = false;
    const out = records.map((original) => {
      const r = this.redecide(original);
      if (r !== original) changed = true;
      const issues = imageIssues(r.image, this.a.fences);
      const e = this.dup.get(this.ordinal++);
      const group = e ? groupId(e[0]) : null;
      if (e)
        this.rows.push({
          key: r.key,
          group: group!,
          distance: e[1],
          exact: e[2] === 1,
          split: splitOf(r.key),
          leaky: e[3] === 1,
        });
      const same = (r.duplicate_group ?? null) === group && (r.image_issues ?? []).join() === issues.join();
      if (same && r.image_issues && r.duplicate_group !== undefined) return r;
      changed = true;
      return { ...r, image_issues: issues, duplicate_group: group };
    });
    return { records: out, changed };
  }
}
