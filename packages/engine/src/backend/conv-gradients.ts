/**
 * The convolution input gradient as a forward convolution, which XNNPACK runs fast on the wasm
 * backend (why, and what was measured: wasm-grad-kernels.ts). A pure tensor function, usable on
 * any backend.
 */
import * as tf from './tf';

export type Conv2DBackpropInputAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
};

/** dx for stride-1 convolutions: a forward convolution of dy with the flipped, transposed filter. */
export function conv2dInputGradientStride1(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  pad: Conv2DBackpropInputAttrs['pad'],
  dimRoundingMode?: Conv2DBackpropInputAttrs['dimRoundingMode'],
): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape,
    1,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { top, left } = info.padInfo;
  const { filterHeight: kh, filterWidth: kw } = info;
  return tf.tidy(() => {
    // Full correlation with the rotated filter: pad dy by (k-1-pad) on each side.
    const pt = kh - 1 - top;
    const pl = kw - 1 - left;
    const pb = inputShape[1] + kh - 1 - dy.shape[1] - pt;
    const pr = inputShape[2] + kw - 1 - dy.shape[2] - pl;
    const dyp = tf.pad(dy, [
      [0, 0],
      [pt, pb],
      [pl, pr],
      [0, 0],
    ]);
    const rotated = tf.reverse(filter, [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(dyp, rotated, 1, 'valid');
  });
}
