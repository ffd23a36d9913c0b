/**
 * The report's audit panel: `overmap audit`'s result (audit/audit.json beside the run), where a
 * person has verified a sample: every confidence's AUGRC and AUROC with their intervals, the
 * decision score chosen and its certified threshold. Read leniently: a missing or unreadable
 * audit leaves the panel out, never the report.
 */
import { z } from 'zod';
import type { RunResults } from '@overmap/shared';
import { esc } from './page-static';

const IntervalSchema = z.object({ value: z.number().nullable(), lo: z.number().nullable(), hi: z.number().nullable() });
export const AuditSummarySchema = z.object({
  scored: z.number(),
  verified: z.number(),
  notAClass: z.number(),
  accuracy: z.number().nullable(),
  scores: z.array(z.object({ name: z.string(), augrc: IntervalSchema, auroc: IntervalSchema })),
  chosen: z.object({
    score: z.string(),
    riskControl: z.object({
      alpha: z.number(),
      delta: z.number(),
      threshold: z.number().nullable(),
      coverage: z.number(),
      reason: z.string().optional(),
    }),
    runCoverage: z.number().nullable(),
  }),
  created: z.string().optional(),
});
export type AuditSummary = z.infer<typeof AuditSummarySchema>;

export const AUDIT_KEY = 'audit/audit.json';

/** The run's audit, or null where there is none (or it cannot be read: said by `log`). */
export async function readAudit(results: RunResults, log: (line: string) => void): Promise<AuditSummary | null> {
  const raw = await results.store.getIfExists(AUDIT_KEY);
  if (!raw) return null;
  try {
    return AuditSummarySchema.parse(JSON.parse(raw.toString('utf8')));
  } catch (e) {
    log(
      `building report: ${results.uri}${AUDIT_KEY} is unreadable (${(e as Error).message.split('\n')[0]}); the audit panel is left out`,
    );
    return null;
  }
}

const permil = (v: number | null) => (v === null ? '–' : `${(v * 1000).toFixed(1)}‰`);
const f3 = (v: number | null) => (v === null ? '–' : v.toFixed(3));

export function auditPanel(a: AuditSummary | null): string {
  if (!a) return '';
  const rc = a.chosen.riskControl;
  const rows = a.scores
    .map(
      (s) =>
        `<tr${s.name === a.chosen.score ? ' class="chosen"' : ''}><td>${esc(s.name)}</td><td>${permil(s.augrc.value)} [${permil(s.augrc.lo)}, ${permil(s.augrc.hi)}]</td><td>${f3(s.auroc.value)} [${f3(s.auroc.lo)}, ${f3(s.auroc.hi)}]</td></tr>`,
    )
    .join('');
  const verdict =
    rc.threshold === null
      ? `No threshold certified: ${esc(rc.reason ?? '')}`
      : `Accept ${esc(a.chosen.score)} ≥ ${rc.threshold.toPrecision(4)}: error among accepted ≤ ${rc.alpha} with probability ≥ ${1 - rc.delta}; it accepts ${(100 * (a.chosen.runCoverage ?? 0)).toFixed(1)}% of the run.`;
  return `<section class="panel" id="audit"><h2>Audit on verified labels</h2>
<p class="muted small">${a.scored} images a person verified (${a.notAClass} of none of the classes); accuracy on them ${a.accuracy === null ? '–' : `${(100 * a.accuracy).toFixed(1)}%`}. 95% bootstrap intervals.</p>
<table class="audit"><thead><tr><th>confidence</th><th>AUGRC ↓</th><th>AUROC of errors ↑</th></tr></thead><tbody>${rows}</tbody></table>
<p><b>Chosen: ${esc(a.chosen.score)}.</b> ${verdict}</p></section>`;
}
