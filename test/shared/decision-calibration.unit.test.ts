/** The decision's calibration on a run's pool: the schema's rule and the a, b it gives from the pool's moments. */
import { DecisionSchema, calibrateOnPool } from '@overmap/shared';

describe('a decision calibrated on the pool', () => {
  it('is refused without rule sirc, k and c, and takes a = mean - k*std, b = c/std from the moments', () => {
    expect(() => DecisionSchema.parse({ rule: 'sirc', calibrate: 'run' })).toThrow(/k and c/);
    expect(() => DecisionSchema.parse({ rule: 'softmax', calibrate: 'run', k: 1, c: 1 })).toThrow(/sirc/);
    const d = DecisionSchema.parse({ rule: 'sirc', secondary: 'attention_seg', calibrate: 'run', k: 2, c: 3 });
    // values 0.2, 0.4, 0.6: mean 0.4, std sqrt(0.08/3)
    const pool = { n: 3, sum: 1.2, sumSq: 0.04 + 0.16 + 0.36 };
    const std = Math.sqrt(0.08 / 3);
    expect(calibrateOnPool(d, pool)).toMatchObject({
      a: Math.round((0.4 - 2 * std) * 1e4) / 1e4,
      b: Math.round((3 / std) * 1e4) / 1e4,
    });
    expect(calibrateOnPool({ ...d, calibrate: 'fixed' }, pool)).toEqual({ ...d, calibrate: 'fixed' });
    expect(calibrateOnPool(d, { n: 0, sum: 0, sumSq: 0 })).toBe(d);
  });
});
