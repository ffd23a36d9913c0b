/**
 * Map-versus-mask measures that need no binarisation threshold (the localisation metrics of
 * the attribution literature, as Quantus documents them, `quantus/metrics/localisation/`).
 * One image at a time on plain arrays: a map P ≥ 0 (Grad-CAM or attention, any scale) and a
 * binary mask M of the same length.
 *
 *   rank        relevance rank accuracy (Arras et al. 2022): k = |M|; the share of the k
 *               highest-valued pixels of P that lie in M. Ties at the k-th value are shared
 *               in proportion (the expected value under a random tie break), so the result
 *               is deterministic. Chance level = |M| / N.
 *   auc         the pixel AUROC of P as a classifier of M: P(P(in) > P(out)), ties half.
 *               Chance level 0.5; ranks only, so the map's scale does not matter.
 *   pointing    the pointing game (Zhang et al. 2018): 1 if a pixel at P's maximum lies in
 *               M, else 0; a map with no positive value points nowhere (0).
 *   localisation  size-weighted attribution localisation (Kohlbrenner et al. 2020):
 *               μ_w = (Σ P·M / Σ P) · (N / |M|): the mass inside the mask over the mask's
 *               share of the image; 1 = chance, 1/(|M|/N) = all mass inside. Unbounded
 *               above (it rewards small masks); the mass measure is μ itself.
 *
 * Degenerate inputs give 0 (no evidence): an all-zero map, an empty mask; a mask that covers
 * every pixel gives 0 for auc (no outside class) and chance for the others.
 */
import quickselect from 'quickselect';

export const LOCALISATION_MEASURES = ['rank', 'auc', 'pointing', 'localisation'] as const;
export type LocalisationMeasure = (typeof LOCALISATION_MEASURES)[number];

export interface LocalisationScores {
  rank: number;
  auc: number;
  pointing: number;
  localisation: number;
}

/**
 * One scratch buffer per process, grown to the largest map seen: the measures run per image
 * on thousands of images a batch, and fresh arrays for each made the garbage collector's
 * threads a visible share of the scorer's CPU time. Callers use the views before the next call.
 */
let scratch = new Float64Array(0);
function scratchOf(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

/**
 * Splits the map's values into those inside and outside the mask, each sorted ascending (views of
 * the scratch buffer).
 */
function splitSorted(map: ArrayLike<number>, mask: ArrayLike<number>): { inside: Float64Array; outside: Float64Array } {
  let nIn = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]! > 0.5) nIn++;
  const buf = scratchOf(mask.length);
  const inside = buf.subarray(0, nIn),
    outside = buf.subarray(nIn, mask.length);
  let a = 0,
    b = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = map[i]!;
    if (mask[i]! > 0.5) inside[a++] = v;
    else outside[b++] = v;
  }
  inside.sort();
  outside.sort();
  return { inside, outside };
}

/** P(x > y) + ½ P(x = y), x drawn from `inside`, y from `outside` (both sorted ascending): two pointers. */
function aucOfSorted(inside: Float64Array, outside: Float64Array): number {
  if (inside.length === 0 || outside.length === 0) return 0;
  let j = 0,
    k = 0,
    sum = 0;
  for (let i = 0; i < inside.length; i++) {
    const v = inside[i]!;
    if (i > 0 && v === inside[i - 1]) {
      sum += j + (k - j) / 2;
      continue;
    } // same tie group as before
    while (j < outside.length && outside[j]! < v) j++; // outside[0..j) < v
    k = j;
    while (k < outside.length && outside[k]! === v) k++; // outside[j..k) == v
    sum += j + (k - j) / 2;
  }
  return sum / (inside.length * outside.length);
}

/** Count of values in an ascending array that are > t, and that are == t. */
function countAbove(sorted: Float64Array, t: number): { above: number; equal: number } {
  let lo = 0,
    hi = sorted.length; // first index with value >= t
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (sorted[m]! < t) lo = m + 1;
    else hi = m;
  }
  let e = lo;
  while (e < sorted.length && sorted[e]! === t) e++;
  return { above: sorted.length - e, equal: e - lo };
}

/** Every threshold-free measure of one map against one mask (one sort of the map's values). */
export function localisationScores(map: ArrayLike<number>, mask: ArrayLike<number>): LocalisationScores {
  const n = map.length;
  if (mask.length !== n) throw new Error(`map (${n}) and mask (${mask.length}) differ in size`);
  const { inside, outside } = splitSorted(map, mask);
  const k = inside.length;
  const maxIn = k ? inside[k - 1]! : -Infinity,
    maxOut = outside.length ? outside[outside.length - 1]! : -Infinity;
  const max = Math.max(maxIn, maxOut);
  if (k === 0 || !(max > 0)) return { rank: 0, auc: 0, pointing: 0, localisation: 0 };

  // rank: the k-th largest value t over all pixels (a merge walk down both sorted arrays, no third
  // sort); hits = inside above t + the inside share of the tie slots.
  let t = 0;
  for (let c = 0, i = k - 1, j = outside.length - 1; c < k; c++) {
    if (j < 0 || (i >= 0 && inside[i]! >= outside[j]!)) t = inside[i--]!;
    else t = outside[j--]!;
  }
  const a = countAbove(inside, t),
    b = countAbove(outside, t);
  const slots = k - (a.above + b.above);
  const rank = (a.above + (slots * a.equal) / (a.equal + b.equal)) / k;

  let massIn = 0;
  for (let i = 0; i < k; i++) massIn += Math.max(0, inside[i]!);
  let mass = massIn;
  for (let i = 0; i < outside.length; i++) mass += Math.max(0, outside[i]!);

  return {
    rank,
    auc: aucOfSorted(inside, outside),
    pointing: maxIn >= max ? 1 : 0,
    localisation: mass > 0 ? (massIn / mass) * (n / k) : 0,
  };
}

/**
 * Relevance rank accuracy alone, in linear time: the k-th largest value by selection
 * (quickselect) instead of two sorts, then one counting pass. The same number as
 * localisationScores(...).rank, ties shared the same way.
 */
export function rankAccuracy(map: ArrayLike<number>, mask: ArrayLike<number>): number {
  const n = map.length;
  if (mask.length !== n) throw new Error(`map (${n}) and mask (${mask.length}) differ in size`);
  let k = 0,
    max = -Infinity;
  for (let i = 0; i < n; i++) {
    if (mask[i]! > 0.5) k++;
    if (map[i]! > max) max = map[i]!;
  }
  if (k === 0 || !(max > 0)) return 0;
  const values = scratchOf(n).subarray(0, n);
  for (let i = 0; i < n; i++) values[i] = map[i]!;
  quickselect(values, n - k, 0, n - 1, (x: number, y: number) => x - y);
  const t = values[n - k]!;
  let aboveIn = 0,
    equalIn = 0,
    above = 0,
    equal = 0;
  for (let i = 0; i < n; i++) {
    const v = map[i]!,
      inside = mask[i]! > 0.5;
    if (v > t) {
      above++;
      if (inside) aboveIn++;
    } else if (v === t) {
      equal++;
      if (inside) equalIn++;
    }
  }
  return (aboveIn + ((k - above) * equalIn) / equal) / k;
}

/** One measure, by name (rank without sorting; the others from localisationScores). */
export function localisation(map: ArrayLike<number>, mask: ArrayLike<number>, measure: LocalisationMeasure): number {
  if (measure === 'rank') return rankAccuracy(map, mask);
  return localisationScores(map, mask)[measure];
}
