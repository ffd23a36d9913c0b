/**
 * `overmap report <results-uri> [--out <uri>] [--per-queue N] [--images maps|thumbs|none]`: the
 * static curation report.
 */
import { initBackend, sessionSettingsOf } from '@overmap/engine';
import { loadConfig } from '@overmap/shared';
import { buildReport, DEFAULT_PER_QUEUE } from '@overmap/report';

export interface ReportFlags {
  out?: string;
  perQueue?: number;
  images?: 'maps' | 'thumbs' | 'none';
}

/** Writes the report; returns the line to print (where index.html is). */
export async function reportCommand(resultsUri: string, f: ReportFlags): Promise<string> {
  const config = loadConfig();
  // The maps are recomputed with the backend the configuration names (the report's own call takes it).
  await initBackend(config.OVERMAP_BACKEND, sessionSettingsOf(config));
  const r = await buildReport(resultsUri, {
    out: f.out,
    perQueue: f.perQueue ?? DEFAULT_PER_QUEUE,
    images: f.images ?? 'maps',
    limits: { maxInputPixels: config.OVERMAP_MAX_INPUT_PIXELS, maxBytes: config.OVERMAP_MAX_IMAGE_BYTES },
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const listed = r.data.queues.map((q) => `${q.id} ${q.cards.length}/${q.total}`).join(', ');
  return `report: ${r.index}\n  queues (listed/total): ${listed} · ${r.seconds.toFixed(1)} s`;
}
