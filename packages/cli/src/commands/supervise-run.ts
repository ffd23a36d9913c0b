/**
 * `overmap run`'s supervisor: N worker processes that it restarts when one dies (a signal,
 * the OOM killer, a crash; at most `maxRestarts` in all), a status line every few seconds,
 * Redis and S3 outages ridden out up to `outageSeconds`, and an end that says what happened:
 * the manifest, or why the run cannot finish and what to do. Its workers never outlive it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { recoverRun } from '@overmap/producer';
import { FAILURES_JSONL, type Manifest, OverMapError, type RunResults, ServiceError } from '@overmap/shared';
import { type RunStatus, readStatus, runVerdict } from './run-status';
import { RateMeter, imagesDone, statusLine } from './status-line';

/** A run that cannot finish as things stand (failed batches): exit code 4. */
export class RunStuckError extends OverMapError {}

export interface SuperviseOptions {
  bin: string;
  workers: number;
  results: RunResults;
  redis: Redis;
  prefix: string;
  env: NodeJS.ProcessEnv;
  /** OVERMAP_JOB_SECRET, to sign the jobs a recovery adds */
  secret?: string;
  maxRestarts?: number;
  outageSeconds?: number;
  log?: (line: string) => void;
}

export async function superviseRun(o: SuperviseOptions): Promise<Manifest> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const maxRestarts = o.maxRestarts ?? 3 * o.workers;
  const outageMs = (o.outageSeconds ?? 300) * 1000;
  const children = new Set<ChildProcess>();
  let stopping = false,
    restarts = 0;
  let fatal: Error | null = null;

  const spawn = (slot: number) => {
    // One worker per core: V8's parallel GC threads would only take CPU from the other workers
    // (two processes on two cores scored about 15% faster with single-threaded GC, BENCHMARKS.md).
    const c = fork(o.bin, ['worker', '--no-metrics'], {
      env: o.env,
      execArgv: [...process.execArgv, '--single-threaded-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(c);
    c.on('exit', (code, signal) => {
      children.delete(c);
      if (stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (++restarts > maxRestarts) {
        fatal = new RunStuckError(
          `worker ${slot} ${how}, and workers have died ${restarts} times: see the log above; the run is kept, rerun the same command to resume`,
        );
        return;
      }
      log(`worker ${slot} ${how}: restarting it (${restarts} of at most ${maxRestarts} restarts)`);
      spawn(slot);
    });
  };
  const stopAll = async () => {
    stopping = true;
    const exits = [...children].map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(exits);
  };
  const killNow = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.once('exit', killNow);
  for (let i = 0; i < o.workers; i++) spawn(i);
  const startedAt = Date.now();

  const meter = new RateMeter();
  let outageSince = 0,
    lastPrint = 0;
  try {
    for (;;) {
      if (fatal) throw fatal;
      let status: RunStatus | undefined;
      try {
        const manifest = await o.results.readManifest();
        if (manifest) return manifest;
        if (Date.now() - lastPrint >= 2000) {
          // Redis commands wait for a reconnect: a reading that takes too long is an outage.
          status = await Promise.race([
            readStatus(o.redis, o.results.uri, o.prefix),
            sleep(10_000, undefined, { ref: false }),
          ]);
          if (!status) throw new ServiceError('Redis did not answer within 10 s');
        }
        outageSince = 0;
      } catch (e) {
        if (!(e instanceof ServiceError)) throw e;
        outageSince ||= Date.now();
        if (Date.now() - outageSince > outageMs)
          throw new ServiceError(
            `${e.message}, for over ${outageMs / 1000} s: the run is kept; rerun the same command when the service is back`,
            { cause: e },
          );
        if (Date.now() - lastPrint >= 10_000) {
          lastPrint = Date.now();
          log(`waiting for the service to come back: ${e.message}`);
        }
      }
      if (status && !status.inRedis && status.run?.batches !== undefined) {
        // Redis restarted without persistence: the queue and the counts are gone, the results are not.
        const r = await recoverRun({
          results: o.results,
          run: status.run,
          redis: o.redis,
          prefix: o.prefix,
          secret: o.secret,
        });
        log(`Redis lost run ${status.runId}'s state: recovered from the results, ${r.added} batch(es) queued again`);
        continue;
      }
      if (status) {
        lastPrint = Date.now();
        // Workers it has just started are not yet connected (runtime and model loading): not stuck.
        const starting = status.workers === 0 && restarts === 0 && Date.now() - startedAt < 60_000 && !status.manifest;
        log(
          starting
            ? `${status.runId}: starting ${o.workers} worker(s) (loading the model)`
            : statusLine(status, meter.add(imagesDone(status))),
        );
        // Stuck by failed batches (the other way to be stuck, no workers, is ours to fix: restarts above).
        const v = runVerdict(status);
        if (v.state === 'stuck' && v.cause === 'failed') {
          await o.results.writeFailures(status.failed);
          throw new RunStuckError(`${v.why}; they are listed in ${o.results.uriOf(FAILURES_JSONL)}`);
        }
      }
      await sleep(300);
    }
  } finally {
    await stopAll();
    process.removeListener('exit', killNow);
  }
}
