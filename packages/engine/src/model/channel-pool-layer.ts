/**
 * CBAM's channel pooling (Woo et al. 2018, eq. 3): the mean and the max over channels,
 * stacked as two feature maps, which the spatial-attention convolution reads. TF.js
 * Layers has no Lambda layer, so it is a registered custom layer; any model that uses
 * it can be loaded once this module has been imported.
 */
import * as tf from '../backend/tf';

export class ChannelPool extends tf.layers.Layer {
  static readonly className = 'ChannelPool';

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [...shape.slice(0, -1), 2];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => tf.concat([tf.mean(x, -1, true), tf.max(x, -1, true)], -1));
  }
}

tf.serialization.registerClass(ChannelPool);
