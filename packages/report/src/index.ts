export {
  buildReport,
  reportLocation,
  REPORT_DIR,
  DEFAULT_PER_QUEUE,
  DEFAULT_SAMPLE,
  type ReportOptions,
  type ReportResult,
  type ReportData,
  type ReportQueue,
  type Card,
} from './build-report';
export { Collector, collectorFor, type Aggregates, type RiskCoverage } from './collect';
export { QUEUES, onObject, reasonOf, type QueueId, type QueueDef } from './queues';
export { TopN } from './top-n';
export { csvField, imageUri, toCsv, toJsonl, toLabelStudio, labelStudioConfig, type ExportRow } from './exports';
export { tileStem } from './tiles';
export { writeSyntheticRun, syntheticRecord, SYNTHETIC_CLASSES, type SyntheticRunOptions } from './synthetic-run';
