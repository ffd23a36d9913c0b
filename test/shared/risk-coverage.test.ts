import { aurc, aurocOfErrorDetection, eAurc, keepMostConfident, macroAccuracy, optimalAurc, quantiles, riskCoverageTable } from '@overmap/shared';

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
