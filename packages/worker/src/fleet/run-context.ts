/**
 * What a worker needs to process a run's batches: run.json (read from the results store
 * once per run), the dataset store, and the scorer for the run's model (loaded once per
 * model hash and shared by every run that uses it).
 */
import { InputError, type ObjectStore, type RunJson, RunJsonSchema, canonicalClass, openStore } from '@overmap/shared';
import { loadSpec } from '../model/model-spec';
import { OverMapScorer, type Scorer } from '../scoring/pipeline';

export interface RunContext {
  run: RunJson;
  dataset: ObjectStore;
  results: ObjectStore;
  scorer: Scorer;
  /** canonical class name -> index */
  classIndex: Map<string, number>;
}

export type ScorerFactory = (run: RunJson) => Promise<Scorer>;

/** Loads the run's model spec and checks that it is the model the run was enqueued with. */
export const defaultScorerFactory: ScorerFactory = async (run) => {
  const loaded = await loadSpec(run.model.uri);
  if (loaded.hash !== run.model.hash) {
    throw new InputError(`model ${run.model.uri} has changed since run ${run.run_id} was enqueued (hash ${loaded.hash.slice(0, 12)} != ${run.model.hash.slice(0, 12)}): restore it or start a new run`);
  }
  return OverMapScorer.load(loaded);
};

export class RunContexts {
  private readonly runs = new Map<string, Promise<RunContext>>();
  private readonly scorers = new Map<string, Promise<Scorer>>();
  constructor(private readonly factory: ScorerFactory = defaultScorerFactory) {}

  get(runId: string, resultsUri: string): Promise<RunContext> {
    const key = `${runId}\0${resultsUri}`;
    let p = this.runs.get(key);
    if (!p) {
      p = this.load(runId, resultsUri);
      this.runs.set(key, p);
      p.catch(() => this.runs.delete(key)); // a transient failure may succeed next time
    }
    return p;
  }

  private async load(runId: string, resultsUri: string): Promise<RunContext> {
    const results = openStore(resultsUri, {}, 'results URI');
    const raw = await results.getIfExists('run.json');
    if (!raw) throw new InputError(`no run.json under ${resultsUri} for run ${runId}: enqueue the run first`);
    const run = RunJsonSchema.parse(JSON.parse(raw.toString('utf8')));
    if (run.run_id !== runId) throw new InputError(`run.json under ${resultsUri} is for run ${run.run_id}, not ${runId}`);
    let sp = this.scorers.get(run.model.hash);
    if (!sp) {
      sp = this.factory(run);
      this.scorers.set(run.model.hash, sp);
      sp.catch(() => this.scorers.delete(run.model.hash));
    }
    const scorer = await sp;
    return {
      run, results, scorer, dataset: openStore(run.dataset, {}, 'dataset URI'),
      classIndex: new Map(scorer.spec.classes.map((c, i) => [canonicalClass(c), i])),
    };
  }

  dispose(): void {
    for (const p of this.scorers.values()) p.then((s) => s.dispose()).catch(() => undefined);
    this.scorers.clear();
    this.runs.clear();
  }
}
