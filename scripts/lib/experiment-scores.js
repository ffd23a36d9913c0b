/**
 * The experiment's pure parts (scripts/run-experiment.js): the decision-score candidates and their
 * choice on validation (SIRC grid), the flipped-label rows, and the number formats of its tables.
 * Functions of records only: no runs, no files.
 */
'use strict';
const shared = require('@overmap/shared');
const E = require('@overmap/evaluation');
const { decisionScore, DECISION_SECONDARIES } = require('@overmap/engine/testing');

const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v) => {
  const m = mean(v);
  return Math.sqrt(mean(v.map((x) => (x - m) ** 2))) || 1;
};
const round4 = (x) => Math.round(x * 1e4) / 1e4;
const K_GRID = [0, 0.5, 1, 1.5, 2, 3];
const C_GRID = [1, 3];

/** SIRC's a and b for a secondary from in-distribution validation: a = mean − k·std, b = c / std. */
function sircParams(valRecs, secondary, k, c) {
  const v = valRecs.map((r) => r.scores[secondary]).filter((x) => x !== null && x !== undefined);
  return { a: round4(mean(v) - k * std(v)), b: round4(c / std(v)) };
}

/** Metrics of one decision rule on a labelled pool and an unknown pool (records). */
function decisionMetrics(d, known, unknown) {
  const conf = (r) => decisionScore(r.scores, d) ?? 0;
  const id = known.map((x) => ({ confidence: conf(x.record), correct: x.correct }));
  const mixed = [...id, ...unknown.map((r) => ({ confidence: conf(r), correct: false }))];
  const sep = unknown.length
    ? E.separationRow(
        '',
        known.map((x) => conf(x.record)),
        unknown.map(conf),
      ).auroc
    : NaN;
  return {
    augrcId: shared.augrc(id),
    aurocId: shared.aurocOfErrorDetection(id),
    augrcMixed: unknown.length ? shared.augrc(mixed) : NaN,
    aurocUnknown: sep,
  };
}

/**
 * The decision score on validation: the softmax alone, or SIRC with each primary × secondary × k × c;
 * the one with the lowest AUGRC over validation errors plus validation unknowns, among those whose
 * AUGRC on validation errors alone is within 2% of max softmax's (SIRC's aim: help with unknowns
 * without hurting the separation of right from wrong).
 */
function chooseDecision(valKnown, valUnknown) {
  const valRecs = valKnown.map((x) => x.record);
  const cands = [
    { rule: 'softmax', primary: 'msp', secondary: 'overmap', a: 0, b: 1 },
    { rule: 'softmax', primary: 'margin', secondary: 'overmap', a: 0, b: 1 },
  ];
  for (const primary of ['msp', 'margin']) {
    for (const secondary of DECISION_SECONDARIES) {
      for (const k of K_GRID)
        for (const c of C_GRID)
          cands.push({ rule: 'sirc', primary, secondary, ...sircParams(valRecs, secondary, k, c), k, c });
    }
  }
  const rows = cands.map((d) => ({ d, ...decisionMetrics(d, valKnown, valUnknown) }));
  const mspRow = rows[0];
  const allowed = rows.filter((r) => r.augrcId <= mspRow.augrcId * 1.02);
  allowed.sort((a, b) => a.augrcMixed - b.augrcMixed);
  return { rows, best: allowed[0], msp: mspRow };
}

const decisionName = (d) =>
  d.rule === 'softmax'
    ? `${d.primary} alone`
    : d.rule === 'overmap'
      ? 'overmap'
      : `SIRC ${d.primary} ⊕ ${d.secondary} (a = ${d.a}, b = ${d.b})`;
const stripDecision = ({ rule, primary, secondary, a, b }) => ({ rule, primary, secondary, a, b });
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
