/**
 * `overmap report`: a run's records (read once, streamed) as a static folder that opens from
 * disk: index.html, report-data.js (the data, loaded by a <script> tag since browsers do not
 * let a file:// page fetch() a local JSON), report-data.json (the same, for programs), the
 * card pictures under img/ and the exports under exports/. Written through the ObjectStore,
 * so an s3:// results URI gets its report on S3; index.html is written last.
 */
import {
  type ImageRecord,
  InputError,
  type Manifest,
  type ObjectStore,
  type RunJson,
  RunResults,
  SCORE_NAMES,
  openStore,
} from '@overmap/shared';
import { readAudit } from './audit-panel';
import { type Collector, collectorFor } from './collect';
import { labelStudioConfig } from './exports';
import type { QueueId } from './queues';
import type { ReportData, ReportQueue } from './report-data';
import { writePage } from './report-page';
import { chooseQueues, writeQueue } from './report-queues';
import { type TileOptions, writeTiles } from './tiles';

export type { Card, ReportData, ReportQueue } from './report-data';

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

export interface ReportResult {
  uri: string;
  index: string;
  data: ReportData;
  seconds: number;
}

/** The report folder's store and URI for a results URI (default: its report/ folder). */
export function reportLocation(results: RunResults, out?: string): { store: ObjectStore; uri: string } {
  const uri = out ?? results.uriOf(REPORT_DIR);
  const store = openStore(uri, {}, 'report --out URI');
  return { store, uri: store.uri };
}

/** The finished run's manifest and run.json. */
async function finishedRun(results: RunResults, resultsUri: string): Promise<{ manifest: Manifest; run: RunJson }> {
  const manifest = await results.readManifest();
  if (!manifest) {
    throw new InputError(
      `no manifest.json under ${results.uri}: the run has not finished (or this is not a results URI); see its progress with \`overmap status ${resultsUri}\``,
    );
  }
  return { manifest, run: await results.requireRun() };
}

/** Every record through the collector (aggregates, risk-coverage sample, each queue's best). */
async function collect(results: RunResults, collector: Collector, log: (line: string) => void): Promise<void> {
  let n = 0;
  for await (const r of results.records()) {
    collector.add(r);
    if (++n % 100_000 === 0) log(`building report: ${n} records read`);
  }
  log(`building report: ${n} records read`);
}

export async function buildReport(resultsUri: string, o: ReportOptions = {}): Promise<ReportResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const results = RunResults.open(resultsUri);
  const { manifest, run } = await finishedRun(results, resultsUri);
  const classes = run.classes ?? Object.keys(manifest.summary.predicted_per_class);
  const perQueue = o.perQueue ?? DEFAULT_PER_QUEUE;
  const collector = collectorFor(classes, manifest.threshold, { perQueue, sampleSize: o.sampleSize ?? DEFAULT_SAMPLE });
  await collect(results, collector, log);
  const agg = collector.agg;
  const { active, omitted } = chooseQueues(agg, classes);

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
  const scoreNames = SCORE_NAMES.filter(
    (s) => [...unique.values()].some((r) => r.scores[s] !== undefined) || !unique.size,
  );
  const queues: ReportQueue[] = [];
  const context = { out, run, classes, images: tiles.images };
  for (const q of active)
    queues.push(await writeQueue(q, listed.get(q.id)!, collector.heaps.get(q.id)!.seen, agg, context));
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
    omittedQueues: omitted,
    maps: { source: tiles.mapsSource, note: tiles.mapsNote },
    labelStudioConfig: 'label-studio-config.xml',
    audit: await readAudit(results, log),
  };
  await writePage(out, data);
  return { uri, index: `${uri.replace(/\/?$/, '/')}index.html`, data, seconds: (performance.now() - t0) / 1000 };
}
