/**
 * What the reference models reach on a scene set: classifier accuracy and where its attention lies,
 * segmenter mask IoU (the v1 model's committed-model test).
 */
import { tf } from '@overmap/engine';
import { type SceneSet, batchImages, batchMasks } from './scene-sets';
import { ATTENTION_LAYER } from './architectures';

/** The masks [B, H, W, 1] average-pooled to [B, side, side, 1]. */
export function poolMasks(masks: tf.Tensor, side: number): tf.Tensor4D {
  const f = masks.shape[1]! / side;
  if (!Number.isInteger(f) || f < 1)
    throw new Error(`poolMasks: mask side ${masks.shape[1]} is not a multiple of the attention side ${side}`);
  return (f === 1 ? masks.clone() : tf.avgPool(masks as tf.Tensor4D, f, f, 'valid')) as tf.Tensor4D;
}

/** The classifier with a second output: its spatial attention map (same layers, same weights). */
export function withAttentionOutput(model: tf.LayersModel): tf.LayersModel {
  return tf.model({
    inputs: model.inputs,
    outputs: [model.outputs[0]!, model.getLayer(ATTENTION_LAYER).output as tf.SymbolicTensor],
  });
}

/**
 * Accuracy (true labels) and where the spatial attention lies: `attentionMass`, the mean over
 * scenes of the attention's mass inside the object mask (Σ a·m / Σ a at the attention's
 * resolution, m the mask's pooled fraction: the same as the upsampled map's mass inside the
 * full-resolution mask), beside `maskFraction`, the mean share of the image the mask covers
 * (what a uniform attention would get).
 */
export function classifierStats(
  model: tf.LayersModel,
  set: SceneSet,
  batchSize = 250,
): { accuracy: number; attentionMass: number; maskFraction: number } {
  const both = withAttentionOutput(model);
  let correct = 0,
    mass = 0,
    frac = 0;
  for (let i = 0; i < set.n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.n - i) }, (_, k) => i + k);
    const [pred, m, f] = tf.tidy(() => {
      const [logits, att] = both.predict(batchImages(set, idx)) as tf.Tensor[];
      const masks = batchMasks(set, idx);
      const pooled = poolMasks(masks, att!.shape[1]!);
      const inside = att!
        .mul(pooled)
        .sum([1, 2, 3])
        .div(att!.sum([1, 2, 3]).maximum(1e-9));
      return [logits!.argMax(-1).dataSync(), inside.dataSync(), masks.mean([1, 2, 3]).dataSync()];
    });
    idx.forEach((j, b) => {
      if (pred[b] === set.trueLabels[j]) correct++;
      mass += m[b]!;
      frac += f[b]!;
    });
  }
  return { accuracy: correct / set.n, attentionMass: mass / set.n, maskFraction: frac / set.n };
}

/** Mean accuracy against the true labels (classifier) on a scene set. */
export function classifierAccuracy(model: tf.LayersModel, set: SceneSet, batchSize = 256): number {
  let correct = 0;
  for (let i = 0; i < set.n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.n - i) }, (_, k) => i + k);
    const pred = tf.tidy(() => (model.predict(batchImages(set, idx)) as tf.Tensor).argMax(-1).dataSync());
    idx.forEach((j, b) => {
      if (pred[b] === set.trueLabels[j]) correct++;
    });
  }
  return correct / set.n;
}

/** Mean IoU of the segmenter's mask (p > 0.5) against the ground truth. */
export function segmenterIoU(model: tf.LayersModel, set: SceneSet, batchSize = 256): number {
  let total = 0;
  for (let i = 0; i < set.n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.n - i) }, (_, k) => i + k);
    const ious = tf.tidy(() => {
      const p = (model.predict(batchImages(set, idx)) as tf.Tensor).greater(0.5).toFloat();
      const m = batchMasks(set, idx);
      const inter = p.mul(m).sum([1, 2, 3]);
      const union = p.add(m).sub(p.mul(m)).sum([1, 2, 3]);
      return inter.div(union.maximum(1)).dataSync();
    });
    ious.forEach((v) => {
      total += v;
    });
  }
  return total / set.n;
}
