/**
 * Not for production: the fleet's pieces that tests and benchmarks reach into. Imported as
 * `@overmap/worker/testing`; nothing in the worker's runtime imports this file. The scoring
 * engine's are in `@overmap/engine/testing`.
 */
export { calibrateMicroBatch } from './fleet/micro-batch';
export { downloadSlots } from './fleet/process-batch';
export { OutageLog, isConnectionError } from './fleet/outage-log';
