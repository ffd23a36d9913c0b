/**
 * The overmap command: run, enqueue, worker, status, retry, evaluate, report (names from
 * CONTRACT.md). This file only declares the commands and their options and dispatches to
 * commands/<name>.ts, which does the work.
 */
import { Command, Option } from 'commander';
import { logger } from '@overmap/shared';
import { fail, imageChecksList, intIn, positiveInt, positiveNumber, unitInterval } from './commands/common';
import { type EnqueueFlags, enqueueCommand } from './commands/enqueue';
import { type AuditFlags, auditCommand } from './commands/audit';
import { evaluateCommand } from './commands/evaluate';
import { type ReportFlags, reportCommand } from './commands/report';
import { retryCommand } from './commands/retry';
import { type RunFlags, runCommand } from './commands/run';
import { statusCommand } from './commands/status';
import { type WorkerFlags, workerCommand } from './commands/worker';
import { TOOL_VERSION } from './version';

const program = new Command();
program
  .name('overmap')
  .description('Over-MAP confidence for image datasets: BullMQ fleet on Redis and S3')
  .version(TOOL_VERSION);

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
    )
    .option(
      '--image-z <z>',
      "image checks: flag an image this many robust spreads beyond the run's median (default 3)",
      positiveNumber('--image-z'),
    )
    .option('--image-checks-off <checks>', 'image checks to switch off, e.g. grayscale,odd_size', imageChecksList)
    .option(
      '--near-duplicate-bits <k>',
      'near copies: perceptual hashes at most k bits apart, 0-16 (default 6; 0: identical pixels only)',
      intIn('--near-duplicate-bits', 0, 16),
    );

enqueueOptions(
  program
    .command('enqueue [dataset-uri]')
    .description('list a dataset (or read its S3 Inventory) and enqueue its batches'),
).action((dataset: string | undefined, f: EnqueueFlags) => enqueueCommand(dataset, f));

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
  .option(
    '--no-unsigned-warning',
    'do not log the unsigned-jobs warning without OVERMAP_JOB_SECRET (overmap run logs it once for all its workers)',
  )
  .action((f: WorkerFlags) => workerCommand(f));

program
  .command('status <run-id-or-results-uri>')
  .description('progress of a run: batches done and failed, queue, workers, images/s, ETA')
  .option('--watch', 'refresh until the run has finished or is stuck')
  .action((target: string, f: { watch?: boolean }) => statusCommand(target, f));

program
  .command('retry <results-uri>')
  .description("re-queue a run's failed batches and re-add any batch without a part file (after fixing the cause)")
  .action((resultsUri: string) => retryCommand(resultsUri));

enqueueOptions(
  program.command('run [dataset-uri]').description('local all-in-one: enqueue, start N workers, wait, print a summary'),
)
  .option('--workers <n>', 'worker processes (default: one per core)', positiveInt('--workers'))
  .option('--report', 'write the curation report (overmap report) when the run has finished')
  .action((dataset: string | undefined, f: RunFlags) => runCommand(dataset, f));

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
  .option('--partial', 'evaluate a run that has not finished (no manifest): the records written so far, said first')
  .action(async (resultsUri: string, f: Parameters<typeof evaluateCommand>[1]) => {
    process.stdout.write(await evaluateCommand(resultsUri, f));
  });

program
  .command('audit <results-uri>')
  .description(
    'the confidences measured on labels a person verified for a sample (--sample N draws it), the decision and threshold chosen from it',
  )
  .option('--sample <n>', 'draw N images to verify, written under <results-uri>/audit/', positiveInt('--sample'))
  .option('--verified <uri>', 'verified labels: CSV key,label, JSONL, or a Label Studio JSON export of the sample')
  .option('--alpha <a>', 'the error rate among accepted images to certify (default 0.1)', unitInterval('--alpha'))
  .option('--delta <d>', 'the chance the certificate may fail (default 0.1)', unitInterval('--delta'))
  .option('--spec-out <uri>', "write the run's spec with the chosen decision and threshold (beside its model files)")
  .option('--partial', 'audit a run that has not finished: the records written so far')
  .action(async (resultsUri: string, f: AuditFlags) => {
    process.stdout.write(await auditCommand(resultsUri, f));
  });

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
  .action(async (resultsUri: string, f: ReportFlags) => {
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
