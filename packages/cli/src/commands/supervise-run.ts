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
import {
  FAILURES_JSONL,
  type Manifest,
  OverMapError,
  type RunJson,
  type RunResults,
  ServiceError,
} from '@overmap/shared';
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

/** The worker processes: restarted when one dies, at most `maxRestarts` times in all; killed with this process. */
class WorkerProcesses {
  private readonly children = new Set<ChildProcess>();
  private stopping = false;
  restarts = 0;
  /** why the run cannot go on (workers died too often) */
  fatal: Error | null = null;
  private readonly killNow = () => {
    for (const c of this.children) c.kill('SIGKILL');
  };

  constructor(
    private readonly o: Pick<SuperviseOptions, 'bin' | 'env'>,
    private readonly maxRestarts: number,
    private readonly log: (line: string) => void,
  ) {}

  start(workers: number): void {
    process.once('exit', this.killNow);
    for (let i = 0; i < workers; i++) this.spawn(i);
  }

  private spawn(slot: number): void {
    // One worker per core: V8's parallel GC threads would only take CPU from the other workers
    // (two processes on two cores scored about 15% faster with single-threaded GC, BENCHMARKS.md).
    const c = fork(this.o.bin, ['worker', '--no-metrics', '--no-unsigned-warning'], {
      env: this.o.env,
      execArgv: [...process.execArgv, '--single-threaded-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.children.add(c);
    c.on('exit', (code, signal) => {
      this.children.delete(c);
      if (this.stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (++this.restarts > this.maxRestarts) {
        this.fatal = new RunStuckError(
          `worker ${slot} ${how}, and workers have died ${this.restarts} times: see the log above; the run is kept, rerun the same command to resume`,
        );
        return;
      }
      this.log(`worker ${slot} ${how}: restarting it (${this.restarts} of at most ${this.maxRestarts} restarts)`);
      this.spawn(slot);
    });
  }

  /** SIGTERM to every worker; resolves once all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.children].map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of this.children) c.kill('SIGTERM');
    await Promise.all(exits);
    process.removeListener('exit', this.killNow);
  }
}

/** The run as the supervisor sees it: its manifest, its status every few seconds, Redis and S3 outages ridden out. */
class RunWatch {
  private outageSince = 0;
  private lastPrint = 0;
  private readonly meter = new RateMeter();
  private readonly outageMs: number;

  constructor(
    private readonly o: SuperviseOptions,
    private readonly log: (line: string) => void,
  ) {
    this.outageMs = (o.outageSeconds ?? 300) * 1000;
  }

  /** The manifest once the run is complete; else its status when a status line is due (none during an outage). */
  async poll(): Promise<{ manifest?: Manifest; status?: RunStatus }> {
    try {
      const manifest = await this.o.results.readManifest();
      if (manifest) return { manifest };
      let status: RunStatus | undefined;
      if (Date.now() - this.lastPrint >= 2000) {
        // Redis commands wait for a reconnect: a reading that takes too long is an outage.
        status = await Promise.race([
          readStatus(this.o.redis, this.o.results.uri, this.o.prefix),
          sleep(10_000, undefined, { ref: false }),
        ]);
        if (!status) throw new ServiceError('Redis did not answer within 10 s');
      }
      this.outageSince = 0;
      return { status };
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      this.outage(e);
      return {};
    }
  }

  /** An outage: logged every 10 s, fatal past `outageSeconds`. */
  private outage(e: ServiceError): void {
    this.outageSince ||= Date.now();
    if (Date.now() - this.outageSince > this.outageMs)
      throw new ServiceError(
        `${e.message}, for over ${this.outageMs / 1000} s: the run is kept; rerun the same command when the service is back`,
        { cause: e },
      );
    if (Date.now() - this.lastPrint >= 10_000) {
      this.lastPrint = Date.now();
      this.log(`waiting for the service to come back: ${e.message}`);
    }
  }

  /** Redis restarted without persistence: the queue and the counts are gone, the results are not. */
  async recover(run: RunJson, runId: string): Promise<void> {
    const r = await recoverRun({
      results: this.o.results,
      run,
      redis: this.o.redis,
      prefix: this.o.prefix,
      secret: this.o.secret,
    });
    this.log(`Redis lost run ${runId}'s state: recovered from the results, ${r.added} batch(es) queued again`);
  }

  /**
   * Logs the status line (`starting`: the workers just started, still loading the model); a run
   * stuck by failed batches throws.
   */
  async report(status: RunStatus, starting: boolean): Promise<void> {
    this.lastPrint = Date.now();
    this.log(
      starting
        ? `${status.runId}: starting ${this.o.workers} worker(s) (loading the model)`
        : statusLine(status, this.meter.add(imagesDone(status))),
    );
    // Stuck by failed batches (the other way to be stuck, no workers, is ours to fix: restarts above).
    const v = runVerdict(status);
    if (v.state === 'stuck' && v.cause === 'failed') {
      await this.o.results.writeFailures(status.failed);
      throw new RunStuckError(`${v.why}; they are listed in ${this.o.results.uriOf(FAILURES_JSONL)}`);
    }
  }
}

export async function superviseRun(o: SuperviseOptions): Promise<Manifest> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const workers = new WorkerProcesses(o, o.maxRestarts ?? 3 * o.workers, log);
  workers.start(o.workers);
  const startedAt = Date.now();
  const watch = new RunWatch(o, log);
  try {
    for (;;) {
      if (workers.fatal) throw workers.fatal;
      const { manifest, status } = await watch.poll();
      if (manifest) return manifest;
      if (status && !status.inRedis && status.run?.batches !== undefined) {
        await watch.recover(status.run, status.runId);
        continue;
      }
      if (status) {
        // Workers it has just started are not yet connected (runtime and model loading): not stuck.
        const starting =
          status.workers === 0 && workers.restarts === 0 && Date.now() - startedAt < 60_000 && !status.manifest;
        await watch.report(status, starting);
      }
      await sleep(300);
    }
  } finally {
    await workers.stop();
  }
}
