/**
 * The experiment's pure parts (scripts/run-experiment.js): the flipped-label rows, the routing table
 * and the number formats of its tables; the decision's choice on validation is re-exported from
 * @overmap/evaluation (decision-choice.ts).
 * Functions of records only: no runs, no files.
 */
'use strict';
const shared = require('@overmap/shared');
const E = require('@overmap/evaluation');

// The decision's choice on validation is @overmap/evaluation's (decision-choice.ts, typed and tested).
const { round4, K_GRID, C_GRID, sircParams, decisionMetrics, chooseDecision, decisionName, stripDecision } = E;
const permil = (v) => (Number.isFinite(v) ? `${(v * 1000).toFixed(1)}‰` : '–');
const f3 = (v) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const pct = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');
const pts = (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}` : '–');

/**
 * Flipped-label rows for a set of records with given labels: suspicion (the report's formula,
 * @overmap/shared label-suspicion.ts) per confidence, and the label-side Grad-CAM.
 */
function noiseRows(recs, flipped) {
  const canon = shared.canonicalClass;
  const k = recs.filter((r) => flipped.get(r.key)).length;
  const rowOf = (name, score) => {
    const items = recs.map((r, i) => ({ flipped: !!flipped.get(r.key), score: score(r, i) }));
    const m = E.failureRow(
      name,
      items.map((x) => ({ confidence: -x.score, failure: x.flipped })),
    );
    return { ...m, precisionAtK: E.noiseReport(items, k).precisionAtK };
  };
  const rows = [];
  for (const name of [
    'confidence',
    'overmap',
    'gradcam_seg',
    'gradcam_seg_auc',
    'gradcam_contrast',
    'msp',
    'margin',
    'mc_dropout',
  ]) {
    if (recs.some((r) => r.scores[name] === null || r.scores[name] === undefined)) continue;
    rows.push(
      rowOf(name, (r) =>
        E.suspicion({
          disagrees: canon(r.prediction.class) !== canon(r.label),
          confidence: Math.max(-1, Math.min(1, shared.confidenceValue(r.scores, name))),
        }),
      ),
    );
  }
  if (recs.every((r) => typeof r.scores.label_quality === 'number'))
    rows.push(
      rowOf(
        "label_quality (1 − p of the given label; the report's label-error queue)",
        (r) => 1 - r.scores.label_quality,
      ),
    );
  rows.push(
    rowOf(
      'label_gradcam_seg (1 − Grad-CAM of the given label on the mask)',
      (r) => 1 - (r.scores.label_gradcam_seg ?? 0),
    ),
  );
  rows.push(
    rowOf(
      'disagreement only (prediction ≠ label)',
      (r, i) => (canon(r.prediction.class) !== canon(r.label) ? 1 : 0) + i * 1e-12,
    ),
  );
  return { k, n: recs.length, rows };
}

function noiseTable({ k, rows }) {
  return [
    '| confidence | AUROC flipped vs clean ↑ | AUGRC ↓ | AURC ↓ | FPR@95TPR ↓ | precision at k = ' + k + ' ↑ |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${f3(r.auroc)} | ${permil(r.augrc)} | ${permil(r.aurc)} | ${pct(r.fprAt95Tpr)} | ${f3(r.precisionAtK)} |`,
    ),
  ].join('\n');
}

/**
 * Failure routing (@overmap/shared issue-routing.ts): for each pool of images, where the records'
 * `issue` sends them, as shares of the pool. pools: [{name, records}].
 */
function routingTable(pools) {
  const issues = shared.ISSUES;
  const head = `| images | n | ${issues.join(' | ')} |\n| --- | --- | ${issues.map(() => '---').join(' | ')} |`;
  const rows = pools.map(({ name, records }) => {
    const n = records.length;
    const share = (i) => (n ? `${((100 * records.filter((r) => r.issue === i).length) / n).toFixed(1)}%` : '–');
    return `| ${name} | ${n} | ${issues.map(share).join(' | ')} |`;
  });
  return [head, ...rows].join('\n');
}

module.exports = {
  routingTable,
  round4,
  K_GRID,
  C_GRID,
  sircParams,
  decisionMetrics,
  chooseDecision,
  decisionName,
  stripDecision,
  permil,
  f3,
  pct,
  pts,
  noiseRows,
  noiseTable,
};
