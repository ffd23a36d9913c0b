export {
  enqueueDataset,
  defaultRunId,
  type EnqueueOptions,
  type EnqueueProgress,
  type EnqueueResult,
} from './enqueue-dataset';
export { recoverRun, type RecoverOptions, type RecoverResult } from './recover-run';
export { INVENTORY_CONCURRENCY, type Inventory, type InventoryKey, inventoryKeys, readInventory } from './s3-inventory';
export { describeLabels, loadLabels, type LabelReport } from './enqueue-labels';
export { missingChunks, rebuildMissingChunks, type RebuildOptions } from './rebuild-chunks';
