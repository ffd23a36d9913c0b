/**
 * An enqueue's run before anything is listed: its parameters checked, the dataset and results
 * opened, the labels loaded, and run.json: the one already under --out (which must describe
 * the same run: a rerun resumes it) or a new one.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  InputError,
  type ObjectStore,
  type RunJson,
  RunResults,
  PARTS_PREFIX,
  canonicalUri,
  checkAllowed,
  listAll,
  CONFIG_DEFAULTS,
  jobBatchesFor,
  openStore,
  DEFAULT_SHARD_PARTS,
  DEFAULT_NEAR_DUPLICATE_BITS,
  ImageCheckParamsSchema,
} from '@overmap/shared';
import { type Labels, LabelTally, loadLabels } from './enqueue-labels';
import type { EnqueueOptions } from './enqueue-options';
import { type Inventory, readInventory } from './s3-inventory';

export function defaultRunId(dataset: string, results: string): string {
  return `run-${createHash('sha256')
    .update(`${canonicalUri(dataset)}\n${canonicalUri(results)}`)
    .digest('hex')
    .slice(0, 12)}`;
}

/** The options with the dataset settled: the one given, or the inventory's. */
export type SettledOptions = EnqueueOptions & { dataset: string };

export interface PreparedRun {
  o: SettledOptions;
  inventory: Inventory | null;
  dataset: ObjectStore;
  results: RunResults;
  labels: Labels | null;
  tally: LabelTally | null;
  /** run.json as found under --out: a rerun */
  existing: RunJson | undefined;
  /** the run: `existing`, or a new one (written before the first chunk) */
  run: RunJson;
}

/** A results URI inside the dataset would be listed as images by the next run: refused. */
function checkOutsideDataset(dataset: string, results: string): void {
  const d = canonicalUri(dataset),
    r = canonicalUri(results);
  if (r.startsWith(d)) {
    throw new InputError(
      `--out ${results} is inside the dataset ${dataset}: the next run would score its own results; choose an --out outside the dataset`,
    );
  }
}

/** What differs between a reused --out's run and the one asked for: one entry per parameter. */
function runDiffs(run: RunJson, o: SettledOptions, runId: string): { what: string; text: string }[] {
  const diffs: { what: string; text: string }[] = [];
  const cmp = (what: string, had: unknown, now: unknown) => {
    if (JSON.stringify(had) !== JSON.stringify(now))
      diffs.push({ what, text: `${what} ${JSON.stringify(had)} -> ${JSON.stringify(now)}` });
  };
  cmp('run id', run.run_id, runId);
  cmp('dataset', run.dataset, canonicalUri(o.dataset));
  cmp('model hash', run.model.hash.slice(0, 12), o.model.hash.slice(0, 12));
  cmp('--labels', run.params.labels, o.labels);
  cmp('--overlays', run.params.overlays, o.overlays ?? 'none');
  cmp('--batch-size', run.params.batchSize, o.batchSize);
  cmp('--inventory', run.params.inventory ?? null, o.inventory ? canonicalInventory(o.inventory) : null);
  return diffs;
}

/** Whether any record has been written under the results (a part file exists). */
async function hasRecords(results: RunResults): Promise<boolean> {
  for await (const _ of listAll(results.store, PARTS_PREFIX)) return true;
  return false;
}

/**
 * A reused --out must mean the same run, with one exception: the model may change while no record
 * has been written (a spec fixed after every batch failed on it). The run is then re-pointed at the
 * new model under a new instance, so that the old jobs are refused as stale; its listing is kept.
 * Anything else that differs is refused, naming each difference.
 */
async function settleExisting(run: RunJson, o: SettledOptions, runId: string, results: RunResults): Promise<RunJson> {
  const diffs = runDiffs(run, o, runId);
  if (diffs.length === 0) return run;
  const onlyModel = diffs.every((d) => d.what === 'model hash');
  if (onlyModel && !(await hasRecords(results))) return repointed(run, o);
  const text = diffs.map((d) => d.text).join('; ');
  throw new InputError(
    onlyModel
      ? `${results.uri} holds run ${run.run_id}, already scored in part with another model (${text}): rerun with that model to resume it, or score with the new one into another --out`
      : `${results.uri} already holds run ${run.run_id} with other parameters (${text}): rerun with the same ones to resume it, or use another --out`,
  );
}

/** The run with the new model: its spec, classes and threshold, and a new instance. */
function repointed(run: RunJson, o: SettledOptions): RunJson {
  return {
    ...run,
    instance: randomBytes(5).toString('hex'),
    model: { uri: o.model.uri, hash: o.model.hash, ...(o.model.name ? { name: o.model.name } : {}) },
    classes: o.model.classes,
    params: { ...run.params, threshold: o.model.threshold },
    repointed: { from: run.model.hash, at: new Date().toISOString() },
  };
}

/** The manifest URI as run.json keeps it (a plain path made absolute). */
const canonicalInventory = (uri: string) => canonicalUri(uri).replace(/\/$/, '');

/** --batch-size and OVERMAP_JOB_IMAGES, checked; returns the images per job. */
function checkSizes(opts: EnqueueOptions): number {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1 || opts.batchSize > 10_000) {
    throw new InputError(`--batch-size ${opts.batchSize} is out of range: use an integer from 1 to 10000`);
  }
  const jobImages = opts.jobImages ?? CONFIG_DEFAULTS.OVERMAP_JOB_IMAGES;
  if (!Number.isInteger(jobImages) || jobImages < 1)
    throw new InputError(
      `OVERMAP_JOB_IMAGES=${jobImages} is not a positive integer: unset it (1024) or give images per job`,
    );
  return jobImages;
}

/** The run.json of a new run. */
function newRun(o: SettledOptions, runId: string, jobImages: number): RunJson {
  return {
    run_id: runId,
    instance: randomBytes(5).toString('hex'),
    dataset: canonicalUri(o.dataset),
    results: canonicalUri(o.results),
    model: { uri: o.model.uri, hash: o.model.hash, ...(o.model.name ? { name: o.model.name } : {}) },
    classes: o.model.classes,
    params: {
      batchSize: o.batchSize,
      labels: o.labels,
      overlays: o.overlays ?? 'none',
      threshold: o.model.threshold,
      shardParts: o.shardParts ?? DEFAULT_SHARD_PARTS,
      jobBatches: jobBatchesFor(o.batchSize, jobImages),
      ungroupedBatches: o.ungroupedBatches ?? CONFIG_DEFAULTS.OVERMAP_UNGROUPED_BATCHES,
      imageChecks: o.imageChecks ?? ImageCheckParamsSchema.parse({}),
      nearDuplicateBits: o.nearDuplicateBits ?? DEFAULT_NEAR_DUPLICATE_BITS,
      ...(o.model.decision ? { decision: o.model.decision } : {}),
      ...(o.model.routing ? { routing: o.model.routing } : {}),
      ...(o.inventory ? { inventory: canonicalInventory(o.inventory) } : {}),
    },
    tool_version: o.toolVersion,
    created: new Date().toISOString(),
  };
}

/** Checks what was asked, opens the stores and settles run.json (nothing is written yet). */
export async function prepareRun(opts: EnqueueOptions): Promise<PreparedRun> {
  const jobImages = checkSizes(opts);
  let inventory: Inventory | null = null;
  if (opts.inventory) inventory = await readInventory(opts.inventory, opts.dataset);
  else if (!opts.dataset)
    throw new InputError(
      'no dataset URI: give one (s3://bucket/prefix/, file:///dir/ or a path), or --inventory <manifest.json URI>',
    );
  const o: SettledOptions = { ...opts, dataset: inventory ? inventory.dataset : opts.dataset! };
  checkOutsideDataset(o.dataset, o.results);
  checkAllowed(o.dataset, o.allowed ?? [], 'dataset');
  checkAllowed(o.results, o.allowed ?? [], 'results URI');
  const dataset = openStore(o.dataset, { allowed: o.allowed }, 'dataset URI');
  const results = RunResults.open(o.results, { secret: o.secret, allowed: o.allowed });
  await dataset.check();
  const runId = o.runId ?? defaultRunId(o.dataset, o.results);
  const labels = await loadLabels(o.labels);
  const tally = labels && o.labels ? new LabelTally(o.labels, labels, o.model.classes) : null;
  const found = await results.readRun();
  const run = found ? await settleExisting(found, o, runId, results) : newRun(o, runId, jobImages);
  // a re-pointed run is written at once: its jobs must find the new instance
  if (found && run !== found) await results.writeRun(run);
  return { o, inventory, dataset, results, labels, tally, existing: found && run, run };
}
