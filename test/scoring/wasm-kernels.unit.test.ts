import { tf } from '@overmap/engine';
import { initBackend } from '@overmap/engine';

/** The input gradient of conv2d on wasm (our Conv2DBackpropInput kernel) against the cpu backend. */
async function grads(backend: 'cpu' | 'wasm', xs: number[], fs: number[], stride: number, pad: 'same' | 'valid') {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1);
    const f = tf.randomNormal(fs, 0, 1, 'float32', 2);
    const loss = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad)));
    return tf
      .grad((a: tf.Tensor) => loss(a, f))(x)
      .dataSync();
  });
}

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

describe('wasm convolution input-gradient kernel', () => {
  it.each([
    [[4, 16, 16, 8], [3, 3, 8, 12], 1, 'same'],
    [[2, 17, 15, 5], [3, 3, 5, 7], 2, 'same'],
    [[2, 16, 16, 3], [7, 7, 3, 1], 1, 'same'],
    [[2, 12, 12, 4], [3, 3, 4, 6], 1, 'valid'],
    [[1, 9, 9, 2], [2, 2, 2, 3], 2, 'valid'],
  ] as const)('match the cpu backend for x %j, filter %j, stride %d, %s', async (xs, fs, s, p) => {
    const cpuDx = await grads('cpu', [...xs], [...fs], s, p);
    const wDx = await grads('wasm', [...xs], [...fs], s, p);
    const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(a[i]!)));
      return m;
    };
    expect(rel(cpuDx, wDx)).toBeLessThan(1e-4);
  });
});

/** Gradient of a max pool on a backend, for an input with many ties (values rounded to four negative levels). */
async function poolGrad(backend: 'cpu' | 'wasm', xs: number[], k: number, s: number, pad: 'same' | 'valid') {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    // Negative levels: a kernel that let the padding (or a running maximum starting at 0) win would differ.
    const x = tf.randomUniform(xs, -4, 0, 'float32', 3).floor();
    const r = tf.randomNormal(tf.maxPool(x as tf.Tensor4D, k, s, pad).shape, 0, 1, 'float32', 5);
    const loss = (a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), r));
    return tf.grad(loss)(x).dataSync();
  });
}

describe('wasm max-pool gradient kernel', () => {
  it.each([
    [[3, 16, 16, 8], 2, 2, 'valid'],
    [[2, 15, 17, 5], 2, 2, 'same'],
    [[2, 15, 17, 5], 2, 2, 'valid'],
    [[2, 11, 9, 3], 3, 2, 'same'],
    [[1, 8, 8, 4], 3, 1, 'same'],
  ] as const)(
    "gives each window's gradient to its first maximum, as the cpu backend does: x %j, window %d, stride %d, %s",
    async (xs, k, s, p) => {
      const cpu = await poolGrad('cpu', [...xs], k, s, p);
      const wasm = await poolGrad('wasm', [...xs], k, s, p);
      let nonzero = 0,
        maxDiff = 0;
      for (let i = 0; i < cpu.length; i++) {
        if (cpu[i] !== 0) nonzero++;
        maxDiff = Math.max(maxDiff, Math.abs(cpu[i]! - wasm[i]!));
      }
      // With ties (4 levels), splitting or misplacing a window's gradient would show here.
      expect(maxDiff).toBeLessThan(1e-5);
      expect(nonzero).toBeGreaterThan(0);
      expect(nonzero).toBeLessThan(cpu.length);
    },
  );
});
