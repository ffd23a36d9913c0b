/**
 * `overmap report`: a run's records (read once, streamed) as a static folder that opens from
 * disk: index.html, report-data.js (the data, loaded by a <script> tag since browsers do not
 * let a file:// page fetch() a local JSON), report-data.json (the same, for programs), the
 * card pictures under img/ and the exports under exports/. Written through the ObjectStore,
 * so an s3:// results URI gets its report on S3; index.html is written last.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  type ImageRecord,
  InputError,
  type ObjectStore,
  RunResults,
  SCORE_NAMES,
  classIndexer,
  openStore,
} from '@overmap/shared';
import { type Aggregates, type RiskCoverage, collectorFor } from './collect';
import { type ExportRow, imageUri, labelStudioConfig, toCsv, toJsonl, toLabelStudio } from './exports';
import { classTable, confusionTable, esc, headerHtml, riskCoverageSvg } from './page-static';
import { QUEUES, type QueueId } from './queues';
import { type CardImages, type TileOptions, writeTiles } from './tiles';

export const REPORT_DIR = 'report/';
export const DEFAULT_PER_QUEUE = 500;
export const DEFAULT_SAMPLE = 20_000;

export interface ReportOptions {
  /** where the report goes (default <results-uri>/report/) */
  out?: string;
  perQueue?: number;
  /** the risk-coverage sample's size */
  sampleSize?: number;
  images?: TileOptions['images'];
  limits?: TileOptions['limits'];
  /** cards per page in the browser */
  pageSize?: number;
  /** progress lines (stderr in the CLI) */
  log?: (line: string) => void;
}

export interface Card {
  key: string;
  image: string;
  label: string | null;
  labelClass: number | null;
  pred: string | null;
  predIndex: number | null;
  top: { class: string; p: number }[];
  status: string;
  error: string | null;
  accepted: boolean | null;
  rank: number;
  scores: Record<string, number | null>;
  mask_fraction: number | null;
  img: CardImages;
}

export interface ReportQueue {
  id: QueueId;
  title: string;
  description: string;
  rankName: string;
  /** every member of the queue in the run, and the listed ones (the best perQueue) */
  total: number;
  cards: Card[];
  exports: { csv: string; jsonl: string; labelStudio: string };
  reasons?: Record<string, number>;
}

export interface ReportData {
  version: 1;
  run: {
    run_id: string;
    dataset: string;
    results: string;
    model: { uri: string; hash: string; name?: string };
    threshold: number;
    created?: string;
    finished?: string;
    tool_version?: string;
  };
  classes: string[];
  scoreNames: string[];
  perQueue: number;
  pageSize: number;
  aggregates: Aggregates;
  riskCoverage: RiskCoverage;
  queues: ReportQueue[];
  omittedQueues: { id: QueueId; title: string; why: string }[];
  maps: { source: string; note: string | null };
  labelStudioConfig: string;
}

export interface ReportResult {
  uri: string;
  index: string;
  data: ReportData;
  seconds: number;
}

const ASSETS = path.resolve(__dirname, '../assets');

/** The report folder's store and URI for a results URI (default: its report/ folder). */
export function reportLocation(results: RunResults, out?: string): { store: ObjectStore; uri: string } {
  const uri = out ?? results.uriOf(REPORT_DIR);
  const store = openStore(uri, {}, 'report --out URI');
  return { store, uri: store.uri };
}

export async function buildReport(resultsUri: string, o: ReportOptions = {}): Promise<ReportResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const results = RunResults.open(resultsUri);
  const manifest = await results.readManifest();
  if (!manifest) {
    throw new InputError(
      `no manifest.json under ${results.uri}: the run has not finished (or this is not a results URI); see its progress with \`overmap status ${resultsUri}\``,
    );
  }
  const run = await results.requireRun();
  const classes = run.classes ?? Object.keys(manifest.summary.predicted_per_class);
  const perQueue = o.perQueue ?? DEFAULT_PER_QUEUE;
  const collector = collectorFor(classes, manifest.threshold, { perQueue, sampleSize: o.sampleSize ?? DEFAULT_SAMPLE });
  let n = 0;
  for await (const r of results.records()) {
    collector.add(r);
    if (++n % 100_000 === 0) log(`building report: ${n} records read`);
  }
  const agg = collector.agg;
  log(`building report: ${n} records read`);

  const omittedQueues: ReportData['omittedQueues'] = [];
  const active = QUEUES.filter((q) => {
    if (!q.needsLabels || agg.labelled > 0) return true;
    const why =
      agg.withLabel === 0
        ? 'the run has no labels: run it with --labels folder or --labels <csv|jsonl> to find probable label errors.'
        : `none of the ${agg.withLabel} labels names one of the model's classes (${classes.join(', ')}), so no prediction can disagree with one.`;
    omittedQueues.push({ id: q.id, title: q.title, why });
    return false;
  });

  const listed = new Map<QueueId, (ImageRecord & { rank: number })[]>();
  for (const q of active) listed.set(q.id, collector.heaps.get(q.id)!.sorted());
  const unique = new Map<string, ImageRecord>();
  for (const rs of listed.values()) for (const r of rs) unique.set(r.key, r);

  const { store: out, uri } = reportLocation(results, o.out);
  log(`building report: pictures for ${unique.size} images`);
  const tiles = await writeTiles([...unique.values()], run, results, out, {
    images: o.images ?? 'maps',
    limits: o.limits,
  });

  const classOf = classIndexer(classes);
  const modelVersion = `${run.model.name ?? 'overmap'}@${run.model.hash.slice(0, 12)}`;
  const scoreNames = SCORE_NAMES.filter(
    (s) => [...unique.values()].some((r) => r.scores[s] !== undefined) || !unique.size,
  );
  const queues: ReportQueue[] = [];
  for (const q of active) {
    const rows = listed.get(q.id)! as ExportRow[];
    const exports = {
      csv: `exports/${q.id}.csv`,
      jsonl: `exports/${q.id}.jsonl`,
      labelStudio: `exports/${q.id}.label-studio.json`,
    };
    await out.put(exports.csv, toCsv(rows, run.dataset, q.rankName), { contentType: 'text/csv' });
    // a Buffer, so that an empty queue's empty file has a known length (the S3 SDK warns on an empty string)
    await out.put(exports.jsonl, Buffer.from(toJsonl(rows, run.dataset, q.rankName)), {
      contentType: 'application/x-ndjson',
    });
    await out.put(exports.labelStudio, toLabelStudio(rows, run.dataset, q.rankName, modelVersion), {
      contentType: 'application/json',
    });
    queues.push({
      id: q.id,
      title: q.title,
      description: q.description,
      rankName: q.rankName,
      total: collector.heaps.get(q.id)!.seen,
      exports,
      ...(q.id === 'unreadable' ? { reasons: agg.reasons } : {}),
      cards: rows.map((r) => ({
        key: r.key,
        image: imageUri(run.dataset, r.key),
        label: r.label,
        labelClass: classOf(r.label),
        pred: r.prediction?.class ?? null,
        predIndex: r.prediction?.index ?? null,
        top: r.prediction?.top ?? [],
        status: r.status,
        error: r.error,
        accepted: r.accepted,
        rank: r.rank,
        scores: Object.fromEntries(
          SCORE_NAMES.filter((s) => r.scores[s] !== undefined).map((s) => [s, r.scores[s] ?? null]),
        ),
        mask_fraction: r.mask_fraction ?? null,
        img: tiles.images.get(r.key) ?? {},
      })),
    });
  }
  await out.put('label-studio-config.xml', labelStudioConfig(classes), { contentType: 'application/xml' });

  const data: ReportData = {
    version: 1,
    run: {
      run_id: run.run_id,
      dataset: run.dataset,
      results: results.uri,
      model: run.model,
      threshold: manifest.threshold,
      created: run.created,
      finished: manifest.finished,
      tool_version: manifest.tool_version,
    },
    classes,
    scoreNames,
    perQueue,
    pageSize: o.pageSize ?? 24,
    aggregates: agg,
    riskCoverage: collector.riskCoverage(),
    queues,
    omittedQueues,
    maps: { source: tiles.mapsSource, note: tiles.mapsNote },
    labelStudioConfig: 'label-studio-config.xml',
  };
  const json = JSON.stringify(data);
  await out.put('report-data.json', json, { contentType: 'application/json' });
  // In a <script>, "</" could close the tag: escape it (and the line separators JS strings reject).
  await out.put(
    'report-data.js',
    `window.OVERMAP_REPORT = ${json
      .replace(/<\//g, '<\\/')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029')};\n`,
    { contentType: 'text/javascript' },
  );
  await out.put('report.js', await fs.readFile(path.join(ASSETS, 'report.js')), { contentType: 'text/javascript' });
  await out.put('report.css', await fs.readFile(path.join(ASSETS, 'report.css')), { contentType: 'text/css' });
  await out.put('index.html', indexHtml(data), { contentType: 'text/html; charset=utf-8' });
  return { uri, index: `${uri.replace(/\/?$/, '/')}index.html`, data, seconds: (performance.now() - t0) / 1000 };
}

function queueList(d: ReportData): string {
  const items = d.queues
    .map((q) => `<li><b>${q.total.toLocaleString('en-US')}</b> ${esc(q.title.toLowerCase())}</li>`)
    .join('');
  return `<h3 class="sub">Review queues</h3><ul class="queue-list">${items}</ul>`;
}

function indexHtml(d: ReportData): string {
  const a = d.aggregates;
  const withLabels = a.labelled > 0;
  const labelsNote = withLabels
    ? ''
    : `<p class="notice">${esc(d.omittedQueues[0]?.why ?? 'No labels.')} Accuracy, the risk-coverage plot and the confusion matrix need labels too.</p>`;
  const mapsNote = d.maps.note ? `<p class="notice">${esc(d.maps.note)}</p>` : '';
  const source =
    d.maps.source === 'none'
      ? ''
      : `<p class="muted small">Maps: ${esc(d.maps.source === 'recomputed' ? "recomputed by the run's scorer for the listed images" : d.maps.source)}. Grad-CAM of the predicted class and the attention map in heat colours over the image; the segmentation mask as a green contour.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Over-MAP report · ${esc(d.run.run_id)}</title>
<link rel="stylesheet" href="report.css"></head>
<body>
<header class="top"><h1>Over-MAP curation report</h1><p>${esc(d.run.run_id)} · ${esc(d.run.dataset)}</p></header>
<main>
<div class="grid3"><section class="panel" id="summary"><h2>Run</h2><div class="body">${headerHtml({ runId: d.run.run_id, dataset: d.run.dataset, model: d.run.model, threshold: d.run.threshold, finished: d.run.finished, toolVersion: d.run.tool_version }, a)}</div>${queueList(d)}${labelsNote}</section>
${
  withLabels
    ? `<section class="panel" id="risk-coverage"><h2>Accuracy against the fraction rejected</h2>${riskCoverageSvg(d.riskCoverage)}</section>
<section class="panel" id="confusion"><h2>Confusion matrix</h2>${confusionTable(a)}</section>`
    : ''
}
<section class="panel" id="classes"><h2>Per class</h2>${classTable(a, withLabels)}</section></div>
${mapsNote}${source}
<div id="queues"><noscript>The queues need JavaScript; the exports under exports/ list the same records.</noscript></div>
</main>
<script src="report-data.js"></script>
<script src="report.js"></script>
</body></html>
`;
}
