export { initBackend, type BackendInfo } from './backend/select-backend';
export { startWorker, type WorkerOptions, type RunningWorker } from './fleet/start-worker';
export { finalizeRun } from './fleet/finalize-run';
export { processBatch } from './fleet/process-batch';
export { RunContexts, type ScorerFactory } from './fleet/run-context';
export { loadSpec, readSpec, referenceSpecUri, type LoadedSpec, type ModelSpec, type ReadSpec } from './model/model-spec';
export { OverMapScorer, type Scorer, type ImageScore, type ScoreInput } from './scoring/pipeline';
export { decodeImage } from './images/decode-image';
export { NoopScorer } from './scoring/noop-scorer';
