/**
 * The max-pool gradient as a JS loop written straight into the output buffer, in place of the
 * wasm backend's native MaxPoolGrad (why, and what was measured: wasm-grad-kernels.ts).
 */
import type * as tf from './tf';

export type MaxPoolGradAttrs = {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

/**
 * dx of a max pool (NHWC): each output window's dy goes to its first maximum in row-major scan
 * order (padding never wins), summed where windows overlap; TensorFlow's rule (and tfjs-cpu's,
 * except windows with no finite maximum), so ties give the whole gradient to one input. `dx` must
 * be zero-filled.
 */
export function maxPoolGradient(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const {
    batchSize: n,
    inHeight: h,
    inWidth: w,
    inChannels: c,
    outHeight: oh,
    outWidth: ow,
    strideHeight: sh,
    strideWidth: sw,
    effectiveFilterHeight: kh,
    effectiveFilterWidth: kw,
    dilationHeight: dh,
    dilationWidth: dw,
  } = info;
  const top = info.padInfo.top,
    left = info.padInfo.left;
  const row = w * c;
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0 && 2 * oh <= h && 2 * ow <= w) {
    // The usual 2x2 stride-2 pool, every window inside the image: no bounds checks, windows disjoint.
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const p = b * h * row + 2 * oy * row + 2 * ox * c,
            o = ((b * oh + oy) * ow + ox) * c;
          for (let ch = 0; ch < c; ch++) {
            let at = p + ch,
              v = x[at]!;
            const q1 = at + c,
              q2 = at + row,
              q3 = q2 + c;
            if (x[q1]! > v) {
              at = q1;
              v = x[q1]!;
            }
            if (x[q2]! > v) {
              at = q2;
              v = x[q2]!;
            }
            if (x[q3]! > v) at = q3;
            dx[at] = dy[o + ch]!;
          }
        }
      }
    }
    return;
  }
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - top;
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - left,
          o = ((b * oh + oy) * ow + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          let at = -1,
            v = -Infinity;
          for (let ky = 0; ky < kh; ky += dh) {
            const iy = y0 + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx += dw) {
              const ix = x0 + kx;
              if (ix < 0 || ix >= w) continue;
              const q = b * h * row + iy * row + ix * c + ch;
              if (at === -1 || x[q]! > v) {
                at = q;
                v = x[q]!;
              }
            }
          }
          if (at >= 0) dx[at] = dx[at]! + dy[o + ch]!;
        }
      }
    }
  }
}
