/** The end-of-run summary printed by `overmap run` (stdout). */
import { type Manifest, RECORDS_PARQUET, MANIFEST_JSON, type RunResults } from '@overmap/shared';

export function formatSummary(m: Manifest, results: RunResults): string {
  const lines = [
    `run ${m.run_id}: ${m.counts.total} images`,
    `  by status: ${Object.entries(m.counts.by_status)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  at threshold ${m.threshold}: accepted ${m.counts.accepted}, rejected ${m.counts.rejected}`,
  ];
  if (m.summary.accuracy !== undefined) {
    lines.push(
      `  accuracy (${m.summary.labelled} labelled): all ${(m.summary.accuracy * 100).toFixed(1)}%` +
        (m.summary.accuracy_accepted != null ? `, accepted ${(m.summary.accuracy_accepted * 100).toFixed(1)}%` : ''),
    );
  }
  lines.push(
    `  manifest: ${results.uriOf(MANIFEST_JSON)}`,
    `  records:  ${results.uriOf(m.parquet || RECORDS_PARQUET)}`,
  );
  return lines.join('\n');
}
