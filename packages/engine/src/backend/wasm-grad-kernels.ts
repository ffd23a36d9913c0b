/**
 * Gradient kernels for the wasm backend, for the scoring path: Grad-CAM of a TF.js Layers model
 * takes the gradient of the class score with respect to the Grad-CAM layer through whatever layers
 * follow it (`tf.grad`), which may include convolutions and max pooling. Only input gradients are
 * ever needed (nothing trains here: the reference models train in PyTorch, training/).
 *
 * - input gradient (stride 1, no dilation): wasm's own `Conv2DBackpropInput` is a naive loop
 *   about 13x slower than the forward convolution; here it is a forward convolution of dy with the
 *   filter rotated by 180° and its channel axes swapped, padded so that the output has the
 *   input's size, which XNNPACK runs fast. Strided cases fall back to the backend's own kernel.
 * - max-pool gradient: a JS loop over the output windows (`maxPoolGradient`), written straight
 *   into the output buffer, instead of wasm's native `MaxPoolGrad`, which is slow (about 75 ms per
 *   2x2 pool at [64, 64, 64, 16]; BENCHMARKS.md) and differs from TensorFlow: among equal maxima
 *   the last one gets the gradient, and a window whose values are all ≤ 0 gets none (its running
 *   maximum starts at FLT_MIN, tfjs MaxPoolGrad.cc), so Grad-CAM would differ between backends.
 *
 * The convolution results are computed with ops inside `tidy` and copied into a tensor the
 * backend owns (`makeOutput`), because the engine may dispose a tensor returned from a kernel
 * that it did not allocate itself. The gradients themselves are in conv-gradients.ts and
 * max-pool-gradient.ts; this file registers them.
 */
import * as tf from './tf';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type Conv2DBackpropInputAttrs, conv2dInputGradientStride1 } from './conv-gradients';
import { type MaxPoolGradAttrs, maxPoolGradient } from './max-pool-gradient';

export { conv2dInputGradientStride1 } from './conv-gradients';
export { maxPoolGradient } from './max-pool-gradient';

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
