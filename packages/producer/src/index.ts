export { enqueueDataset, defaultRunId, type EnqueueOptions, type EnqueueProgress, type EnqueueResult } from './enqueue-dataset';
export { recoverRun, type RecoverOptions, type RecoverResult } from './recover-run';
