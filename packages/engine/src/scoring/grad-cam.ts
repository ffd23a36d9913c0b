/**
 * Grad-CAM (Selvaraju et al. 2017, eqs. 1-2): α_k = mean_ij ∂y_c/∂A_k(i,j),
 * L = ReLU(Σ_k α_k A_k), normalised to max 1 per image. Batched: the gradient of
 * Σ_b y_b[target_b] with respect to the activations gives each image its own gradient,
 * because image b's score depends on image b's activations only.
 */
import * as tf from '../backend/tf';

/** Scales each map [B, h, w] to max 1; all-zero maps stay zero. */
export function normalizeMax(maps: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.divNoNan(maps, tf.max(maps, [1, 2], true)) as tf.Tensor3D);
}

export function gradCam(
  head: (a: tf.Tensor4D) => tf.Tensor2D,
  activations: tf.Tensor4D,
  targets: tf.Tensor1D,
  numClasses: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(targets, numClasses).toFloat();
    const grads = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(head(a as tf.Tensor4D), oneHot)))(activations);
    const alpha = tf.mean(grads, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(alpha, activations), -1)) as tf.Tensor3D;
    return normalizeMax(cam);
  });
}

/** Resizes maps [B, h, w] to [B, size, size] (bilinear). */
export function resizeMaps(maps: tf.Tensor3D, size: [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    if (maps.shape[1] === size[0] && maps.shape[2] === size[1]) return maps.clone();
    return tf.squeeze(tf.image.resizeBilinear(tf.expandDims(maps, -1) as tf.Tensor4D, size), [-1]) as tf.Tensor3D;
  });
}
