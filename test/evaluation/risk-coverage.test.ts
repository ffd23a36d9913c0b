import {
  type ImageRecord,
  augrc,
  aurc,
  aurocOfErrorDetection,
  eAurc,
  keepMostConfident,
  macroAccuracy,
  optimalAurc,
  quantiles,
  riskCoverageTable,
} from '@overmap/shared';
import {
  errorPool,
  failureTypeReport,
  fprAtTpr,
  outOfDistributionReport,
  scorable,
  separationRow,
  unknownPool,
} from '@overmap/evaluation';

const item = (confidence: number, correct: boolean, label?: number) => ({
  confidence,
  correct,
  label,
  correctTop3: correct,
});

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
  const rec = (
    overmap: number,
    msp: number,
    accepted: boolean,
    status: 'ok' | 'no_mask' | 'decode_error' = 'ok',
  ): ImageRecord => ({
    key: `k${overmap}-${msp}`,
    label: null,
    status,
    error: null,
    accepted: status === 'decode_error' ? null : accepted,
    prediction:
      status === 'decode_error'
        ? null
        : {
            class: 'a',
            index: 0,
            top: [
              { class: 'a', p: msp },
              { class: 'b', p: 0 },
              { class: 'c', p: 0 },
            ],
          },
    scores: {
      confidence: overmap,
      overmap,
      gradcam_seg: overmap,
      attention_seg: overmap,
      gradcam_attention: overmap,
      msp,
      entropy: 1 - msp,
      margin: msp,
      mc_dropout: null,
    },
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

describe('AUGRC (Traub et al. 2024)', () => {
  /** Brute force from the definition: for every threshold τ (each distinct confidence, and +∞), accept
   *  {confidence ≥ τ}; coverage = accepted / N, generalized risk = accepted failures / N; trapezoids. */
  function bruteAugrc(items: { confidence: number; correct: boolean }[]): number {
    const n = items.length;
    const taus = [Infinity, ...[...new Set(items.map((x) => x.confidence))].sort((a, b) => b - a)];
    const pts = taus.map((t) => {
      const acc = items.filter((x) => x.confidence >= t);
      return { cov: acc.length / n, risk: acc.filter((x) => !x.correct).length / n };
    });
    let area = 0;
    for (let i = 1; i < pts.length; i++)
      area += ((pts[i]!.cov - pts[i - 1]!.cov) * (pts[i]!.risk + pts[i - 1]!.risk)) / 2;
    return area;
  }
  let seed = 11;
  const rnd = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };

  it('by hand: a perfect ranking gives ½(1 − acc)², the inverted one acc(1 − acc) + ½(1 − acc)²', () => {
    const good = [item(0.9, true), item(0.8, true), item(0.2, false), item(0.1, false)];
    expect(augrc(good)).toBeCloseTo(0.5 * 0.5 ** 2, 12);
    const bad = good.map((x) => ({ ...x, confidence: 1 - x.confidence }));
    expect(augrc(bad)).toBeCloseTo(0.5 * 0.5 + 0.5 * 0.5 ** 2, 12);
    // all tied: the curve is the straight line to (1, 1 − acc): ½(1 − acc)
    expect(augrc(good.map((x) => ({ ...x, confidence: 0.5 })))).toBeCloseTo(0.25, 12);
  });

  it('equals the brute-force curve and the identity (1 − AUROC)·acc·(1 − acc) + ½(1 − acc)², ties included', () => {
    for (let trial = 0; trial < 30; trial++) {
      const n = 5 + Math.floor(rnd() * 60);
      const xs = Array.from({ length: n }, () => item(Math.round(rnd() * 8) / 8, rnd() < 0.6));
      if (xs.every((x) => x.correct) || xs.every((x) => !x.correct)) continue;
      const acc = xs.filter((x) => x.correct).length / n;
      expect(augrc(xs)).toBeCloseTo(bruteAugrc(xs), 12);
      expect(augrc(xs)).toBeCloseTo((1 - aurocOfErrorDetection(xs)) * acc * (1 - acc) + 0.5 * (1 - acc) ** 2, 12);
    }
  });
});

describe('evaluation by failure type', () => {
  const rec = (key: string, msp: number, overmap: number, cls: string, label: string | null): ImageRecord => ({
    key,
    label,
    status: 'ok',
    error: null,
    accepted: true,
    prediction: {
      class: cls,
      index: cls === 'a' ? 0 : 1,
      top: [
        { class: cls, p: msp },
        { class: cls === 'a' ? 'b' : 'a', p: 1 - msp },
        { class: 'c', p: 0 },
      ],
    },
    scores: {
      confidence: overmap,
      overmap,
      gradcam_seg: overmap,
      attention_seg: overmap,
      gradcam_attention: overmap,
      msp,
      entropy: 1 - msp,
      margin: msp,
    },
  });
  const known = [
    rec('k1', 0.9, 0.9, 'a', 'a'),
    rec('k2', 0.8, 0.2, 'b', 'b'),
    rec('k3', 0.7, 0.8, 'a', 'b'),
    rec('k4', 0.6, 0.7, 'b', 'b'),
  ];
  const unknown = [rec('u1', 0.95, 0.1, 'a', null), rec('u2', 0.5, 0.05, 'b', null)];

  it('in-distribution errors: failure = a wrong prediction; gains only where classes are known', () => {
    const r = failureTypeReport('id', 'test', errorPool(scorable(known, ['a', 'b'])), { names: ['msp', 'overmap'] });
    expect([r.n, r.failures]).toEqual([4, 1]);
    const msp = r.rows.find((x) => x.name === 'msp')!;
    // msp ranks the one error (0.7) above one correct (0.6): AUROC 2/3
    expect(msp.auroc).toBeCloseTo(2 / 3, 12);
    expect(msp.augrc).toBeCloseTo((1 - 2 / 3) * 0.75 * 0.25 + 0.5 * 0.25 ** 2, 12);
    expect(msp.gainTop1Macro).toBeDefined();
  });

  it('unknown objects join the pool as failures; FPR@95TPR is the share of failures kept with 95% of the rest', () => {
    const r = failureTypeReport('unknown', 'digits', unknownPool(scorable(known, ['a', 'b']), unknown), {
      names: ['msp', 'overmap'],
    });
    expect([r.n, r.failures]).toEqual([6, 3]);
    const om = r.rows.find((x) => x.name === 'overmap')!;
    // non-failures 0.9, 0.2, 0.7 vs failures 0.8, 0.1, 0.05: pairs won 3 + 2 + 2 of 9
    expect(om.auroc).toBeCloseTo(7 / 9, 12);
    // keeping all 3 non-failures needs τ = 0.2: the failure at 0.8 stays -> 1/3
    expect(om.fprAt95Tpr).toBeCloseTo(1 / 3, 12);
    expect(om.gainTop1Macro).toBeUndefined();
  });
});
