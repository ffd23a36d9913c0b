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
  const issues = Object.entries((m.summary.image_issues ?? {}) as Record<string, number>);
  const dups = m.duplicates as { parquet: string; groups: number; leaky_groups: number } | undefined;
  if (issues.length || dups)
    lines.push(
      `  image issues: ${issues.length ? issues.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}` +
        (dups
          ? `; copies: ${m.summary.images_with_copies ?? 0} images in ${dups.groups} groups` +
            (dups.leaky_groups ? ` (${dups.leaky_groups} spanning splits)` : '') +
            ` (${results.uriOf(dups.parquet)})`
          : ''),
    );
  lines.push(
    `  manifest: ${results.uriOf(MANIFEST_JSON)}`,
    `  records:  ${results.uriOf(m.parquet || RECORDS_PARQUET)}`,
  );
  return lines.join('\n');
}
