export * from './evaluate-records';
export * from './label-noise';
export * from './out-of-distribution';
export * from './read-records';
export * from './failure-types';
export * from './audit';
export * from './decision-choice';
