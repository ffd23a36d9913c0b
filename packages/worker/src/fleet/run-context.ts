/**
 * What a worker needs to process a run's batches: run.json (read once per run), the dataset
 * store, the results, and the scorer for the run's model (loaded once per model hash, shared
 * by every run that uses it, and disposed after OVERMAP_SCORER_IDLE_SECONDS unused, so a
 * long-lived worker serving many models does not keep them all).
 */
import {
  InputError,
  type ObjectStore,
  type RunJson,
  RunResults,
  checkAllowed,
  classIndexer,
  openStore,
} from '@overmap/shared';
import { loadSpec } from '@overmap/engine';
import { OverMapScorer } from '@overmap/engine';
import type { Scorer } from '@overmap/engine';
import { calibrateMicroBatch } from './micro-batch';

export interface RunContext {
  run: RunJson;
  dataset: ObjectStore;
  results: RunResults;
  scorer: Scorer;
  /** images per synchronous scoring call (micro-batch.ts) */
  microBatch: number;
  /** the label -> class index rule (labels naming no class: null) */
  classOf: (label: string | null | undefined) => number | null;
  /** the acceptance threshold: run.json's, one per run */
  threshold: number;
}

export type ScorerFactory = (run: RunJson) => Promise<Scorer>;

/** Loads the run's model spec and checks that it is the model the run was enqueued with. */
export const defaultScorerFactory: ScorerFactory = async (run) => {
  const loaded = await loadSpec(run.model.uri);
  if (loaded.hash !== run.model.hash) {
    throw new InputError(
      `model ${run.model.uri} has changed since run ${run.run_id} was enqueued (hash ${loaded.hash.slice(0, 12)} != ${run.model.hash.slice(0, 12)}): restore it or start a new run`,
    );
  }
  return OverMapScorer.load(loaded);
};

interface LoadedScorer {
  scorer: Promise<{ scorer: Scorer; microBatch: number }>;
  active: number;
  lastUsed: number;
}

export class RunContexts {
  /** per run: run.json and its stores, opened once (an S3 store is an S3 client: not one per batch) */
  private readonly runs = new Map<string, Promise<{ run: RunJson; results: RunResults; dataset: ObjectStore }>>();
  private readonly scorers = new Map<string, LoadedScorer>();
  constructor(
    private readonly factory: ScorerFactory = defaultScorerFactory,
    private readonly idleMs = 600_000,
    /** OVERMAP_JOB_SECRET and OVERMAP_ALLOWED_PREFIXES: what a job may make this worker read and write */
    private readonly guard: { secret?: string; allowed?: string[] } = {},
  ) {}

  /** Runs `fn` with the run's context; its scorer is not disposed while `fn` runs. */
  async use<T>(runId: string, resultsUri: string, fn: (ctx: RunContext) => Promise<T>): Promise<T> {
    this.evictIdle();
    const { run, results, dataset } = await this.run(runId, resultsUri);
    const entry = this.scorerFor(run);
    entry.active++;
    try {
      const { scorer, microBatch } = await entry.scorer;
      const ctx: RunContext = {
        run,
        scorer,
        microBatch,
        results,
        dataset,
        classOf: classIndexer(scorer.spec.classes),
        threshold: run.params.threshold,
      };
      return await fn(ctx);
    } finally {
      entry.active--;
      entry.lastUsed = Date.now();
    }
  }

  private run(runId: string, resultsUri: string): Promise<{ run: RunJson; results: RunResults; dataset: ObjectStore }> {
    const key = `${runId}\0${resultsUri}`;
    let p = this.runs.get(key);
    if (!p) {
      const allowed = this.guard.allowed ?? [];
      p = (async () => {
        checkAllowed(resultsUri, allowed, 'results URI');
        const results = RunResults.open(resultsUri, { secret: this.guard.secret });
        const run = await results.requireRun(runId);
        checkAllowed(run.dataset, allowed, 'dataset');
        return { run, results, dataset: openStore(run.dataset, {}, 'dataset URI') };
      })();
      this.runs.set(key, p);
      p.catch(() => this.runs.delete(key)); // a transient failure may succeed next time
    }
    return p;
  }

  private scorerFor(run: RunJson): LoadedScorer {
    let entry = this.scorers.get(run.model.hash);
    if (!entry) {
      const scorer = this.factory(run).then(async (s) => ({ scorer: s, microBatch: await calibrateMicroBatch(s) }));
      entry = { scorer, active: 0, lastUsed: Date.now() };
      this.scorers.set(run.model.hash, entry);
      scorer.catch(() => this.scorers.delete(run.model.hash));
    }
    return entry;
  }

  /** Disposes scorers nobody has used for idleMs (never one in use). */
  evictIdle(now = Date.now()): number {
    let n = 0;
    for (const [hash, e] of this.scorers) {
      if (e.active > 0 || now - e.lastUsed < this.idleMs) continue;
      this.scorers.delete(hash);
      e.scorer.then((s) => s.scorer.dispose()).catch(() => undefined);
      n++;
    }
    return n;
  }

  /** Model hashes with a scorer loaded or loading. */
  get loaded(): string[] {
    return [...this.scorers.keys()];
  }

  dispose(): void {
    for (const e of this.scorers.values()) e.scorer.then((s) => s.scorer.dispose()).catch(() => undefined);
    this.scorers.clear();
    this.runs.clear();
  }
}
