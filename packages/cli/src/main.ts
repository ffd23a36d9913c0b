/**
 * The overmap command: run, enqueue, worker, status, evaluate (names from CONTRACT.md).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { RunResults, loadConfig, logger, openStore, parseUri } from '@overmap/shared';
import { enqueueDataset, type EnqueueProgress } from '@overmap/producer';
import { loadSpec, referenceSpecUri, startWorker } from '@overmap/worker';
import { configAndRedis, fail, positiveInt } from './commands/common';
import { createBar, formatEta } from './commands/progress-line';
import { readStatus, type RunStatus } from './commands/run-status';
import { formatSummary } from './commands/summary';
import { evaluateCommand } from './commands/evaluate';
import { TOOL_VERSION } from './version';

const program = new Command();
program.name('overmap').description('Over-MAP confidence for image datasets: BullMQ fleet on Redis and S3').version(TOOL_VERSION);

interface EnqueueFlags { out: string; runId?: string; batchSize: number; model?: string; labels?: string; overlays: 'none' | 'rejected' | 'all' }

function progressPrinter(): (p: EnqueueProgress) => void {
  const t0 = Date.now();
  let last = 0;
  return (p) => {
    if (!p.done && Date.now() - last < 1000) return;
    last = Date.now();
    const s = (Date.now() - t0) / 1000;
    process.stderr.write(`enqueue: ${p.listed} keys listed, ${p.images} images in ${p.batches} batches (${p.added} jobs added, ${p.skipped} keys skipped), ${(p.images / Math.max(s, 1e-3)).toFixed(0)} images/s${p.done ? ', listing done' : ''}\n`);
  };
}

async function doEnqueue(dataset: string, f: EnqueueFlags) {
  // Check what the user typed before the slower checks: URIs, then Redis, then the model.
  parseUri(dataset, 'dataset URI');
  parseUri(f.out, 'results URI');
  await openStore(dataset, {}, 'dataset URI').check();
  const { config, redis } = await configAndRedis();
  try {
    const spec = await loadSpec(f.model ?? config.OVERMAP_MODEL ?? referenceSpecUri());
    const r = await enqueueDataset({
      dataset, results: f.out, runId: f.runId, batchSize: f.batchSize,
      model: { uri: spec.uri, hash: spec.hash, name: spec.spec.name, threshold: spec.spec.threshold, classes: spec.spec.classes },
      labels: f.labels ?? null, overlays: f.overlays, toolVersion: TOOL_VERSION, redis, prefix: config.OVERMAP_QUEUE_PREFIX,
      onProgress: progressPrinter(),
    });
    return { ...r, config };
  } finally {
    redis.disconnect();
  }
}

const enqueueOptions = (c: Command) => c
  .requiredOption('--out <results-uri>', 'where run.json, parts/, manifest.json and records.parquet go')
  .option('--run-id <id>', 'run id (default: derived from the dataset and results URIs)')
  .option('--batch-size <n>', 'images per batch job', positiveInt('--batch-size'), 64)
  .option('--model <spec-uri>', 'model spec (default: the bundled reference model)')
  .option('--labels <folder|uri>', "'folder' (ImageFolder layout) or a CSV/JSONL label file")
  .addOption(new Option('--overlays <which>', 'overlay PNGs to write').choices(['none', 'rejected', 'all']).default('none'));

enqueueOptions(program.command('enqueue <dataset-uri>').description('list a dataset and enqueue its batches'))
  .action(async (dataset: string, f: EnqueueFlags) => {
    const r = await doEnqueue(dataset, f);
    process.stdout.write(`${r.runId}: ${r.images} images in ${r.batches} batches, ${r.added} jobs added${r.alreadyComplete ? ' (listing was already complete)' : r.resumed ? ' (resumed)' : ''}\n`);
  });

program.command('worker').description('process batch jobs until stopped (SIGTERM: finish the current batch, exit 0)')
  .option('--concurrency <n>', 'batches held at once (default 2: download one while computing another)', positiveInt('--concurrency'))
  .option('--exit-when-idle', 'exit once the queues have been empty for a few seconds')
  .option('--no-metrics', 'do not serve /metrics, /healthz, /readyz')
  .action(async (f: { concurrency?: number; exitWhenIdle?: boolean; metrics: boolean }) => {
    const { config, redis } = await configAndRedis();
    redis.disconnect();
    const w = await startWorker({ config, concurrency: f.concurrency, exitWhenIdle: f.exitWhenIdle, toolVersion: TOOL_VERSION, metricsPort: f.metrics ? undefined : null });
    await w.done;
    process.exit(0);
  });

function statusLine(s: RunStatus, rate: number): string {
  const total = s.totalBatches;
  const failures = Object.entries(s.statuses).filter(([k]) => k !== 'ok' && k !== 'no_mask').map(([k, v]) => `${k} ${v}`).join(', ') || 'no failures';
  const pct = total ? ` (${((100 * s.doneBatches) / total).toFixed(0)}%)` : '';
  const eta = total && rate > 0 && s.images ? formatEta(((total - s.doneBatches) / total) * s.images / rate) : '?';
  return `${s.runId}: ${s.doneBatches}/${total ?? '?'} batches${pct}, ${rate.toFixed(1)} images/s, ETA ${s.manifest ? '0s' : eta}, ${failures}${s.manifest ? ', finished' : total === null ? ', listing in progress' : ''}`;
}

function imagesDone(s: RunStatus): number {
  return Object.values(s.statuses).reduce((a, b) => a + b, 0);
}

program.command('status <run-id-or-results-uri>').description('progress of a run: done/total, images/s, ETA, failures')
  .option('--watch', 'refresh until the run has finished')
  .action(async (target: string, f: { watch?: boolean }) => {
    const { redis } = await configAndRedis();
    try {
      let s = await readStatus(redis, target);
      const rate = (st: RunStatus) => (st.startedMs ? imagesDone(st) / Math.max(1, (Date.now() - st.startedMs) / 1000) : 0);
      if (!f.watch || s.manifest) {
        process.stdout.write(`${statusLine(s, rate(s))}\n`);
        return;
      }
      const bar = createBar();
      bar.start(s.totalBatches ?? 0, s.doneBatches, { images: imagesDone(s), rate: '0', etaText: '?', failures: '' });
      while (!s.manifest) {
        await new Promise((r) => setTimeout(r, 1000));
        s = await readStatus(redis, target);
        bar.setTotal(s.totalBatches ?? 0);
        bar.update(s.doneBatches, { images: imagesDone(s), rate: rate(s).toFixed(1), etaText: statusLine(s, rate(s)).split('ETA ')[1]!.split(',')[0], failures: Object.entries(s.statuses).filter(([k]) => !['ok', 'no_mask'].includes(k)).map(([k, v]) => `${k} ${v}`).join(' ') });
      }
      bar.stop();
      process.stdout.write(`${statusLine(s, rate(s))}\n`);
    } finally {
      redis.disconnect();
    }
  });

enqueueOptions(program.command('run <dataset-uri>').description('local all-in-one: enqueue, start N workers, wait, print a summary'))
  .option('--workers <n>', 'worker processes (default: one per core)', positiveInt('--workers'))
  .action(async (dataset: string, f: EnqueueFlags & { workers?: number }) => {
    loadConfig(); // a bad environment fails here, before anything is enqueued
    const results = RunResults.open(f.out);
    const t0 = Date.now();
    const enq = await doEnqueue(dataset, f);
    const n = f.workers ?? Math.max(1, os.availableParallelism());
    const bin = path.resolve(__dirname, '../bin/overmap.js');
    const children: ChildProcess[] = [];
    let exited = 0;
    for (let i = 0; i < n; i++) {
      const c = fork(bin, ['worker', '--no-metrics'], { env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      c.on('exit', () => { exited++; });
      children.push(c);
    }
    const stopAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
    process.once('SIGINT', () => { stopAll(); process.exit(130); });
    process.once('SIGTERM', () => { stopAll(); process.exit(143); });
    process.stderr.write(`run ${enq.runId}: ${n} worker processes scoring ${enq.images} images\n`);
    const { redis } = await configAndRedis();
    try {
      let lastPrint = 0;
      for (;;) {
        const manifest = await results.readManifest();
        if (manifest) {
          stopAll();
          await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
          process.stdout.write(`${formatSummary(manifest, results)}\n  time: ${((Date.now() - t0) / 1000).toFixed(1)} s with ${n} workers\n`);
          return;
        }
        if (exited === n) throw new Error(`all ${n} workers exited before the run finished: see the log above, then rerun the same command to resume`);
        if (Date.now() - lastPrint > 2000) {
          lastPrint = Date.now();
          const s = await readStatus(redis, enq.runId);
          const rate = imagesDone(s) / Math.max(1e-3, (Date.now() - t0) / 1000);
          process.stderr.write(`${statusLine(s, rate)}\n`);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      redis.disconnect();
    }
  });

program.command('evaluate <results-uri>').description('risk-coverage tables (and a plot) for every confidence, where labels are known')
  .option('--val <results-uri>', 'a validation run: thresholds and fusion weights are chosen there, reported on <results-uri>')
  .option('--ood <results-uri>', 'a run over unknown objects: how well each confidence tells them from <results-uri>\'s images (repeat for several kinds)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--shifted <results-uri>', 'a labelled run over shifted images of the known classes: its errors as a failure type')
  .option('--plot <png-path>', 'write the accuracy-vs-rejection plot')
  .option('--json <path>', 'write the tables as JSON')
  .action(async (resultsUri: string, f: { val?: string; ood?: string[]; shifted?: string; plot?: string; json?: string }) => {
    process.stdout.write(await evaluateCommand(resultsUri, f));
  });

program.parseAsync(process.argv).then(() => {
  // Commands that keep handles open (Redis, BullMQ) are done: exit.
  if (!['worker'].includes(process.argv[2] ?? '')) setImmediate(() => process.exit(0));
}).catch((e) => {
  logger.flush?.();
  fail(e);
});
