/** `overmap retry <results-uri>`: re-queue a run's failed batches and re-add any batch without a part file. */
import { InputError, RunResults, parseAllowedPrefixes } from '@overmap/shared';
import { rebuildMissingChunks, recoverRun } from '@overmap/producer';
import { configAndRedis } from './common';

export async function retryCommand(resultsUri: string): Promise<void> {
  const { config, redis } = await configAndRedis();
  const results = RunResults.open(resultsUri, { secret: config.OVERMAP_JOB_SECRET });
  try {
    const run = await results.requireRun();
    if (run.batches === undefined)
      throw new InputError(`run ${run.run_id}'s listing has not finished: rerun the same overmap enqueue to resume it`);
    const rebuilt = await rebuildMissingChunks(results, run, {
      allowed: parseAllowedPrefixes(config.OVERMAP_ALLOWED_PREFIXES),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    if (rebuilt) process.stdout.write(`${run.run_id}: ${rebuilt} lost listing chunk(s) rebuilt\n`);
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
}
