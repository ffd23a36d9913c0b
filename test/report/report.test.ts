/**
 * The report without a browser: the bounded heap, the label-error queue, and reports of synthetic
 * runs (written through RunResults as the fleet writes them) checked against figures recomputed
 * here from every record: queue totals and listings, accuracy, the confusion matrix, the
 * sampled risk-coverage curves within their stated error, the exports; bad input.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import sharp from 'sharp';
import {
  type ImageRecord,
  REPORT_REJECT_FRACTIONS,
  RunResults,
  S3ObjectStore,
  type Scored,
  classIndexer,
  isScored,
  labelSuspicion,
  riskCoverageTable,
} from '@overmap/shared';
import { QUEUES, SYNTHETIC_CLASSES, TopN, buildReport, writeSyntheticRun } from '@overmap/report';
import { runCli } from '../helpers/fleet';
import { type S3Server, startS3, tmpDir } from '../helpers/services';

let dir: string;
beforeAll(async () => {
  dir = await tmpDir('overmap-report-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function allRecords(results: RunResults): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  for await (const r of results.records()) out.push(r);
  return out;
}

describe('TopN', () => {
  it('keeps the N best of a stream, whatever its order, ties broken by key', () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({
      rank: Math.floor((i * 7919) % 97),
      key: `k${String(i).padStart(4, '0')}`,
    }));
    const expected = [...items]
      .sort((a, b) => b.rank - a.rank || (a.key < b.key ? -1 : 1))
      .slice(0, 37)
      .map((x) => x.key);
    for (const order of [
      items,
      [...items].reverse(),
      [...items].sort((a, b) => (a.key.split('').reverse().join('') < b.key.split('').reverse().join('') ? -1 : 1)),
    ]) {
      const top = new TopN<string>(37);
      for (const x of order) top.offer(x.rank, x.key, x.key);
      expect(top.sorted()).toEqual(expected);
      expect(top.seen).toBe(1000);
    }
  });
});

describe('the label-error queue', () => {
  const classOf = classIndexer(SYNTHETIC_CLASSES);
  const queue = QUEUES.find((q) => q.id === 'label_errors')!;
  const rec = (
    label: string | null,
    top: [string, number][],
    confidence: number | null,
    accepted = true,
  ): ImageRecord => ({
    key: 'k',
    label,
    status: 'ok',
    error: null,
    accepted,
    prediction: { class: top[0]![0], index: classOf(top[0]![0])!, top: top.map(([c, p]) => ({ class: c, p })) },
    scores: {
      confidence,
      overmap: confidence,
      gradcam_seg: 0.5,
      attention_seg: 0.5,
      gradcam_attention: 0.5,
      msp: top[0]![1],
      entropy: 1,
      margin: 0.1,
    },
  });
  const top: [string, number][] = [
    ['Sneaker', 0.7],
    ['Ankle boot', 0.2],
    ['Bag', 0.1],
  ];
  it('ranks by the shared suspicion (1 + confidence where the prediction disagrees), with the label spelt any way', () => {
    const r = rec('ankle_boot', top, 0.5);
    expect(queue.rank(r, { classOf, threshold: 0.3 })).toBeCloseTo(1.5, 12);
    expect(queue.rank(r, { classOf, threshold: 0.3 })).toBe(labelSuspicion(r, classOf));
  });
  it('holds only accepted disagreements whose label names a class', () => {
    const ctx = { classOf, threshold: 0.3 };
    expect(queue.rank(rec('sneaker', top, 0.5), ctx)).toBeNull();
    expect(queue.rank(rec('giraffe', top, 0.5), ctx)).toBeNull();
    expect(queue.rank(rec(null, top, 0.5), ctx)).toBeNull();
    expect(queue.rank(rec('Coat', top, 0.2, false), ctx)).toBeNull();
  });
});

describe('buildReport on a synthetic run', () => {
  const N = 6000,
    PER = 40;
  let results: RunResults, records: ImageRecord[];
  let data: Awaited<ReturnType<typeof buildReport>>['data'];
  let reportDir: string;
  beforeAll(async () => {
    results = await writeSyntheticRun({ results: path.join(dir, 'syn'), records: N, batchSize: 500, threshold: 0.3 });
    records = await allRecords(results);
    // A sample smaller than the labelled population, so that the curves are estimates.
    ({ data } = await buildReport(results.uri, { perQueue: PER, sampleSize: 2000, images: 'none' }));
    reportDir = path.join(dir, 'syn', 'report');
  });

  it('counts every queue member and lists the best PER of each, in rank order', () => {
    const ctx = { classOf: classIndexer(SYNTHETIC_CLASSES), threshold: 0.3 };
    expect(records).toHaveLength(N);
    for (const q of QUEUES) {
      const members = records
        .map((r) => ({ r, rank: q.rank(r, ctx) }))
        .filter((x) => x.rank !== null)
        .sort((a, b) => b.rank! - a.rank! || (a.r.key < b.r.key ? -1 : 1));
      const got = data.queues.find((x) => x.id === q.id)!;
      expect(got.total).toBe(members.length);
      expect(got.cards.map((c) => c.key)).toEqual(members.slice(0, PER).map((x) => x.r.key));
    }
    expect(data.queues.find((q) => q.id === 'label_errors')!.total).toBeGreaterThan(PER);
  });

  it('lists copies side by side (each pair of the synthetic run together) and bad images with the most problems first', () => {
    const dups = data.queues.find((q) => q.id === 'duplicates')!;
    expect(dups.total).toBe(records.filter((r) => r.duplicate_group).length);
    expect(dups.cards).toHaveLength(PER);
    for (let i = 0; i < PER; i += 2) expect(dups.cards[i + 1]!.duplicateGroup).toBe(dups.cards[i]!.duplicateGroup);
    const bad = data.queues.find((q) => q.id === 'bad_images')!;
    expect(bad.total).toBe(records.filter((r) => r.image_issues?.length).length);
    const sizes = bad.cards.map((c) => c.imageIssues.length);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    expect(sizes[0]).toBe(2);
  });

  it('aggregates: accuracy and the confusion matrix equal a count over every record', () => {
    const classOf = classIndexer(SYNTHETIC_CLASSES);
    const labelled = records.filter((r) => r.prediction && classOf(r.label) !== null);
    const correct = labelled.filter((r) => r.prediction!.index === classOf(r.label)).length;
    expect(data.aggregates.labelled).toBe(labelled.length);
    expect(data.aggregates.correct).toBe(correct);
    expect(data.aggregates.confusion.flat().reduce((a, b) => a + b, 0)).toBe(labelled.length);
    expect(data.aggregates.confusion.reduce((a, row, i) => a + row[i]!, 0)).toBe(correct);
    expect(data.aggregates.total).toBe(N);
    expect(Object.values(data.aggregates.reasons).reduce((a, b) => a + b, 0)).toBe(
      records.filter((r) => !isScored(r.status)).length,
    );
  });

  it('risk-coverage from the sample is within its stated error of the curve on every record', () => {
    const classOf = classIndexer(SYNTHETIC_CLASSES);
    const rc = data.riskCoverage;
    expect(rc.sampled).toBe(2000);
    expect(rc.maxError).toBeGreaterThan(0);
    const labelled = records.filter((r) => r.prediction && classOf(r.label) !== null);
    for (const name of ['msp', 'overmap']) {
      const exact = riskCoverageTable(
        labelled.map((r): Scored => ({
          confidence: r.scores[name as 'msp']!,
          correct: r.prediction!.index === classOf(r.label),
        })),
        REPORT_REJECT_FRACTIONS,
      );
      const curve = rc.curves.find((c) => c.name.split(' = ').includes(name))!;
      curve.points.forEach((p, i) =>
        expect(Math.abs(p.accuracy - exact[i]!.accuracy)).toBeLessThanOrEqual(rc.maxError),
      );
    }
    // entropy enters with its sign turned (higher = less certain)
    expect(rc.curves.some((c) => c.name.startsWith('−entropy'))).toBe(true);
  });

  it("exports: the CSV lists the queue's keys, Label Studio keeps s3:// image URIs and the prediction", async () => {
    for (const q of data.queues) {
      const rows = parseCsv(await fs.readFile(path.join(reportDir, q.exports.csv)), { columns: true }) as Record<
        string,
        string
      >[];
      expect(rows.map((r) => r.key)).toEqual(q.cards.map((c) => c.key));
      const jsonl = (await fs.readFile(path.join(reportDir, q.exports.jsonl), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      expect(jsonl.map((r) => r.key)).toEqual(q.cards.map((c) => c.key));
      const tasks = JSON.parse(await fs.readFile(path.join(reportDir, q.exports.labelStudio), 'utf8'));
      expect(tasks.map((t: { data: { key: string } }) => t.data.key)).toEqual(q.cards.map((c) => c.key));
      for (const t of tasks) expect(t.data.image).toBe(`s3://synthetic-bucket/images/${t.data.key}`);
    }
    const le = JSON.parse(await fs.readFile(path.join(reportDir, 'exports/label_errors.label-studio.json'), 'utf8'));
    const card = data.queues.find((q) => q.id === 'label_errors')!.cards[0]!;
    expect(le[0].predictions[0].result[0].value.choices).toEqual([card.pred]);
    expect(le[0].meta.suspicion).toBeCloseTo(card.rank, 12);
  });

  it('the page embeds its data in a script (no fetch from file://) and links only relative paths', async () => {
    const html = await fs.readFile(path.join(reportDir, 'index.html'), 'utf8');
    const js = await fs.readFile(path.join(reportDir, 'report-data.js'), 'utf8');
    expect(JSON.parse(js.slice(js.indexOf('{'), js.lastIndexOf('}') + 1))).toEqual(
      JSON.parse(await fs.readFile(path.join(reportDir, 'report-data.json'), 'utf8')),
    );
    const links = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) expect(l).not.toMatch(/^(\/|[a-z]+:)/i);
    expect(await fs.readFile(path.join(reportDir, 'report.js'), 'utf8')).not.toMatch(/fetch\(/);
  });
});

describe('buildReport: bad input and missing labels', () => {
  it('a run without labels leaves the label queue out and says why', async () => {
    const results = await writeSyntheticRun({ results: path.join(dir, 'nolabels'), records: 300, labels: false });
    const { data } = await buildReport(results.uri, { images: 'none' });
    expect(data.queues.map((q) => q.id)).not.toContain('label_errors');
    expect(data.omittedQueues.map((q) => q.id)).toEqual(['label_errors']);
    expect(data.omittedQueues[0]!.why).toMatch(/no labels.*--labels/);
    expect(await fs.readFile(path.join(dir, 'nolabels', 'report', 'index.html'), 'utf8')).toContain(
      'the run has no labels',
    );
  });

  it('a results URI with no manifest: overmap report exits non-zero with one line naming it and overmap status', async () => {
    const unfinished = path.join(dir, 'unfinished');
    await writeSyntheticRun({ results: unfinished, records: 10 });
    await fs.rm(path.join(unfinished, 'manifest.json'));
    const r = await runCli(['report', unfinished], { ...process.env, LOG_LEVEL: 'warn' });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(unfinished);
    expect(r.stderr).toContain('overmap status');
    await expect(fs.access(path.join(unfinished, 'report'))).rejects.toThrow();
  });
});

describe('buildReport on S3', () => {
  let s3: S3Server;
  const creds = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
  beforeAll(async () => {
    s3 = await startS3(['datasets', 'results']);
    Object.assign(process.env, creds, { S3_ENDPOINT: s3.endpoint });
  });
  afterAll(async () => {
    for (const k of [...Object.keys(creds), 'S3_ENDPOINT']) delete process.env[k];
    await s3.stop();
  });

  it('reads the run and the images from s3:// and writes the report under <results-uri>/report/ there', async () => {
    const results = await writeSyntheticRun({
      results: 's3://results/syn/',
      records: 120,
      dataset: 's3://datasets/scenes/',
    });
    const records = await allRecords(results);
    const dataset = new S3ObjectStore('datasets', 'scenes/', { endpoint: s3.endpoint });
    const png = await sharp({ create: { width: 40, height: 32, channels: 3, background: '#4a7' } })
      .png()
      .toBuffer();
    // a rejected image (so listed) that is never uploaded: "deleted since the run"
    const gone = records.filter((r) => r.accepted === false).sort((a, b) => (a.key < b.key ? -1 : 1))[0]!.key;
    for (const r of records) if (r.key !== gone) await dataset.put(r.key, png);
    const { data, index } = await buildReport('s3://results/syn/', { images: 'thumbs' });
    expect(index).toBe('s3://results/syn/report/index.html');
    const out = new S3ObjectStore('results', 'syn/report/', { endpoint: s3.endpoint });
    expect((await out.get('index.html')).toString()).toContain('<script src="report-data.js"></script>');
    const cards = data.queues.flatMap((q) => q.cards);
    expect(cards.map((c) => c.key)).toContain(gone);
    for (const c of cards) {
      if (c.key === gone) expect(c.img.missing).toMatch(/deleted or moved since the run/);
      else expect((await sharp(await out.get(c.img.thumb!)).metadata()).format).toBe('jpeg');
    }
    const tasks = JSON.parse((await out.get(data.queues[0]!.exports.labelStudio)).toString());
    expect(tasks[0].data.image).toBe(`s3://datasets/scenes/${tasks[0].data.key}`);
  });
});
