/**
 * Overlap of a map with a binary mask, one image at a time on plain arrays (the scorer's maps,
 * read back or computed in JS, maps.ts):
 *   mass(P, M) = Σ P·M / Σ P        share of the map's mass on the object
 *   iou(P, M)  = |P≥t ∩ M| / |P≥t ∪ M|
 *   dice(P, M) = 2|P≥t ∩ M| / (|P≥t| + |M|)
 * with P normalised to max 1 and t the spec's binarisation level. An empty map or an
 * empty union gives 0.
 */
import * as tf from '../backend/tf';

/** 1 where the map reaches the threshold, else 0 (a tensor: the TF.js segmenters' masks). */
export function binarize(prob: tf.Tensor3D, threshold: number): tf.Tensor3D {
  return tf.tidy(() => tf.greaterEqual(prob, threshold).toFloat() as tf.Tensor3D);
}

export type OverlapMeasure = 'mass' | 'iou' | 'dice';

/** One map against one binary mask (same length): mass, IoU or Dice as above. */
export function overlap(map: ArrayLike<number>, mask: ArrayLike<number>, measure: OverlapMeasure, t: number): number {
  if (measure === 'mass') {
    let inside = 0,
      total = 0;
    for (let k = 0; k < map.length; k++) {
      inside += map[k]! * mask[k]!;
      total += map[k]!;
    }
    return total > 0 ? inside / total : 0;
  }
  let inter = 0,
    sizes = 0;
  for (let k = 0; k < map.length; k++) {
    const p = map[k]! >= t ? 1 : 0;
    inter += p * mask[k]!;
    sizes += p + mask[k]!;
  }
  if (measure === 'iou') return sizes - inter > 0 ? inter / (sizes - inter) : 0;
  return sizes > 0 ? (2 * inter) / sizes : 0;
}

export type CombineRule = 'mean' | 'weighted' | 'min' | 'product';
export interface Components {
  gradcam_seg: number;
  attention_seg: number;
  gradcam_attention: number;
}

/** Combines the three Over-MAP components into one confidence in [0, 1]. */
export function combine(c: Components, rule: CombineRule, weights: Components): number {
  const keys = ['gradcam_seg', 'attention_seg', 'gradcam_attention'] as const;
  switch (rule) {
    case 'min':
      return Math.min(...keys.map((k) => c[k]));
    case 'product':
      return keys.reduce((a, k) => a * c[k], 1);
    case 'weighted': {
      const wsum = keys.reduce((a, k) => a + weights[k], 0);
      return wsum > 0 ? keys.reduce((a, k) => a + weights[k] * c[k], 0) / wsum : 0;
    }
    default:
      return (c.gradcam_seg + c.attention_seg + c.gradcam_attention) / 3;
  }
}

/**
 * `scores.overmap` from the components: 0 when segmentation found no object ("estimation not
 * available"); without an attention module only Grad-CAM/mask exists and is the score; else the
 * spec's rule, clamped to [0, 1]. The pipeline and the experiment's choice of rule both use it.
 */
export function overmapScore(
  c: Components,
  o: { noMask: boolean; hasAttention: boolean; rule: CombineRule; weights: Components },
): number {
  if (o.noMask) return 0;
  return Math.min(1, Math.max(0, o.hasAttention ? combine(c, o.rule, o.weights) : c.gradcam_seg));
}
