/** `overmap enqueue [dataset-uri]` (and the first step of `overmap run`): list a dataset and enqueue its batches. */
import {
  type Config,
  type ImageIssue,
  ImageCheckParamsSchema,
  InputError,
  openStore,
  parseAllowedPrefixes,
  parseUri,
} from '@overmap/shared';
import { type EnqueueProgress, type EnqueueResult, describeLabels, enqueueDataset } from '@overmap/producer';
import { dryRunSpec, initBackend, loadSpec, referenceSpecUri, sessionSettingsOf } from '@overmap/engine';
import { TOOL_VERSION } from '../version';
import { configAndRedis } from './common';

export interface EnqueueFlags {
  out: string;
  runId?: string;
  batchSize: number;
  model?: string;
  labels?: string;
  overlays: 'none' | 'rejected' | 'all';
  inventory?: string;
  imageZ?: number;
  imageChecksOff?: ImageIssue[];
  nearDuplicateBits?: number;
}

function progressPrinter(): (p: EnqueueProgress) => void {
  const t0 = Date.now();
  let last = 0;
  return (p) => {
    if (!p.done && Date.now() - last < 1000) return;
    last = Date.now();
    const s = (Date.now() - t0) / 1000;
    process.stderr.write(
      `enqueue: ${p.listed} keys listed, ${p.images} images in ${p.batches} batches (${p.added} jobs added, ${p.skipped} keys skipped), ${(p.images / Math.max(s, 1e-3)).toFixed(0)} images/s${p.done ? ', listing done' : ''}\n`,
    );
  };
}

/** Warnings on stderr: labels that did not all fit, keys skipped as unsafe. */
function warnAbout(r: EnqueueResult, allowList: boolean): void {
  const labelsLine = r.labels && describeLabels(r.labels, r.images);
  if (labelsLine) process.stderr.write(`${labelsLine}\n`);
  if (r.outsideKeys)
    process.stderr.write(
      `enqueue: skipped ${r.outsideKeys} key(s) whose real path leaves the dataset (symbolic links out of the folder${allowList ? ' or OVERMAP_ALLOWED_PREFIXES' : ''}), e.g. ${r.outsideExamples.map((k) => JSON.stringify(k)).join(', ')}: copy those files in instead of linking to them\n`,
    );
  if (r.unsafeKeys.length)
    process.stderr.write(
      `enqueue: skipped keys that could leave the dataset prefix (absolute, or with '..'): ${r.unsafeKeys
        .slice(0, 5)
        .map((k) => JSON.stringify(k))
        .join(', ')}${r.unsafeKeys.length > 5 ? ', …' : ''}\n`,
    );
}

/** Enqueues the dataset, with progress and warnings on stderr. */
export async function enqueue(
  dataset: string | undefined,
  f: EnqueueFlags,
): Promise<EnqueueResult & { config: Config }> {
  // Check what the user typed before the slower checks: URIs, then Redis, then the model.
  if (dataset === undefined && !f.inventory)
    throw new InputError(
      'no dataset URI: give one (s3://bucket/prefix/, file:///dir/ or a path), or --inventory <manifest.json URI>',
    );
  if (dataset !== undefined) parseUri(dataset, 'dataset URI');
  if (f.inventory) parseUri(f.inventory, '--inventory');
  parseUri(f.out, 'results URI');
  // With --inventory the dataset is the manifest's source bucket: enqueueDataset checks it.
  if (dataset !== undefined && !f.inventory) await openStore(dataset, {}, 'dataset URI').check();
  const { config, redis } = await configAndRedis();
  try {
    await initBackend(config.OVERMAP_BACKEND, sessionSettingsOf(config));
    const spec = await loadSpec(f.model ?? config.OVERMAP_MODEL ?? referenceSpecUri());
    // Everything a worker would find wrong with the models is found here, before run.json and
    // the first job: a bad spec is then fixed and rerun, with nothing of the run to undo.
    await dryRunSpec(spec);
    const r = await enqueueDataset({
      dataset,
      inventory: f.inventory,
      results: f.out,
      runId: f.runId,
      batchSize: f.batchSize,
      jobImages: config.OVERMAP_JOB_IMAGES,
      ungroupedBatches: config.OVERMAP_UNGROUPED_BATCHES,
      model: {
        uri: spec.uri, // absolute for a local spec (loadSpec)
        hash: spec.hash,
        name: spec.spec.name,
        threshold: spec.spec.threshold,
        classes: spec.spec.classes,
        decision: spec.spec.decision,
        routing: spec.spec.routing,
      },
      labels: f.labels ?? null,
      overlays: f.overlays,
      toolVersion: TOOL_VERSION,
      redis,
      prefix: config.OVERMAP_QUEUE_PREFIX,
      onProgress: progressPrinter(),
      secret: config.OVERMAP_JOB_SECRET,
      allowed: parseAllowedPrefixes(config.OVERMAP_ALLOWED_PREFIXES),
      shardParts: config.OVERMAP_SHARD_PARTS,
      imageChecks: ImageCheckParamsSchema.parse({ z: f.imageZ, off: f.imageChecksOff }),
      nearDuplicateBits: f.nearDuplicateBits,
    });
    warnAbout(r, !!config.OVERMAP_ALLOWED_PREFIXES);
    return { ...r, config };
  } finally {
    redis.disconnect();
  }
}

/** `overmap enqueue`: enqueues and prints one line on what was added. */
export async function enqueueCommand(dataset: string | undefined, f: EnqueueFlags): Promise<void> {
  const r = await enqueue(dataset, f);
  process.stdout.write(
    `${r.runId}: ${r.images} images in ${r.batches} batches, ${r.added} jobs added${r.retried ? `, ${r.retried} failed jobs re-queued` : ''}${r.rebuiltChunks ? `, ${r.rebuiltChunks} lost listing chunk(s) rebuilt` : ''}${r.alreadyComplete ? ' (listing was already complete)' : r.resumed ? ' (resumed)' : ''}; ${r.jobBatches} batches per job${f.inventory ? `; dataset ${r.dataset}` : ''}\n`,
  );
}
