/**
 * MaxLogit-pNorm from the probabilities: equal to the formula on the logits themselves (the
 * centring removes softmax's normaliser), in [0, 1], 0 for a uniform prediction, and for p = 2 a
 * closed form on two classes.
 */
import { baselinesOf, maxLogitPNormOf } from '@overmap/engine';

const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
/** The definition on the logits (Cattelan & Silva 2024): centre, max over the p-norm. */
const onLogits = (z: number[], p: number) => {
  const mean = z.reduce((a, b) => a + b, 0) / z.length;
  const c = z.map((v) => v - mean);
  return (
    Math.max(...c) /
    Math.pow(
      c.reduce((a, v) => a + Math.pow(Math.abs(v), p), 0),
      1 / p,
    )
  );
};

describe('MaxLogit-pNorm', () => {
  const rows = [
    [2.5, -1, 0.3, 4, -3],
    [0.1, 0.2, 0.3, 0.4, 0.5],
    [10, -10, 0, 0, 5],
  ];
  it.each([1, 2, 3, 6])('equals the formula on the logits, from the softmax probabilities (p = %d)', (p) => {
    for (const z of rows) {
      const probs = softmax(z);
      expect(maxLogitPNormOf(probs, 0, z.length, p)).toBeCloseTo(onLogits(z, p), 9);
    }
  });

  it('is 0 for a uniform prediction and within [0, 1] for any', () => {
    expect(maxLogitPNormOf([0.25, 0.25, 0.25, 0.25], 0, 4, 2)).toBe(0);
    for (let i = 0; i < 50; i++) {
      const z = Array.from({ length: 7 }, (_, j) => Math.sin(i * 7 + j) * 8);
      const v = maxLogitPNormOf(softmax(z), 0, 7, 1 + (i % 5));
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  });

  it('on two classes with p = 2 is 1/√2 whatever the logits (the centred logits are ±d/2)', () => {
    expect(maxLogitPNormOf(softmax([3, -1]), 0, 2, 2)).toBeCloseTo(Math.SQRT1_2, 9);
  });

  it('is the baselines row by row, with the spec p', () => {
    const probs = rows.flatMap((z) => softmax(z));
    const b = baselinesOf(probs, 3, 5, 3);
    rows.forEach((z, i) => expect(b.maxLogitPNorm[i]).toBeCloseTo(onLogits(z, 3), 9));
  });
});
