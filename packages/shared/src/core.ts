/**
 * The part of `@overmap/shared` with no queue in it (no BullMQ, no Redis): errors, config,
 * schemas and the score registry, labels, storage. The scoring engine imports this entry only, so that scoring an
 * image never loads the fleet's queue code (the dependency rules check it).
 */
export * from './errors';
export * from './config';
export * from './labels';
export * from './schemas';
export * from './score-registry';
export * from './score-derivations';
export * from './issue-routing';
export * from './decision-score';
export * from './storage/object-store';
export * from './storage/fs-object-store';
export * from './storage/s3-object-store';
export * from './storage/open-store';
