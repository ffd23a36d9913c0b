/**
 * The report's page files: report-data.json (for programs), report-data.js (the same data,
 * loaded by a <script> tag since browsers do not let a file:// page fetch() a local JSON), the
 * page's script and style, and index.html, written last.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ObjectStore } from '@overmap/shared';
import { classTable, confusionTable, esc, headerHtml, riskCoverageSvg } from './page-static';
import { auditPanel } from './audit-panel';
import type { ReportData } from './report-data';

const ASSETS = path.resolve(__dirname, '../assets');

export async function writePage(out: ObjectStore, data: ReportData): Promise<void> {
  const json = JSON.stringify(data);
  await out.put('report-data.json', json, { contentType: 'application/json' });
  // In a <script>, "</" could close the tag: escape it (and the line separators JS strings reject).
  await out.put(
    'report-data.js',
    `window.OVERMAP_REPORT = ${json
      .replace(/<\//g, '<\\/')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029')};\n`,
    { contentType: 'text/javascript' },
  );
  await out.put('report.js', await fs.readFile(path.join(ASSETS, 'report.js')), { contentType: 'text/javascript' });
  await out.put('report.css', await fs.readFile(path.join(ASSETS, 'report.css')), { contentType: 'text/css' });
  await out.put('index.html', indexHtml(data), { contentType: 'text/html; charset=utf-8' });
}

function queueList(d: ReportData): string {
  const items = d.queues
    .map((q) => `<li><b>${q.total.toLocaleString('en-US')}</b> ${esc(q.title.toLowerCase())}</li>`)
    .join('');
  return `<h3 class="sub">Review queues</h3><ul class="queue-list">${items}</ul>`;
}

function indexHtml(d: ReportData): string {
  const a = d.aggregates;
  const withLabels = a.labelled > 0;
  const labelsNote = withLabels
    ? ''
    : `<p class="notice">${esc(d.omittedQueues[0]?.why ?? 'No labels.')} Accuracy, the risk-coverage plot and the confusion matrix need labels too.</p>`;
  const mapsNote = d.maps.note ? `<p class="notice">${esc(d.maps.note)}</p>` : '';
  const source =
    d.maps.source === 'none'
      ? ''
      : `<p class="muted small">Maps: ${esc(d.maps.source === 'recomputed' ? "recomputed by the run's scorer for the listed images" : d.maps.source)}. Grad-CAM of the predicted class and the attention map in heat colours over the image; the segmentation mask as a green contour.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Over-MAP report · ${esc(d.run.run_id)}</title>
<link rel="stylesheet" href="report.css"></head>
<body>
<header class="top"><h1>Over-MAP curation report</h1><p>${esc(d.run.run_id)} · ${esc(d.run.dataset)}</p></header>
<main>
<div class="grid3"><section class="panel" id="summary"><h2>Run</h2><div class="body">${headerHtml({ runId: d.run.run_id, dataset: d.run.dataset, model: d.run.model, threshold: d.run.threshold, finished: d.run.finished, toolVersion: d.run.tool_version }, a)}</div>${queueList(d)}${labelsNote}</section>
${
  withLabels
    ? `<section class="panel" id="risk-coverage"><h2>Accuracy against the fraction rejected</h2>${riskCoverageSvg(d.riskCoverage)}</section>
<section class="panel" id="confusion"><h2>Confusion matrix</h2>${confusionTable(a)}</section>`
    : ''
}
<section class="panel" id="classes"><h2>Per class</h2>${classTable(a, withLabels)}</section>${auditPanel(d.audit ?? null)}</div>
${mapsNote}${source}
<div id="queues"><noscript>The queues need JavaScript; the exports under exports/ list the same records.</noscript></div>
</main>
<script src="report-data.js"></script>
<script src="report.js"></script>
</body></html>
`;
}
