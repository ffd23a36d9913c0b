/**
 * Guided attention (issue #11, the paper's "guided attention context"): the classifier's spatial
 * attention trained against the object mask, beside the cross-entropy.
 */
import { tf } from '@overmap/engine';
import { ATTENTION_LAYER } from './architectures';

/**
 * The guided-attention loss: binary cross-entropy between the spatial attention map
 * ([B, h, w, 1], a sigmoid) and the object mask ([B, H, W, 1], 0/1) average-pooled to h x w
 * (the fraction of each attention cell that lies on the object), averaged over cells.
 */
export function attentionGuidanceLoss(attention: tf.Tensor, masks: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const target = poolMasks(masks, attention.shape[1]!);
    const a = attention.clipByValue(1e-6, 1 - 1e-6);
    return target
      .mul(a.log())
      .add(tf.scalar(1).sub(target).mul(tf.scalar(1).sub(a).log()))
      .mean()
      .neg() as tf.Scalar;
  });
}

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
 * The classifier's training loss on a batch: softmax cross-entropy, plus λ·`attentionGuidanceLoss`
 * when `guidance` λ > 0 (then `training` must be the model `withAttentionOutput`; `masks` the batch's
 * object masks). With λ = 0 this is exactly the unguided loss. Returns the total and, guided, the
 * guidance term.
 */
export function classifierLoss(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  guidance = 0,
  training?: tf.LayersModel,
  masks?: tf.Tensor,
): { total: tf.Scalar; guidance?: tf.Scalar } {
  if (!(guidance > 0))
    return { total: tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar };
  if (!training || !masks)
    throw new Error('classifierLoss: guidance needs the model with its attention output and the masks');
  const [logits, attention] = training.apply(x, { training: true }) as tf.Tensor[];
  const g = attentionGuidanceLoss(attention!, masks);
  return { total: tf.losses.softmaxCrossEntropy(y, logits!).add(g.mul(guidance)) as tf.Scalar, guidance: g };
}
