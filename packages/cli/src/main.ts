/**
 * The overmap command: run, enqueue, worker, status, evaluate, report (names from CONTRACT.md).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import {
  FAILURES_JSONL,
  InputError,
  RunResults,
  loadConfig,
  logger,
  openStore,
  parseAllowedPrefixes,
  parseUri,
} from '@overmap/shared';
import { enqueueDataset, recoverRun, type EnqueueProgress } from '@overmap/producer';
import { loadSpec, referenceSpecUri } from '@overmap/engine';
import { startWorker } from '@overmap/worker';
import { configAndRedis, fail, positiveInt } from './commands/common';
import { createBar } from './commands/progress-line';
import { readStatus, runVerdict } from './commands/run-status';
import { RateMeter, imagesDone, statusLine } from './commands/status-line';
import { formatSummary } from './commands/summary';
import { evaluateCommand } from './commands/evaluate';
import { superviseRun } from './commands/supervise-run';
import { reportCommand } from './commands/report';
import { TOOL_VERSION } from './version';

const program = new Command();
program
  .name('overmap')
  .description('Over-MAP confidence for image datasets: BullMQ fleet on Redis and S3')
  .version(TOOL_VERSION);

interface EnqueueFlags {
  out: string;
  runId?: string;
  batchSize: number;
  model?: string;
  labels?: string;
  overlays: 'none' | 'rejected' | 'all';
  inventory?: string;
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

async function doEnqueue(dataset: string | undefined, f: EnqueueFlags) {
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
    const spec = await loadSpec(f.model ?? config.OVERMAP_MODEL ?? referenceSpecUri());
    const r = await enqueueDataset({
      dataset,
      inventory: f.inventory,
      results: f.out,
      runId: f.runId,
      batchSize: f.batchSize,
      jobImages: config.OVERMAP_JOB_IMAGES,
      model: {
        uri: spec.uri,
        hash: spec.hash,
        name: spec.spec.name,
        threshold: spec.spec.threshold,
        classes: spec.spec.classes,
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
    });
    const l = r.labels;
    if (l && (l.unknownClass > 0 || (l.unmatchedEntries ?? 0) > 0 || l.labelled < r.images)) {
      process.stderr.write(
        `enqueue: labels for ${l.labelled} of ${r.images} images${l.unknownClass ? `; ${l.unknownClass} name no class of the model (e.g. ${l.unknownExamples.map((x) => JSON.stringify(x)).join(', ')}): kept, counted neither right nor wrong` : ''}${l.unmatchedEntries ? `; ${l.unmatchedEntries} label-file entries matched no image key` : ''}\n`,
      );
    }
    if (r.unsafeKeys.length)
      process.stderr.write(
        `enqueue: skipped keys that could leave the dataset prefix (absolute, or with '..'): ${r.unsafeKeys
          .slice(0, 5)
          .map((k) => JSON.stringify(k))
          .join(', ')}${r.unsafeKeys.length > 5 ? ', …' : ''}\n`,
      );
    return { ...r, config };
  } finally {
    redis.disconnect();
  }
}

const enqueueOptions = (c: Command) =>
  c
    .requiredOption('--out <results-uri>', 'where run.json, parts/, manifest.json and records.parquet go')
    .option('--run-id <id>', 'run id (default: derived from the dataset and results URIs)')
    .option(
      '--batch-size <n>',
      'images per batch (one part file each); a job holds OVERMAP_JOB_IMAGES images in whole batches',
      positiveInt('--batch-size'),
      64,
    )
    .option(
      '--inventory <manifest-uri>',
      'list the keys from an S3 Inventory manifest.json (CSV or Parquet) instead of listing the bucket; the dataset, if given, must be s3://<its source bucket>/<prefix>/',
    )
    .option('--model <spec-uri>', 'model spec (default: the bundled reference model)')
    .option('--labels <folder|uri>', "'folder' (ImageFolder layout) or a CSV/JSONL label file")
    .addOption(
      new Option('--overlays <which>', 'overlay PNGs to write').choices(['none', 'rejected', 'all']).default('none'),
    );

enqueueOptions(
  program
    .command('enqueue [dataset-uri]')
    .description('list a dataset (or read its S3 Inventory) and enqueue its batches'),
).action(async (dataset: string | undefined, f: EnqueueFlags) => {
  const r = await doEnqueue(dataset, f);
  process.stdout.write(
    `${r.runId}: ${r.images} images in ${r.batches} batches, ${r.added} jobs added${r.retried ? `, ${r.retried} failed jobs re-queued` : ''}${r.alreadyComplete ? ' (listing was already complete)' : r.resumed ? ' (resumed)' : ''}; ${r.jobBatches} batches per job${f.inventory ? `; dataset ${r.dataset}` : ''}\n`,
  );
});

program
  .command('worker')
  .description('process batch jobs until stopped (SIGTERM: finish the current batch, exit 0)')
  .option(
    '--concurrency <n>',
    'jobs (groups of batches) held at once (default 2: download one while computing another)',
    positiveInt('--concurrency'),
  )
  .option('--exit-when-idle', 'exit once the queues have been empty for a few seconds')
  .option('--no-metrics', 'do not serve /metrics, /healthz, /readyz')
  .action(async (f: { concurrency?: number; exitWhenIdle?: boolean; metrics: boolean }) => {
    const { config, redis } = await configAndRedis();
    redis.disconnect();
    const w = await startWorker({
      config,
      concurrency: f.concurrency,
      exitWhenIdle: f.exitWhenIdle,
      toolVersion: TOOL_VERSION,
      metricsPort: f.metrics ? undefined : null,
    });
    // Started by overmap run: never outlive it (a parent killed outright closes the channel).
    if (process.send) process.once('disconnect', () => void w.stop('parent process gone'));
    await w.done;
    process.exit(0);
  });

program
  .command('status <run-id-or-results-uri>')
  .description('progress of a run: batches done and failed, queue, workers, images/s, ETA')
  .option('--watch', 'refresh until the run has finished or is stuck')
  .action(async (target: string, f: { watch?: boolean }) => {
    const { config, redis } = await configAndRedis();
    try {
      const meter = new RateMeter();
      const read = async () => {
        const st = await readStatus(redis, target, config.OVERMAP_QUEUE_PREFIX);
        return { st, rate: meter.add(imagesDone(st)) };
      };
      let { st, rate } = await read();
      if (f.watch) {
        const bar = createBar();
        bar.start(st.totalBatches ?? 0, st.doneBatches, {
          images: imagesDone(st),
          rate: '0',
          etaText: '–',
          failures: '',
        });
        while (runVerdict(st).state === 'running') {
          await new Promise((r) => setTimeout(r, 1000));
          ({ st, rate } = await read());
          bar.setTotal(st.totalBatches ?? 0);
          bar.update(st.doneBatches, {
            images: imagesDone(st),
            rate: rate.toFixed(1),
            etaText: statusLine(st, rate).match(/ETA (\S+)/)?.[1] ?? '–',
            failures: `${st.failed.length} failed`,
          });
        }
        bar.stop();
      }
      if (st.failed.length && st.results) await RunResults.open(st.results).writeFailures(st.failed);
      process.stdout.write(`${statusLine(st, rate)}\n`);
      for (const x of st.failed.slice(0, 10))
        process.stdout.write(`  batch ${x.batch} failed after ${x.attempts} attempt(s): ${x.error}\n`);
      if (st.failed.length > 10)
        process.stdout.write(
          `  … ${st.failed.length - 10} more in ${RunResults.open(st.results!).uriOf(FAILURES_JSONL)}\n`,
        );
      if (runVerdict(st).state === 'stuck') process.exitCode = 4;
    } finally {
      redis.disconnect();
    }
  });

program
  .command('retry <results-uri>')
  .description("re-queue a run's failed batches and re-add any batch without a part file (after fixing the cause)")
  .action(async (resultsUri: string) => {
    const { config, redis } = await configAndRedis();
    const results = RunResults.open(resultsUri, { secret: config.OVERMAP_JOB_SECRET });
    try {
      const run = await results.requireRun();
      if (run.batches === undefined)
        throw new InputError(
          `run ${run.run_id}'s listing has not finished: rerun the same overmap enqueue to resume it`,
        );
      const r = await recoverRun({
        results,
        run,
        redis,
        prefix: config.OVERMAP_QUEUE_PREFIX,
        secret: config.OVERMAP_JOB_SECRET,
      });
      process.stdout.write(
        `${run.run_id}: ${r.missing} batch(es) without results: ${r.retried} failed job(s) re-queued, ${r.added} job(s) added${r.missing ? '; workers will pick them up (overmap worker, or overmap run)' : ''}\n`,
      );
    } finally {
      redis.disconnect();
    }
  });

enqueueOptions(
  program.command('run [dataset-uri]').description('local all-in-one: enqueue, start N workers, wait, print a summary'),
)
  .option('--workers <n>', 'worker processes (default: one per core)', positiveInt('--workers'))
  .option('--report', 'write the curation report (overmap report) when the run has finished')
  .action(async (dataset: string | undefined, f: EnqueueFlags & { workers?: number; report?: boolean }) => {
    loadConfig(); // a bad environment fails here, before anything is enqueued
    const results = RunResults.open(f.out, { secret: loadConfig().OVERMAP_JOB_SECRET });
    const t0 = Date.now();
    const enq = await doEnqueue(dataset, f);
    const n = f.workers ?? Math.max(1, os.availableParallelism());
    // ONNX Runtime threads per worker: the cores shared out (1 with the default one worker per
    // core, which measured fastest); OVERMAP_ONNX_THREADS, where set, wins.
    const onnxThreads =
      process.env.OVERMAP_ONNX_THREADS || String(Math.max(1, Math.floor(os.availableParallelism() / n)));
    process.stderr.write(`run ${enq.runId}: ${n} worker processes scoring ${enq.images} images\n`);
    const { config, redis } = await configAndRedis();
    try {
      const manifest = await superviseRun({
        bin: path.resolve(__dirname, '../bin/overmap.js'),
        workers: n,
        results,
        redis,
        prefix: config.OVERMAP_QUEUE_PREFIX,
        secret: config.OVERMAP_JOB_SECRET,
        env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', OVERMAP_ONNX_THREADS: onnxThreads },
      });
      process.stdout.write(
        `${formatSummary(manifest, results)}\n  time: ${((Date.now() - t0) / 1000).toFixed(1)} s with ${n} workers\n`,
      );
      process.stdout.write(
        f.report
          ? `${await reportCommand(f.out, {})}\n`
          : `  report:   overmap report ${f.out}  (writes ${results.uriOf('report/index.html')})\n`,
      );
    } finally {
      redis.disconnect();
    }
  });

program
  .command('evaluate <results-uri>')
  .description('risk-coverage tables (and a plot) for every confidence, where labels are known')
  .option(
    '--val <results-uri>',
    'a validation run: thresholds and fusion weights are chosen there, reported on <results-uri>',
  )
  .option(
    '--ood <results-uri>',
    "a run over unknown objects: how well each confidence tells them from <results-uri>'s images (repeat for several kinds)",
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option(
    '--shifted <results-uri>',
    'a labelled run over shifted images of the known classes: its errors as a failure type',
  )
  .option('--plot <png-path>', 'write the accuracy-vs-rejection plot')
  .option('--json <path>', 'write the tables as JSON')
  .action(
    async (resultsUri: string, f: { val?: string; ood?: string[]; shifted?: string; plot?: string; json?: string }) => {
      process.stdout.write(await evaluateCommand(resultsUri, f));
    },
  );

program
  .command('report <results-uri>')
  .description(
    'static curation report: review queues with their evidence, filters and exports (default <results-uri>/report/)',
  )
  .option('--out <uri>', 'where the report goes (default <results-uri>/report/)')
  .option('--per-queue <n>', 'records listed per queue (the highest ranked)', positiveInt('--per-queue'))
  .addOption(
    new Option('--images <which>', 'pictures on the cards: maps (thumbnail, Grad-CAM, attention, mask), thumbs, none')
      .choices(['maps', 'thumbs', 'none'])
      .default('maps'),
  )
  .action(async (resultsUri: string, f: { out?: string; perQueue?: number; images: 'maps' | 'thumbs' | 'none' }) => {
    process.stdout.write(`${await reportCommand(resultsUri, f)}\n`);
  });

program
  .parseAsync(process.argv)
  .then(() => {
    // Commands that keep handles open (Redis, BullMQ) are done: exit.
    if (!['worker'].includes(process.argv[2] ?? '')) setImmediate(() => process.exit());
  })
  .catch((e) => {
    logger.flush?.();
    fail(e);
  });
