/** A run's records and class names, from its results alone (no model needed). */
import { type ImageRecord, InputError, RunResults } from '@overmap/shared';

export async function readRecords(resultsUri: string): Promise<{ records: ImageRecord[]; classes: string[] }> {
  const results = RunResults.open(resultsUri);
  const run = await results.requireRun();
  if (!run.classes)
    throw new InputError(
      `run.json under ${results.uri} has no class list (written by an older version): score the dataset again into a new --out`,
    );
  const records: ImageRecord[] = [];
  for await (const r of results.records()) records.push(r);
  return { records, classes: run.classes };
}
