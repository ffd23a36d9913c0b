import { type ImageRecord, InputError, RunResults } from '@overmap/shared';

/** How much of a run the records cover: all of it once finished, else what the workers have written. */
export interface Coverage {
  finished: boolean;
  records: number;
  /** the run's image count, once its listing has ended (run.json), else null */
  images: number | null;
}

export interface ReadRecordsOptions {
  /** read an unfinished run (no manifest.json) instead of refusing it */
  partial?: boolean;
}

/**
 * Every record of a run and its class list. A run without its manifest (not finished: some
 * batches still queued, running or failed) is refused unless `partial` is set, since figures on
 * part of a run read like figures on the whole of it; with `partial`, `coverage` says how much.
 */
export async function readRecords(
  resultsUri: string,
  options: ReadRecordsOptions = {},
): Promise<{ records: ImageRecord[]; classes: string[]; coverage: Coverage }> {
  const results = RunResults.open(resultsUri);
  const run = await results.requireRun();
  if (!run.classes)
    throw new InputError(
      `run.json under ${results.uri} has no class list (written by an older version): score the dataset again into a new --out`,
    );
  const finished = (await results.readManifest()) !== undefined;
  const records: ImageRecord[] = [];
  for await (const r of results.records()) records.push(r);
  const coverage: Coverage = { finished, records: records.length, images: run.images ?? null };
  if (!finished && !options.partial) {
    const of = coverage.images === null ? '' : ` of ${coverage.images}`;
    throw new InputError(
      `${resultsUri} is not finished (no manifest.json; ${records.length}${of} images scored): ` +
        `let it finish (overmap status ${resultsUri}; overmap retry for failed batches), ` +
        'or pass --partial to evaluate the records written so far',
    );
  }
  return { records, classes: run.classes, coverage };
}

/** The line a report on an unfinished run starts with: how much of the run it covers. */
export function partialNote(uri: string, c: Coverage): string {
  if (c.finished) return '';
  const share = c.images ? ` (${((100 * c.records) / c.images).toFixed(1)}%)` : '';
  const of = c.images === null ? ' (its listing has not ended)' : ` of ${c.images}${share}`;
  return `PARTIAL: ${uri} is not finished: these figures cover ${c.records}${of} images.\n\n`;
}
