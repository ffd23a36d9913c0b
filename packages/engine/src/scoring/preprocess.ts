import * as tf from '../backend/tf';
import type { Normalization } from '../model/model-spec';

/** x' = (x · scale − mean) / std per channel, x the RGB bytes as floats. */
export function normalize(rgb: tf.Tensor4D, n: Normalization): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(tf.mul(rgb, n.scale), tf.tensor1d(n.mean)), tf.tensor1d(n.std)) as tf.Tensor4D);
}
