import { type ImageRecord, aurc, aurocOfErrorDetection, eAurc, keepMostConfident, macroAccuracy, optimalAurc, quantiles, riskCoverageTable } from '@overmap/shared';
import { fprAtTpr, outOfDistributionReport, separationRow } from '@overmap/evaluation';

const item = (confidence: number, correct: boolean, label?: number) => ({ confidence, correct, label, correctTop3: correct });

describe('risk-coverage metrics', () => {
  it('AURC by hand: errors ranked last vs first', () => {
    // ranking ✓ ✓ ✗ ✗: risks 0, 0, 1/3, 2/4 -> mean 5/24
    const good = [item(0.9, true), item(0.8, true), item(0.2, false), item(0.1, false)];
    expect(aurc(good)).toBeCloseTo(5 / 24, 12);
    expect(optimalAurc(good)).toBeCloseTo(5 / 24, 12);
    expect(eAurc(good)).toBeCloseTo(0, 12);
    // ranking ✗ ✗ ✓ ✓: risks 1, 1, 2/3, 2/4
    const bad = good.map((x) => ({ ...x, confidence: 1 - x.confidence }));
    expect(aurc(bad)).toBeCloseTo((1 + 1 + 2 / 3 + 1 / 2) / 4, 12);
  });
  it('AUROC: 1 when separable, 0 when inverted, 0.5 for ties', () => {
    expect(aurocOfErrorDetection([item(0.9, true), item(0.1, false)])).toBe(1);
    expect(aurocOfErrorDetection([item(0.1, true), item(0.9, false)])).toBe(0);
    expect(aurocOfErrorDetection([item(0.5, true), item(0.5, false)])).toBe(0.5);
  });
  it('rejection keeps the most confident and macro accuracy averages classes', () => {
    const xs = [item(0.9, true, 0), item(0.8, false, 0), item(0.7, true, 1), item(0.1, false, 1)];
    expect(keepMostConfident(xs, 0.25).map((x) => x.confidence)).toEqual([0.9, 0.8, 0.7]);
    expect(macroAccuracy(xs)).toBeCloseTo(0.5, 12);
    const t = riskCoverageTable(xs, [0, 0.25, 0.5]);
    expect(t.map((r) => r.accuracy)).toEqual([0.5, 2 / 3, 0.5]);
  });
  it('quantiles interpolate', () => {
    expect(quantiles([0, 10], [0, 0.5, 1])).toEqual({ p0: 0, p50: 5, p100: 10 });
  });
});

describe('out-of-distribution separation', () => {
  const rec = (overmap: number, msp: number, accepted: boolean, status: 'ok' | 'no_mask' | 'decode_error' = 'ok'): ImageRecord => ({
    key: `k${overmap}-${msp}`, label: null, status, error: null, accepted: status === 'decode_error' ? null : accepted,
    prediction: status === 'decode_error' ? null : { class: 'a', index: 0, top: [{ class: 'a', p: msp }, { class: 'b', p: 0 }, { class: 'c', p: 0 }] },
    scores: { confidence: overmap, overmap, gradcam_seg: overmap, attention_seg: overmap, gradcam_attention: overmap, msp, entropy: 1 - msp, margin: msp, mc_dropout: null },
  });

  it('AUROC and FPR at 95% TPR by hand', () => {
    // known 0.9, 0.8, 0.7 vs unknown 0.75, 0.1: pairs won 2 + 2 + 1 of 6
    const r = separationRow('x', [0.9, 0.8, 0.7], [0.75, 0.1]);
    expect(r.auroc).toBeCloseTo(5 / 6, 12);
    // keeping 95% of 3 known images keeps all 3: threshold 0.7 keeps 0.75 of the unknown
    expect(r.fprAt95Tpr).toBe(0.5);
    expect(fprAtTpr([1, 2, 3, 4], [0, 0, 5, 2.5], 0.5)).toBe(0.25);
  });

  it('counts every record with a prediction, skips unrun confidences, and reads accepted', () => {
    const inside = [rec(0.9, 0.2, true), rec(0.6, 0.9, true), rec(0, 0.1, false, 'decode_error')];
    const outside = [rec(0.1, 0.95, false), rec(0, 0.5, false, 'no_mask')];
    const rep = outOfDistributionReport(inside, outside, { fusionWeight: 0.5 });
    expect([rep.nIn, rep.nOut]).toEqual([2, 2]);
    const by = new Map(rep.rows.map((r) => [r.name, r]));
    expect(by.get('overmap')!.auroc).toBe(1);
    expect(by.get('msp')!.auroc).toBe(0.25); // known 0.2, 0.9 vs unknown 0.95, 0.5: only 0.9 > 0.5 of 4 pairs
    expect(by.has('mc_dropout')).toBe(false);
    expect(rep.accepted).toEqual({ in: 1, out: 0 });
    // ranks over the union (of 4): overmap known 4, 3 / unknown 2, 1; msp known 1, 3 / unknown 4, 2
    // fused halves: known 2.5, 3 / unknown 3, 1.5 -> wins 0 + 1 + 0.5 (tie) + 1 of 4
    expect(rep.rows.at(-1)!.auroc).toBeCloseTo(2.5 / 4, 12);
  });
});
