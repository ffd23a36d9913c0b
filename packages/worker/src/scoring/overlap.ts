/**
 * Overlap of a map with a binary mask, batched over [B, H, W]:
 *   mass(P, M) = Σ P·M / Σ P        share of the map's mass on the object
 *   iou(P, M)  = |P≥t ∩ M| / |P≥t ∪ M|
 *   dice(P, M) = 2|P≥t ∩ M| / (|P≥t| + |M|)
 * with P normalised to max 1 and t the spec's binarisation level. An empty map or an
 * empty union gives 0.
 */
import * as tf from '../backend/tf';

/** 1 where the map reaches the threshold, else 0. */
export function binarize(prob: tf.Tensor3D, threshold: number): tf.Tensor3D {
  return tf.tidy(() => tf.greaterEqual(prob, threshold).toFloat() as tf.Tensor3D);
}

export type OverlapMeasure = 'mass' | 'iou' | 'dice';

export function overlap(map: tf.Tensor3D, mask: tf.Tensor3D, measure: OverlapMeasure, t: number): tf.Tensor1D {
  return tf.tidy(() => {
    if (measure === 'mass') return tf.divNoNan(tf.sum(tf.mul(map, mask), [1, 2]), tf.sum(map, [1, 2])) as tf.Tensor1D;
    const p = tf.greaterEqual(map, t).toFloat();
    const inter = tf.sum(tf.mul(p, mask), [1, 2]);
    const sizes = tf.add(tf.sum(p, [1, 2]), tf.sum(mask, [1, 2]));
    return (measure === 'iou'
      ? tf.divNoNan(inter, tf.sub(sizes, inter))
      : tf.divNoNan(tf.mul(inter, 2), sizes)) as tf.Tensor1D;
  });
}

export type CombineRule = 'mean' | 'weighted' | 'min' | 'product';
export interface Components { gradcam_seg: number; attention_seg: number; gradcam_attention: number }

/** Combines the three Over-MAP components into one confidence in [0, 1]. */
export function combine(c: Components, rule: CombineRule, weights: Components): number {
  const keys = ['gradcam_seg', 'attention_seg', 'gradcam_attention'] as const;
  switch (rule) {
    case 'min': return Math.min(...keys.map((k) => c[k]));
    case 'product': return keys.reduce((a, k) => a * c[k], 1);
    case 'weighted': {
      const wsum = keys.reduce((a, k) => a + weights[k], 0);
      return wsum > 0 ? keys.reduce((a, k) => a + weights[k] * c[k], 0) / wsum : 0;
    }
    default: return (c.gradcam_seg + c.attention_seg + c.gradcam_attention) / 3;
  }
}

/**
 * `scores.overmap` from the components: 0 when segmentation found no object ("estimation not
 * available"); without an attention module only Grad-CAM/mask exists and is the score; else the
 * spec's rule, clamped to [0, 1]. The pipeline and the experiment's choice of rule both use it.
 */
export function overmapScore(c: Components, o: { noMask: boolean; hasAttention: boolean; rule: CombineRule; weights: Components }): number {
  if (o.noMask) return 0;
  return Math.min(1, Math.max(0, o.hasAttention ? combine(c, o.rule, o.weights) : c.gradcam_seg));
}
