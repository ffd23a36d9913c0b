/**
 * One enqueue of a run as the fleet addresses it: the run id, its instance (a fresh one per
 * new run.json) and where its results live. Job payloads carry the same three fields flat
 * (schemas.ts), so a parsed job is a RunRef as it is.
 */
export interface RunRef {
  runId: string;
  instance: string;
  /** the results URI (canonical) */
  results: string;
}
