/**
 * Convolution gradients as forward convolutions, which XNNPACK runs fast on the wasm backend
 * (why, and what was measured: wasm-grad-kernels.ts). Pure tensor functions, usable on any
 * backend.
 */
import * as tf from './tf';

export type Conv2DBackpropFilterAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
};

export type Conv2DBackpropInputAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
};

/**
 * dW for x [N,H,W,Cin] and dy [N,OH,OW,Cout]: pure tensor function, usable on any backend.
 *
 * dW[i,j,c,o] = Σ_{n,y,x} xpad[n, y·sh + i, x·sw + j, c] · dy[n, y, x, o], which is a
 * forward 'valid' convolution of xpad with the batch and channel axes swapped
 * ([Cin, H, W, N]) by dy as the filter ([OH, OW, N, Cout], dilated by the stride). XNNPACK
 * runs that as one GEMM of [Cin·KH·KW, N·OH·OW] x [N·OH·OW, Cout].
 */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number] | number,
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode?: Conv2DBackpropFilterAttrs['dimRoundingMode'],
): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { top, bottom, left, right } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  return tf.tidy(() => {
    const xp =
      top || bottom || left || right
        ? tf.pad(x, [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ])
        : x;
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [Cin, Hp, Wp, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [OH, OW, N, Cout]
    let out = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]); // [Cin, >=KH, >=KW, Cout]
    // With 'same' padding and a stride, the valid output can exceed the filter: crop.
    if (out.shape[1] !== kh || out.shape[2] !== kw) out = tf.slice(out, [0, 0, 0, 0], [-1, kh, kw, -1]);
    return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

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
