/**
 * The audit's statistics: the binomial tail against a direct sum, the risk-control threshold's
 * guarantee on synthetic scores whose error rate is known (the certified threshold's true error
 * among accepted exceeds α in at most δ of 200 resampled calibration sets), and the bootstrap
 * interval's determinism.
 */
import seedrandom from 'seedrandom';
import { binomialCdf, bootstrapInterval, controlSelectiveRisk, lgamma } from '@overmap/evaluation';

const choose = (n: number, k: number) => {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
};

describe('binomial tail', () => {
  it('equals the direct sum, and lgamma the factorials', () => {
    expect(lgamma(1)).toBeCloseTo(0, 12);
    expect(lgamma(11)).toBeCloseTo(Math.log(3628800), 10);
    for (const [k, n, p] of [
      [0, 10, 0.1],
      [3, 20, 0.25],
      [7, 30, 0.5],
      [30, 30, 0.2],
    ] as const) {
      let direct = 0;
      for (let i = 0; i <= k; i++) direct += choose(n, i) * p ** i * (1 - p) ** (n - i);
      expect(binomialCdf(k, n, p)).toBeCloseTo(Math.min(1, direct), 10);
    }
  });
});

/**
 * Scores s ~ U(0, 1), error with probability (1 − s)·0.6: the true error among those with s ≥ t
 * is the mean of (1 − s)·0.6 over [t, 1] = 0.3·(1 − t).
 */
const trueRisk = (t: number) => 0.3 * (1 - t);
function calibration(n: number, rng: () => number) {
  return Array.from({ length: n }, () => {
    const s = rng();
    return { confidence: s, error: rng() < (1 - s) * 0.6 };
  });
}

describe('selective risk control (Learn then Test, fixed sequence)', () => {
  it('keeps the true error among accepted at most α in at least 1 − δ of 200 calibration sets', () => {
    const alpha = 0.1,
      delta = 0.1;
    const rng = seedrandom('risk-control');
    let violations = 0,
      certified = 0;
    for (let r = 0; r < 200; r++) {
      const res = controlSelectiveRisk(calibration(500, rng), alpha, delta);
      if (res.threshold === null) continue;
      certified++;
      if (trueRisk(res.threshold) > alpha) violations++;
      expect(res.errors / res.accepted).toBeLessThanOrEqual(alpha);
    }
    // α = 0.1 is reachable (t > 2/3 has true risk < 0.1), but on 500 images one error among the 22
    // most confident stops the sequence at once: about a quarter of the samples certify nothing
    expect(certified).toBeGreaterThan(120);
    expect(violations / 200).toBeLessThanOrEqual(delta);
  });

  it('is not vacuous: the threshold accepts most of what α allows (the oracle threshold is 2/3)', () => {
    const res = controlSelectiveRisk(calibration(5000, seedrandom('big')), 0.1, 0.1);
    expect(res.threshold).not.toBeNull();
    expect(res.threshold!).toBeGreaterThan(2 / 3);
    expect(res.threshold!).toBeLessThan(0.75);
  });

  it('certifies nothing on too small a sample, or where even the most confident err too often', () => {
    const few = controlSelectiveRisk(
      Array.from({ length: 10 }, (_, i) => ({ confidence: i, error: false })),
      0.1,
      0.1,
    );
    expect([few.threshold, few.reason]).toEqual([null, expect.stringContaining('at least 22 are needed')]);
    const bad = controlSelectiveRisk(
      Array.from({ length: 100 }, (_, i) => ({ confidence: i, error: i % 2 === 0 })),
      0.1,
      0.1,
    );
    expect(bad.threshold).toBeNull();
  });

  it('accepts tied confidences together', () => {
    const items = [
      ...Array.from({ length: 60 }, () => ({ confidence: 0.9, error: false })),
      ...Array.from({ length: 40 }, (_, i) => ({ confidence: 0.5, error: i < 30 })),
    ];
    const res = controlSelectiveRisk(items, 0.1, 0.1);
    expect([res.threshold, res.accepted, res.errors]).toEqual([0.9, 60, 0]);
  });
});

describe('bootstrap interval', () => {
  it('brackets the value, and the same seed gives the same interval', () => {
    const xs = Array.from({ length: 200 }, (_, i) => Math.sin(i));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const a = bootstrapInterval(xs, mean, { seed: 's' });
    expect(a.lo).toBeLessThanOrEqual(a.value);
    expect(a.hi).toBeGreaterThanOrEqual(a.value);
    expect(a.hi - a.lo).toBeGreaterThan(0);
    expect(bootstrapInterval(xs, mean, { seed: 's' })).toEqual(a);
  });
});
