import { DEFAULT_DECISION, decisionScore, localisation, localisationScores, sirc } from '@overmap/engine/testing';
import { ModelSpecSchema } from '@overmap/engine';

// 4x4 images, flattened row by row. Mask = left half (8 pixels).
const mask = [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0];

/** Brute force: pixel AUROC over every (inside, outside) pair, ties half. */
function bruteAuc(map: number[], m: number[]): number {
  let s = 0,
    n = 0;
  for (let i = 0; i < map.length; i++) {
    if (!m[i]) continue;
    for (let j = 0; j < map.length; j++) {
      if (m[j]) continue;
      s += map[i]! > map[j]! ? 1 : map[i] === map[j] ? 0.5 : 0;
      n++;
    }
  }
  return s / n;
}

describe('threshold-free localisation measures (hand-computable values)', () => {
  it('a map that is the mask itself: perfect on every measure; localisation = N/|M| = 2', () => {
    const r = localisationScores(mask, mask);
    expect(r.rank).toBe(1);
    expect(r.auc).toBe(1);
    expect(r.pointing).toBe(1);
    expect(r.localisation).toBeCloseTo(2, 12);
  });
  it('a map on the complement: zero rank, AUROC 0, misses the point, no mass inside', () => {
    const inv = mask.map((v) => 1 - v);
    expect(localisationScores(inv, mask)).toEqual({ rank: 0, auc: 0, pointing: 0, localisation: 0 });
  });
  it('a flat map is chance: rank = |M|/N by the shared tie rule, AUROC 0.5, localisation 1', () => {
    const flat = new Array(16).fill(0.3);
    const r = localisationScores(flat, mask);
    expect(r.rank).toBeCloseTo(0.5, 12);
    expect(r.auc).toBeCloseTo(0.5, 12);
    expect(r.localisation).toBeCloseTo(1, 12);
    expect(r.pointing).toBe(1); // some maximum pixel lies on the mask
  });
  it('rank accuracy counts the top-|M| pixels, sharing ties at the cut in proportion', () => {
    // 4 pixels at 1 inside, 2 at 1 outside, the rest 0.5 inside / 0 outside. |M| = 8.
    const map = [1, 1, 1, 0, 1, 1, 1, 0, 0.5, 0.5, 0, 0, 0.5, 0.5, 0, 0];
    // top 8: the six 1s (4 inside) and two of the four 0.5s (all inside) -> 6/8
    expect(localisation(map, mask, 'rank')).toBeCloseTo(6 / 8, 12);
    // ties at the cut: seven sure pixels at 1 (5 in, 2 out), then 1 slot among four 0.2s (3 in, 1 out): 5 + 3/4
    const tie = [1, 1, 1, 0, 1, 1, 1, 0, 1, 0.2, 0, 0, 0.2, 0.2, 0.2, 0];
    expect(localisation(tie, mask, 'rank')).toBeCloseTo(5.75 / 8, 12);
  });
  it('pixel AUROC equals the brute-force pairwise count, with ties', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let trial = 0; trial < 20; trial++) {
      const m = Array.from({ length: 64 }, () => (rnd() < 0.3 ? 1 : 0));
      m[0] = 1;
      m[1] = 0;
      const map = Array.from({ length: 64 }, () => Math.round(rnd() * 4) / 4); // many ties
      expect(localisation(map, m, 'auc')).toBeCloseTo(bruteAuc(map, m), 12);
    }
  });
  it('pointing game: the maximum on or off the mask', () => {
    const on = new Array(16).fill(0.1);
    on[4] = 0.9;
    const off = new Array(16).fill(0.1);
    off[6] = 0.9;
    expect(localisation(on, mask, 'pointing')).toBe(1);
    expect(localisation(off, mask, 'pointing')).toBe(0);
  });
  it('rank by selection (linear time) equals rank from the sorted split, ties included, on 200 random map/mask pairs', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let trial = 0; trial < 200; trial++) {
      const n = 16 + Math.floor(rnd() * 400);
      // few distinct levels: ties at the cut are the rule, not the exception
      const levels = 1 + Math.floor(rnd() * 6);
      const map = Float32Array.from({ length: n }, () => Math.floor(rnd() * levels) / levels);
      const mask = Float32Array.from({ length: n }, () => (rnd() < 0.3 ? 1 : 0));
      expect(localisation(map, mask, 'rank')).toBeCloseTo(localisationScores(map, mask).rank, 12);
    }
  });
  it('size-weighted localisation = (mass inside / mass) × N / |M|', () => {
    const map = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]; // mass 4, 1 inside
    expect(localisation(map, mask, 'localisation')).toBeCloseTo((1 / 4) * (16 / 8), 12);
  });
  it('degenerate inputs give 0: an all-zero map, an empty mask', () => {
    expect(localisationScores(new Array(16).fill(0), mask)).toEqual({ rank: 0, auc: 0, pointing: 0, localisation: 0 });
    expect(localisationScores(mask, new Array(16).fill(0))).toEqual({ rank: 0, auc: 0, pointing: 0, localisation: 0 });
  });
});

describe('the decision score (SIRC)', () => {
  const scores = { overmap: 0.4, msp: 0.81, margin: 0.5, gradcam_seg: 0.2 };
  it("the default keeps today's behaviour: confidence = overmap; a spec without `decision` parses to it", () => {
    expect(decisionScore(scores, DEFAULT_DECISION)).toBe(0.4);
    const spec = ModelSpecSchema.parse({
      classes: ['a', 'b'],
      classifier: { model: 'm.json', inputSize: [8, 8] },
      gradcamLayer: 'c',
      segmenter: { type: 'saliency' },
    });
    expect(spec.decision).toEqual(DEFAULT_DECISION);
  });
  it('softmax: the primary alone', () => {
    expect(decisionScore(scores, { ...DEFAULT_DECISION, rule: 'softmax' })).toBe(0.81);
    expect(decisionScore(scores, { ...DEFAULT_DECISION, rule: 'softmax', primary: 'margin' })).toBe(0.5);
  });
  it('sirc: p^(1 + exp(−b(s − a))), by hand', () => {
    // s = a: exponent 2 -> 0.81^2
    expect(sirc(0.81, 0.3, 0.3, 5)).toBeCloseTo(0.6561, 12);
    const d = { rule: 'sirc' as const, primary: 'msp' as const, secondary: 'gradcam_seg' as const, a: 0.2, b: 10 };
    expect(decisionScore(scores, d)).toBeCloseTo(0.81 ** 2, 12);
    // secondary far above a: the exponent tends to 1, confidence to msp
    expect(sirc(0.81, 5, 0.2, 10)).toBeCloseTo(0.81, 10);
    // secondary far below a: confidence tends to 0; p = 1 stays 1
    expect(sirc(0.81, -5, 0.2, 10)).toBe(0);
    expect(sirc(1, -5, 0.2, 10)).toBe(1);
  });
  it('sirc keeps the softmax order among images with the same secondary, and lowers a low secondary', () => {
    const d = { rule: 'sirc' as const, primary: 'msp' as const, secondary: 'gradcam_seg' as const, a: 0.3, b: 8 };
    const c = (msp: number, g: number) => decisionScore({ msp, gradcam_seg: g }, d)!;
    expect(c(0.9, 0.5)).toBeGreaterThan(c(0.8, 0.5));
    expect(c(0.9, 0.0)).toBeLessThan(c(0.9, 0.5));
    // a confident prediction with its evidence off the object falls below
    expect(c(0.9, 0.0)).toBeLessThan(c(0.8, 0.6));
  });
  it('a missing secondary leaves the primary; a missing primary gives null', () => {
    const d = { rule: 'sirc' as const, primary: 'msp' as const, secondary: 'gradcam_contrast' as const, a: 0, b: 1 };
    expect(decisionScore({ msp: 0.7 }, d)).toBe(0.7);
    expect(decisionScore({ msp: null }, d)).toBeNull();
  });
});
