/**
 * The decision score `scores.confidence` (SIRC and the other rules): defined once in
 * @overmap/shared (decision-score.ts), where the evaluation and the audit read it too.
 */
export { DEFAULT_DECISION, type Decision, decisionScore, sirc } from '@overmap/shared/core';
