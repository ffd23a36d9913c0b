export * from './audit-records';
export * from './bootstrap';
export * from './risk-control';
export * from './verification-sample';
