/**
 * The parts of the page that do not change in the browser, rendered here as HTML strings:
 * the header figures, the risk-coverage plot (inline SVG), the per-class table and the
 * confusion matrix. Every value from the run is escaped.
 */
import type { Aggregates, RiskCoverage } from './collect';

export const esc = (s: unknown) =>
  String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
export const pct = (v: number | null | undefined, d = 1) =>
  v == null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(d)}%`;
const int = (n: number) => n.toLocaleString('en-US');

export const COLOURS = [
  '#d62728',
  '#1f77b4',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
  '#393b79',
  '#637939',
];

/** Accuracy of what is kept against the fraction rejected, one line per score. */
export function riskCoverageSvg(rc: RiskCoverage): string {
  if (!rc.curves.length) return '<p class="muted">No curve: no labelled, scored records.</p>';
  const W = 520,
    H = 300,
    m = { l: 52, r: 12, t: 12, b: 40 };
  const xs = rc.curves[0]!.points.map((p) => p.rejected);
  const xMax = Math.max(...xs);
  const ys = rc.curves.flatMap((c) => c.points.map((p) => p.accuracy)).filter(Number.isFinite);
  const yMin = Math.max(0, Math.floor(Math.min(...ys) * 20) / 20),
    yMax = Math.min(1, Math.ceil(Math.max(...ys) * 20) / 20 || 1);
  const X = (x: number) => m.l + (x / (xMax || 1)) * (W - m.l - m.r);
  const Y = (y: number) => m.t + (1 - (y - yMin) / Math.max(1e-9, yMax - yMin)) * (H - m.t - m.b);
  let g = '';
  for (let i = 0; i <= 9; i++) {
    const x = (xMax * i) / 9;
    g += `<line x1="${X(x)}" y1="${m.t}" x2="${X(x)}" y2="${H - m.b}" class="grid"/><text x="${X(x)}" y="${H - m.b + 15}" text-anchor="middle">${Math.round(x * 100)}%</text>`;
  }
  for (let i = 0; i <= 5; i++) {
    const y = yMin + ((yMax - yMin) * i) / 5;
    g += `<line x1="${m.l}" y1="${Y(y)}" x2="${W - m.r}" y2="${Y(y)}" class="grid"/><text x="${m.l - 6}" y="${Y(y) + 4}" text-anchor="end">${(y * 100).toFixed(0)}%</text>`;
  }
  g += `<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">fraction rejected (least confident first)</text>`;
  g += `<text transform="translate(13 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">accuracy of the kept</text>`;
  rc.curves.forEach((c, i) => {
    const d = c.points
      .filter((p) => Number.isFinite(p.accuracy))
      .map((p, j) => `${j ? 'L' : 'M'}${X(p.rejected).toFixed(1)},${Y(p.accuracy).toFixed(1)}`)
      .join(' ');
    const main = /^(confidence|overmap)\b/.test(c.name);
    g += `<path d="${d}" fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="${main ? 3 : 1.5}"${main ? '' : ' stroke-dasharray="4 3"'}><title>${esc(c.name)}</title></path>`;
  });
  const legend = rc.curves
    .map(
      (c, i) =>
        `<li><span class="swatch" style="background:${COLOURS[i % COLOURS.length]}"></span>${esc(c.name)} <span class="muted">AURC ${(c.aurc * 1000).toFixed(1)}‰</span></li>`,
    )
    .join('');
  const note =
    rc.maxError > 0
      ? `Curves from a uniform sample of ${int(rc.sampled)} of the ${int(rc.population)} labelled, scored records: a point's accuracy is within ±${(rc.maxError * 100).toFixed(1)} points at 95%.`
      : `Curves from all ${int(rc.population)} labelled, scored records.`;
  return `<svg class="plot" viewBox="0 0 ${W} ${H}" role="img" aria-label="risk-coverage plot">${g}</svg><ul class="legend">${legend}</ul><p class="muted small">${note} −entropy: entropy with its sign turned, so that higher means more confident.</p>`;
}

export function classTable(a: Aggregates, withLabels: boolean): string {
  const rows = a.perClass
    .map(
      (r) =>
        `<tr><th>${esc(r.class)}</th>${withLabels ? `<td>${int(r.labelled)}</td><td>${r.labelled ? pct(r.correct / r.labelled) : '–'}</td>` : ''}` +
        `<td>${int(r.predicted)}</td><td>${r.predicted ? pct(r.rejected / r.predicted) : '–'}</td><td>${r.predicted ? (r.confidenceSum / r.predicted).toFixed(3) : '–'}</td></tr>`,
    )
    .join('');
  return (
    `<table class="num"><thead><tr><th>class</th>${withLabels ? '<th>labelled</th><th>accuracy</th>' : ''}<th>predicted</th><th>rejected</th><th>mean confidence</th></tr></thead><tbody>${rows}</tbody></table>` +
    `<p class="muted small">Accuracy: of the records labelled with the class. Rejected and mean confidence: of the records predicted as the class.</p>`
  );
}

export function confusionTable(a: Aggregates): string {
  const classes = a.perClass.map((r) => r.class);
  const head = classes.map((c) => `<th class="rot"><span>${esc(c)}</span></th>`).join('');
  const rows = a.confusion
    .map((row, i) => {
      const n = row.reduce((s, v) => s + v, 0) || 1;
      const cells = row
        .map((v, j) => {
          const f = v / n;
          const bg =
            i === j ? `rgba(44,160,44,${(0.1 + 0.8 * f).toFixed(2)})` : `rgba(214,39,40,${(f * 1.6).toFixed(2)})`;
          return `<td style="background:${v ? bg : 'transparent'}" title="label ${esc(classes[i])}, predicted ${esc(classes[j])}: ${v}">${v || ''}</td>`;
        })
        .join('');
      return `<tr><th>${esc(classes[i])}</th>${cells}</tr>`;
    })
    .join('');
  return `<table class="confusion num"><thead><tr><th class="corner">label ↓ / predicted →</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

export interface HeaderFacts {
  runId: string;
  dataset: string;
  model: { uri: string; hash: string; name?: string };
  threshold: number;
  created?: string;
  finished?: string;
  toolVersion?: string;
}

export function headerHtml(h: HeaderFacts, a: Aggregates): string {
  const statuses = Object.entries(a.byStatus)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `<span class="pill st-${esc(k)}">${esc(k)} ${int(v)}</span>`)
    .join(' ');
  const acc = a.labelled
    ? `<div class="stat"><b>${pct(a.correct / a.labelled)}</b><span>accuracy of all ${int(a.labelled)} labelled</span></div>` +
      `<div class="stat"><b>${a.labelledAccepted ? pct(a.correctAccepted / a.labelledAccepted) : '–'}</b><span>accuracy of the ${int(a.labelledAccepted)} accepted</span></div>`
    : '';
  return `<dl class="facts">
<dt>run</dt><dd>${esc(h.runId)}</dd>
<dt>dataset</dt><dd><code>${esc(h.dataset)}</code></dd>
<dt>model</dt><dd>${esc(h.model.name ?? '')} <code>${esc(h.model.uri)}</code> <span class="muted">sha256 ${esc(h.model.hash.slice(0, 16))}…</span></dd>
<dt>finished</dt><dd>${esc(h.finished ?? '')} <span class="muted">tool ${esc(h.toolVersion ?? '')}</span></dd>
</dl>
<div><div class="stats">
<div class="stat"><b>${int(a.total)}</b><span>images</span></div>
<div class="stat"><b>${int(a.accepted)}</b><span>accepted (confidence ≥ ${h.threshold})</span></div>
<div class="stat"><b>${int(a.rejected)}</b><span>rejected</span></div>
${acc}
</div>
<p>${statuses}${a.unknownLabels ? ` <span class="muted">· ${int(a.unknownLabels)} labels name no class of the model (counted neither right nor wrong)</span>` : ''}</p></div>`;
}
