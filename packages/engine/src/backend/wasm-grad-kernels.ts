/**
 * Gradient kernels for the wasm backend: convolutions built from wasm ops, max pooling as a JS loop.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel (tfjs issue 8474), so
 * training any convolutional model on wasm fails out of the box, and its
 * `Conv2DBackpropInput` is a naive loop about 13x slower than the forward convolution.
 * Both gradients are re-expressed here as work XNNPACK does fast:
 *
 * - filter gradient: one forward convolution with batch and channels swapped (below).
 *   An im2col version ran 2-13x slower: wasm's Slice and StridedSlice kernels are JS
 *   loops over rows, and its matmul with transposeA is ~11x slower than without
 *   (scripts/probe-wasm-ops.js; BENCHMARKS.md). A matmul per filter tap ran ~20 images/s.
 * - input gradient (stride 1, no dilation): a forward convolution of dy with the
 *   filter rotated by 180° and its channel axes swapped, padded so that the output has
 *   the input's size. Strided cases fall back to the backend's own kernel.
 * - max-pool gradient: a JS loop over the output windows (`maxPoolGradient`), written straight
 *   into the output buffer, instead of wasm's native `MaxPoolGrad`, which took about 75 ms per
 *   2x2 pool at [64, 64, 64, 16] (15% of the reference classifier's training step; BENCHMARKS.md)
 *   and differs from TensorFlow: among equal maxima the last one gets the gradient, and a window
 *   whose values are all ≤ 0 gets none (its running maximum starts at FLT_MIN, tfjs MaxPoolGrad.cc).
 *
 * The convolution results are computed with ops inside `tidy` and copied into a tensor the
 * backend owns (`makeOutput`), because the engine may dispose a tensor returned from a kernel
 * that it did not allocate itself.
 */
import * as tf from './tf';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Conv2DBackpropFilterAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
};

type Conv2DBackpropInputAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
};

/** A tensor view of a kernel input; takes its own reference, so disposing it is safe. */
function wrap(backend: BackendWasm, info: tf.TensorInfo): tf.Tensor4D {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D;
}

function copyToBackend(backend: BackendWasm, result: tf.Tensor): tf.TensorInfo {
  const out = backend.makeOutput(result.shape, 'float32');
  backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(result as unknown as tf.TensorInfo));
  result.dispose();
  return out;
}

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

/**
 * The gradient of Max (used by GlobalMaxPooling and CBAM's channel pooling) with the
 * argmax mask computed as 1 - step(|x - max|) instead of equal(x, max): the same value
 * (ties share the gradient, as before), but wasm's comparison kernels are JS loops
 * about 6-7x slower than sub + step (97 ms vs 15 ms on [64,16,16,64]: scripts/probe-wasm-ops.js).
 */
function registerArithmeticMaxGradient(): void {
  tf.unregisterGradient('Max');
  tf.registerGradient({
    kernelName: 'Max',
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved as [tf.Tensor, tf.Tensor];
      const axes = tf.util.parseAxisParam(
        (attrs as unknown as { reductionIndices: number | number[] }).reductionIndices,
        x.shape,
      );
      const keep = tf.backend_util.expandShapeToKeepDim(y.shape, axes);
      const dyT = dy as tf.Tensor;
      return {
        x: () => {
          const yk = y.rank < x.rank ? y.reshape(keep) : y;
          const dyk = dyT.rank < x.rank ? dyT.reshape(tf.backend_util.expandShapeToKeepDim(dyT.shape, axes)) : dyT;
          const isMax = tf.sub(1, tf.step(tf.abs(tf.sub(x, yk))));
          return tf.mul(dyk, isMax);
        },
      };
    },
  });
}

type MaxPoolGradAttrs = {
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

let registered = false;
/** wasm's own kernels that `registerWasmGradKernels` replaced (for the benchmark's before/after). */
const replaced = new Map<string, tf.KernelConfig>();

/** The wasm backend's own kernel `name` as it was before `registerWasmGradKernels` replaced it. */
export function nativeWasmKernel(name: 'MaxPoolGrad' | 'Conv2DBackpropInput'): tf.KernelConfig | undefined {
  return replaced.get(name);
}

/** Registers `config` in place of the wasm backend's own kernel of that name, kept in `replaced`. */
function replaceKernel(config: tf.KernelConfig): void {
  const native = tf.getKernel(config.kernelName, 'wasm');
  if (native) {
    replaced.set(config.kernelName, native);
    tf.unregisterKernel(config.kernelName, 'wasm');
  }
  tf.registerKernel(config);
}

/** Registers the kernels above for the wasm backend. Idempotent. */
export function registerWasmGradKernels(): void {
  if (registered) return;
  registered = true;
  registerArithmeticMaxGradient();
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const a = attrs as unknown as Conv2DBackpropFilterAttrs;
        if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
        const x = wrap(backend as BackendWasm, inputs.x as tf.TensorInfo);
        const dy = wrap(backend as BackendWasm, inputs.dy as tf.TensorInfo);
        const dW = conv2dFilterGradient(x, dy, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
        x.dispose();
        dy.dispose();
        return copyToBackend(backend as BackendWasm, dW);
      },
    });
  }
  replaceKernel({
    kernelName: 'MaxPoolGrad',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as BackendWasm;
      const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
      const a = attrs as unknown as MaxPoolGradAttrs;
      const info = tf.backend_util.computePool2DInfo(
        input.shape as [number, number, number, number],
        a.filterSize,
        a.strides,
        1,
        a.pad,
        a.dimRoundingMode,
      );
      const dx = wasm.makeOutput(input.shape, 'float32');
      const out = wasm.typedArrayFromHeap(dx) as Float32Array;
      out.fill(0);
      maxPoolGradient(
        wasm.typedArrayFromHeap(input) as Float32Array,
        wasm.typedArrayFromHeap(dy) as Float32Array,
        out,
        info,
      );
      return dx;
    },
  });
  if (original) {
    replaceKernel({
      kernelName: 'Conv2DBackpropInput',
      backendName: 'wasm',
      setupFunc: original.setupFunc,
      kernelFunc: (args) => {
        const a = args.attrs as unknown as Conv2DBackpropInputAttrs;
        const s = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
        if (s[0] !== 1 || s[1] !== 1 || a.dataFormat === 'NCHW') return original.kernelFunc(args);
        const dy = wrap(args.backend as BackendWasm, args.inputs.dy as tf.TensorInfo);
        const filter = wrap(args.backend as BackendWasm, args.inputs.filter as tf.TensorInfo);
        const dx = conv2dInputGradientStride1(dy, filter, a.inputShape, a.pad, a.dimRoundingMode);
        dy.dispose();
        filter.dispose();
        return copyToBackend(args.backend as BackendWasm, dx);
      },
    });
  }
}
