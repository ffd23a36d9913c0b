/**
 * The fractions rejected (least confident first) at which each risk-coverage table is read.
 * Three grids for three readers, each with its own reason, named apart so that none is taken
 * for another. The summary's and evaluate's grids hold the paper's points (PAPER_REJECT_FRACTIONS).
 */

/** The paper's operating points: the Top-3 macro gains at 12%, 15% and 18% rejected. */
export const PAPER_REJECT_FRACTIONS: readonly number[] = [0.12, 0.15, 0.18];

/**
 * The manifest's `summary.risk_coverage` (results/run-summary.ts): a short table in every run's
 * manifest, the paper's points and a coarse grid to 50%. Changing it changes every manifest
 * written, so it stays as it is.
 */
export const SUMMARY_REJECT_FRACTIONS: readonly number[] = [0, 0.05, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5];

/**
 * `overmap evaluate`'s tables (evaluation evaluate-records.ts) and the EVALUATION.md tables
 * built from them: the paper's points and every 5% to 50%, the range a curator would reject.
 */
export const EVALUATION_REJECT_FRACTIONS: readonly number[] = [
  0, 0.05, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
];

/**
 * The report's curves (report collect.ts): an even 5% grid, drawn as lines, from 0 to 90% (0 .. 0.9)
 * so that the whole curve shows; the report states its sampling error at the last point (the
 * fewest kept). It holds the paper's points only where they fall on the grid (15%).
 */
export const REPORT_REJECT_FRACTIONS: readonly number[] = Array.from({ length: 19 }, (_, i) => Math.round(i * 5) / 100);
