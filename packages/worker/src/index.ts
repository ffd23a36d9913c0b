/** The fleet: a BullMQ worker that scores batches with `@overmap/engine` and finalizes runs. */
export { startWorker, type WorkerOptions, type RunningWorker } from './fleet/start-worker';
export { finalizeRun } from './fleet/finalize-run';
export { processBatch } from './fleet/process-batch';
export { RunContexts, type ScorerFactory } from './fleet/run-context';
export { unsignedJobsWarning } from './fleet/job-guard';
