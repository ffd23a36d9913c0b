/**
 * A synthetic finished run, written through RunResults exactly as the fleet writes one
 * (run.json, part files, manifest.json) but with made-up records and no model: for the
 * report's benchmark and tests at sizes no test could score. Deterministic in its seed.
 */
import seedrandom from 'seedrandom';
import {
  type ImageRecord,
  type ImageStatus,
  RunResults,
  SCORE_NAMES,
  type Scores,
  errorRecord,
  partKey,
  DEFAULT_SHARD_PARTS,
  DEFAULT_NEAR_DUPLICATE_BITS,
  ImageCheckParamsSchema,
} from '@overmap/shared';

export const SYNTHETIC_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export interface SyntheticRunOptions {
  results: string;
  records: number;
  /** records per part file */
  batchSize?: number;
  /** false: every label null */
  labels?: boolean;
  threshold?: number;
  seed?: number;
  dataset?: string;
}

/** Record i of a synthetic run: mostly right, confident where right, a few no_mask and unreadable. */
export function syntheticRecord(i: number, rand: () => number, o: { labels: boolean; threshold: number }): ImageRecord {
  const k = SYNTHETIC_CLASSES.length;
  const truth = Math.floor(rand() * k);
  const key = `${SYNTHETIC_CLASSES[truth]!.toLowerCase().replace(/[^a-z]/g, '_')}/img-${String(i).padStart(7, '0')}.png`;
  const label = o.labels ? SYNTHETIC_CLASSES[truth]! : null;
  const u = rand();
  if (u < 0.003)
    return errorRecord(
      key,
      label,
      'read_error',
      `GET ${key} failed: HTTP 503 after ${1 + Math.floor(rand() * 3)} tries`,
    );
  if (u < 0.008)
    return errorRecord(
      key,
      label,
      (rand() < 0.5 ? 'decode_error' : 'too_large') as ImageStatus,
      `cannot decode: ${Math.floor(rand() * 9000)} bytes of garbage`,
    );
  const right = rand() < 0.7;
  const pred = right ? truth : (truth + 1 + Math.floor(rand() * (k - 1))) % k;
  const p0 = right ? 0.5 + 0.5 * rand() : 0.2 + 0.6 * rand();
  const p1 = (1 - p0) * rand(),
    p2 = (1 - p0 - p1) * rand();
  const others = Array.from({ length: k }, (_, c) => c).filter((c) => c !== pred);
  const second = right || rand() < 0.5 ? others[Math.floor(rand() * others.length)]! : truth;
  const third = others.filter((c) => c !== second)[Math.floor(rand() * (k - 2))]!;
  const noMask = rand() < 0.01;
  const on = right ? 0.2 + 0.6 * rand() : 0.6 * rand();
  const gs = noMask ? 0 : on * (0.6 + 0.4 * rand()),
    as = noMask ? 0 : on * (0.7 + 0.5 * rand()),
    ga = 0.2 + 0.6 * rand();
  const overmap = noMask ? 0 : (gs + ga) / 2;
  const scores = Object.fromEntries(SCORE_NAMES.map((s) => [s, null])) as unknown as Scores;
  Object.assign(scores, {
    confidence: overmap,
    overmap,
    gradcam_seg: gs,
    attention_seg: as,
    gradcam_attention: ga,
    msp: p0,
    entropy: -[p0, p1, p2].reduce((a, p) => a + (p > 0 ? p * Math.log(p) : 0), 0),
    margin: p0 - p1,
    label_gradcam_seg: label ? gs * rand() : null,
  });
  delete (scores as Record<string, unknown>).mc_dropout;
  return {
    key,
    label,
    status: noMask ? 'no_mask' : 'ok',
    error: null,
    prediction: {
      class: SYNTHETIC_CLASSES[pred]!,
      index: pred,
      top: [
        { class: SYNTHETIC_CLASSES[pred]!, p: p0 },
        { class: SYNTHETIC_CLASSES[second]!, p: p1 },
        { class: SYNTHETIC_CLASSES[third]!, p: p2 },
      ],
    },
    scores,
    accepted: overmap >= o.threshold,
    mask_fraction: noMask ? 0 : 0.1 + 0.4 * rand(),
    // a few bad images and pairs of copies (deterministic in i: the other fields do not move)
    image_issues: i % 53 === 7 ? ['dark'] : i % 97 === 11 ? ['blurry', 'low_information'] : [],
    duplicate_group: i % 41 < 2 ? `dup-${String(i - (i % 41)).padStart(9, '0')}` : null,
  };
}

/** Writes the run; returns its RunResults. */
export async function writeSyntheticRun(o: SyntheticRunOptions): Promise<RunResults> {
  const results = RunResults.open(o.results);
  const batchSize = o.batchSize ?? 1000,
    threshold = o.threshold ?? 0.3,
    labels = o.labels ?? true;
  const rand = seedrandom(String(o.seed ?? 42));
  const created = new Date().toISOString();
  const dataset = o.dataset ?? 's3://synthetic-bucket/images/';
  const model = { uri: 's3://synthetic-bucket/models/overmap-model.json', hash: '0'.repeat(64), name: 'synthetic' };
  await results.writeRun({
    run_id: 'synthetic-run',
    instance: 'synthetic',
    dataset,
    results: results.uri,
    model,
    classes: SYNTHETIC_CLASSES,
    params: {
      batchSize,
      labels: labels ? 'folder' : null,
      overlays: 'none',
      imageChecks: ImageCheckParamsSchema.parse({}),
      nearDuplicateBits: DEFAULT_NEAR_DUPLICATE_BITS,
      threshold,
      shardParts: DEFAULT_SHARD_PARTS,
      jobBatches: 1,
      ungroupedBatches: 0,
    },
    tool_version: 'synthetic',
    created,
    batches: Math.ceil(o.records / batchSize),
    images: o.records,
    skipped_keys: 0,
  });
  const byStatus: Record<string, number> = {};
  let accepted = 0,
    rejected = 0;
  const parts: string[] = [];
  for (let b = 0; b * batchSize < o.records; b++) {
    const recs: ImageRecord[] = [];
    for (let i = b * batchSize; i < Math.min(o.records, (b + 1) * batchSize); i++) {
      const r = syntheticRecord(i, rand, { labels, threshold });
      byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      if (r.accepted === true) accepted++;
      else if (r.accepted === false) rejected++;
      recs.push(r);
    }
    await results.writePart(b, recs);
    parts.push(partKey(b));
  }
  await results.writeManifest({
    run_id: 'synthetic-run',
    dataset,
    results: results.uri,
    created,
    finished: new Date().toISOString(),
    tool_version: 'synthetic',
    model,
    threshold,
    counts: { total: o.records, by_status: byStatus, accepted, rejected },
    parts,
    parquet: 'records.parquet',
    summary: { score_quantiles: {}, predicted_per_class: Object.fromEntries(SYNTHETIC_CLASSES.map((c) => [c, 0])) },
  });
  return results;
}
