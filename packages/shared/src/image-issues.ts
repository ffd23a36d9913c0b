/**
 * The image checks' flags, decided against the run's own distribution (as CleanVision decides
 * against its dataset): each measure, mapped onto [0, 1], is summarised in a mergeable fixed-bin
 * histogram (shards add up); its median and quartiles give a robust spread
 * (σ ≈ IQR / 1.349), and an image is flagged where it lies more than `z` spreads beyond the median
 * on the bad side, and at least `minGap` away (so a very uniform set does not flag ordinary
 * images). Grayscale is absolute (no colour at all) and only in a set whose median image has colour.
 */
import { z } from 'zod';
import { BINS, RunSummary } from './results/run-summary';
import { IMAGE_ISSUES, type ImageIssue, type ImageMeasuresRecord } from './schemas';

/** A measure, mapped onto [0, 1] (null where the image does not have it), and what its tails mean. */
interface Check {
  of: (m: ImageMeasuresRecord) => number | null;
  low?: ImageIssue;
  high?: ImageIssue;
  /** the least distance from the median (in the mapped units) that can be flagged */
  minGap: number;
}

const clip = (v: number) => Math.min(1, Math.max(0, v));
const known = (m: ImageMeasuresRecord) => m.width !== null && m.height !== null && m.width > 0 && m.height > 0;

/** Each check: its measure's mapping and its flags (docs/contract.md states them). */
export const IMAGE_CHECKS = {
  /** the brightest pixels (99th percentile of luma): low in a dark image */
  bright_end: { of: (m) => clip(m.luma_p99), low: 'dark', minGap: 0.15 },
  /** the darkest pixels (5th percentile of luma): high in a washed-out, light image */
  dark_end: { of: (m) => clip(m.luma_p05), high: 'light', minGap: 0.15 },
  /** entropy in bits / 8 */
  entropy: { of: (m) => clip(m.entropy / 8), low: 'low_information', minGap: 0.15 },
  /** (log10(sharpness) + 3) / 4: sharpness 0.001 to 10 */
  sharpness: { of: (m) => clip((Math.log10(Math.max(m.sharpness, 1e-3)) + 3) / 4), low: 'blurry', minGap: 0.1 },
  /** log10(pixels) / 9 */
  size: {
    of: (m) => (known(m) ? clip(Math.log10(m.width! * m.height!) / 9) : null),
    low: 'odd_size',
    high: 'odd_size',
    minGap: 0.1,
  },
  /** (log2(width / height) + 4) / 8 */
  aspect: {
    of: (m) => (known(m) ? clip((Math.log2(m.width! / m.height!) + 4) / 8) : null),
    low: 'odd_aspect',
    high: 'odd_aspect',
    minGap: 0.1,
  },
  colorfulness: { of: (m) => clip(m.colorfulness), minGap: 0 },
} as const satisfies Record<string, Check>;
export type CheckName = keyof typeof IMAGE_CHECKS;
const CHECK_NAMES = Object.keys(IMAGE_CHECKS) as CheckName[];

/** Grayscale: mean channel spread under this, in a set whose median spread is at least GRAY_SET_MEDIAN. */
export const GRAY_SPREAD = 0.01;
export const GRAY_SET_MEDIAN = 0.05;

export const ImageCheckParamsSchema = z.object({
  /** robust z beyond which an image is flagged (default 3: chosen on the planted set, BENCHMARKS.md) */
  z: z.number().positive().default(3),
  /** checks switched off */
  off: z.array(z.enum(IMAGE_ISSUES)).default([]),
});
export type ImageCheckParams = z.infer<typeof ImageCheckParamsSchema>;

/** Per check: the fences (mapped units); a value below `low` or above `high` is flagged. */
export interface ImageFences {
  z: number;
  images: number;
  fences: Record<CheckName, { median: number | null; low: number | null; high: number | null }>;
  grayscale: boolean;
  off: ImageIssue[];
}

/** Mergeable histograms of the measures. */
export class ImageStats {
  readonly hist: Record<CheckName, number[]>;
  images = 0;

  constructor(state?: { hist: Record<CheckName, number[]>; images: number }) {
    this.hist =
      state?.hist ??
      (Object.fromEntries(CHECK_NAMES.map((k) => [k, new Array<number>(BINS).fill(0)])) as Record<CheckName, number[]>);
    this.images = state?.images ?? 0;
  }

  add(m: ImageMeasuresRecord): void {
    this.images++;
    for (const k of CHECK_NAMES) {
      const v = IMAGE_CHECKS[k].of(m);
      if (v !== null && Number.isFinite(v)) this.hist[k][Math.min(BINS - 1, Math.floor(v * BINS))]!++;
    }
  }

  merge(o: { hist: Record<CheckName, number[]>; images: number }): void {
    this.images += o.images;
    for (const k of CHECK_NAMES) o.hist[k].forEach((c, i) => (this.hist[k][i]! += c));
  }

  fences(p: ImageCheckParams): ImageFences {
    const fences = {} as ImageFences['fences'];
    for (const k of CHECK_NAMES) {
      // the run summary's histogram quantiles (same bins: within 1/BINS)
      const { p25: q1, p50: med, p75: q3 } = RunSummary.quantiles(this.hist[k], [0.25, 0.5, 0.75]);
      if (med == null || q1 == null || q3 == null) {
        fences[k] = { median: null, low: null, high: null };
        continue;
      }
      const gap = Math.max(IMAGE_CHECKS[k].minGap, (p.z * (q3 - q1)) / 1.349);
      fences[k] = { median: med, low: med - gap, high: med + gap };
    }
    const colour = fences.colorfulness.median;
    return { z: p.z, images: this.images, fences, grayscale: colour !== null && colour >= GRAY_SET_MEDIAN, off: p.off };
  }
}

/** An image's issues against the run's fences, in IMAGE_ISSUES order; [] without measures. */
export function imageIssues(m: ImageMeasuresRecord | null | undefined, f: ImageFences): ImageIssue[] {
  if (!m) return [];
  const out = new Set<ImageIssue>();
  for (const k of CHECK_NAMES) {
    const c: Check = IMAGE_CHECKS[k];
    const v = c.of(m);
    const { low, high } = f.fences[k];
    if (v === null || low === null || high === null) continue;
    if (c.low && v < low) out.add(c.low);
    if (c.high && v > high) out.add(c.high);
  }
  if (f.grayscale && m.colorfulness < GRAY_SPREAD) out.add('grayscale');
  return IMAGE_ISSUES.filter((i) => out.has(i) && !f.off.includes(i));
}
