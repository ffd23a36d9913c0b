export * from './layout';
export * from './manifest';
export * from './record-columns';
export * from './records-parquet';
export * from './run-json';
export * from './run-results';
export * from './run-summary';
export * from './duplicates-table';
