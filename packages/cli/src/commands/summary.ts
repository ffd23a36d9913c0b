/** The end-of-run summary printed by `overmap run` (stdout). */
export function formatSummary(manifest: Record<string, unknown>, resultsUri: string): string {
  const m = manifest as {
    run_id: string; threshold: number; counts: { total: number; by_status: Record<string, number>; accepted: number; rejected: number };
    summary: { accuracy?: number; accuracy_accepted?: number | null; labelled?: number };
  };
  const lines = [
    `run ${m.run_id}: ${m.counts.total} images`,
    `  by status: ${Object.entries(m.counts.by_status).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  at threshold ${m.threshold}: accepted ${m.counts.accepted}, rejected ${m.counts.rejected}`,
  ];
  if (m.summary.accuracy !== undefined) {
    lines.push(`  accuracy (${m.summary.labelled} labelled): all ${(m.summary.accuracy * 100).toFixed(1)}%` +
      (m.summary.accuracy_accepted != null ? `, accepted ${(m.summary.accuracy_accepted * 100).toFixed(1)}%` : ''));
  }
  lines.push(`  manifest: ${resultsUri.replace(/\/?$/, '/')}manifest.json`, `  records:  ${resultsUri.replace(/\/?$/, '/')}records.parquet`);
  return lines.join('\n');
}
