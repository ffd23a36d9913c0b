/**
 * Percentile bootstrap intervals (Efron & Tibshirani 1993): resample the items with replacement
 * B times, compute the metric on each resample, take the α/2 and 1 − α/2 quantiles. Seeded, so an
 * audit gives the same intervals when rerun.
 */
import seedrandom from 'seedrandom';

export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

export function bootstrapInterval<T>(
  items: readonly T[],
  metric: (xs: T[]) => number,
  options: { resamples?: number; level?: number; seed?: string } = {},
): Interval {
  const { resamples = 1000, level = 0.95, seed = 'overmap-audit' } = options;
  const value = metric([...items]);
  const rng = seedrandom(seed);
  const stats: number[] = [];
  const n = items.length;
  for (let b = 0; b < resamples && n > 0; b++) {
    const xs = new Array<T>(n);
    for (let i = 0; i < n; i++) xs[i] = items[Math.floor(rng() * n)]!;
    const v = metric(xs);
    if (Number.isFinite(v)) stats.push(v);
  }
  stats.sort((a, b) => a - b);
  const q = (p: number) => (stats.length ? stats[Math.min(stats.length - 1, Math.floor(p * stats.length))]! : NaN);
  return { value, lo: q((1 - level) / 2), hi: q(1 - (1 - level) / 2) };
}
