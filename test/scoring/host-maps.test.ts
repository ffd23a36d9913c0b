/**
 * The plain-JS steps after the forward pass (maps.ts, dense-head.ts) against the TF.js ops and
 * tf.grad they replace, on random inputs: the ONNX path computes in JS what the Layers path
 * computes in TF.js, and the two must give the same maps.
 */
import { initBackend, tf } from '@overmap/engine';
import {
  attentionMap,
  denseGradCam,
  denseScores,
  gradCam,
  normalizeMax,
  normalizeMaxHost,
  poolActivations,
  resizeBilinear,
  resizeMaps,
  softmaxRows,
  topKRows,
} from '@overmap/engine/testing';
import seedrandom from 'seedrandom';

beforeAll(async () => {
  await initBackend('wasm');
});

const rng = seedrandom('host-maps');
const random = (n: number, lo = 0, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng());
const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return w;
};

describe('map operations on plain arrays', () => {
  it.each([
    [8, 8, 64, 64],
    [16, 12, 64, 48],
    [5, 7, 13, 3],
    [64, 64, 16, 16],
    [4, 4, 4, 4],
  ])('resizeBilinear %ix%i → %ix%i equals tf.image.resizeBilinear (default corners) to 1e-6', (h, w, H, W) => {
    const src = random(3 * h * w);
    const want = tf.tidy(() => resizeMaps(tf.tensor3d(src, [3, h, w]), [H, W]).dataSync());
    expect(worst(resizeBilinear(src, 3, h, w, H, W), want)).toBeLessThan(1e-6);
  });

  it('normalizeMax scales each map to max 1 and leaves an all-zero map at 0, as the TF.js op', () => {
    const maps = random(3 * 16);
    maps.fill(0, 16, 32);
    const want = tf.tidy(() => normalizeMax(tf.tensor3d(maps, [3, 4, 4])).dataSync());
    const got = normalizeMaxHost(maps.slice(), 3);
    expect(worst(got, want)).toBeLessThan(1e-7);
    expect(Math.max(...got.subarray(0, 16))).toBe(1);
    expect(got.subarray(16, 32).every((v) => v === 0)).toBe(true);
  });

  it('softmaxRows and topKRows equal tf.softmax and tf.topk, ties to the lower index', () => {
    const z = random(4 * 10, -8, 8);
    z[25] = z[27]!; // a tie in row 2
    const p = softmaxRows(z, 4, 10);
    const [wantP, wantV, wantI] = tf.tidy(() => {
      const s = tf.softmax(tf.tensor2d(z, [4, 10]));
      const t = tf.topk(s, 3);
      return [s.dataSync(), t.values.dataSync(), t.indices.dataSync()];
    });
    expect(worst(p, wantP!)).toBeLessThan(1e-7);
    const top = topKRows(p, 4, 10, 3);
    expect(Array.from(top.indices)).toEqual(Array.from(wantI!));
    expect(worst(top.values, wantV!)).toBeLessThan(1e-7);
    const tied = topKRows(Float32Array.from([0.2, 0.4, 0.4]), 1, 3, 2);
    expect(Array.from(tied.indices)).toEqual([1, 2]);
  });
});

describe('Grad-CAM of a pool → dense head in closed form', () => {
  const [b, h, w, c, k] = [5, 6, 7, 9, 4];
  const nhwc = random(b * h * w * c, -1, 2);
  const weight = random(c * k, -1, 1);
  const bias = random(k, -0.5, 0.5);
  const targets = [0, 3, 1, 2, 3];
  const toNchw = (x: Float32Array) =>
    tf.tidy(() => tf.transpose(tf.tensor4d(x, [b, h, w, c]), [0, 3, 1, 2]).dataSync() as Float32Array);

  it.each([false, true])(
    'equals Grad-CAM through tf.grad (softmax head: %s), in both layouts, with the same class scores',
    (softmax) => {
      const head = { weight, bias, channels: c, classes: k, dropout: null, softmax };
      const tfHead = (a: tf.Tensor4D) => {
        const y = tf.add(
          tf.matMul(tf.mean(a, [1, 2]) as tf.Tensor2D, tf.tensor2d(weight, [c, k])),
          tf.tensor1d(bias),
        ) as tf.Tensor2D;
        return softmax ? tf.softmax(y) : y;
      };
      const [wantCam, wantScores] = tf.tidy(() => {
        const acts = tf.tensor4d(nhwc, [b, h, w, c]);
        return [gradCam(tfHead, acts, tf.tensor1d(targets, 'int32'), k).dataSync(), tfHead(acts).dataSync()];
      });
      for (const layout of ['nhwc', 'nchw'] as const) {
        const f = { acts: layout === 'nhwc' ? nhwc : toNchw(nhwc), layout, b, h, w, c, attention: [] };
        const z = denseScores(poolActivations(f), head, b);
        const probs = softmaxRows(z, b, k);
        expect(worst(softmax ? probs : z, wantScores!)).toBeLessThan(1e-5);
        const cam = denseGradCam(f, head, targets, probs);
        expect(worst(cam, wantCam!)).toBeLessThan(1e-5);
        // Not a constant map: the test would pass vacuously on all zeros.
        expect(Math.max(...cam)).toBe(1);
      }
    },
  );

  it('attention maps: each resized to the activations, summed, scaled to max 1', () => {
    const a1 = random(b * 3 * 3),
      a2 = random(b * h * w);
    const want = tf.tidy(() =>
      normalizeMax(
        tf.addN([resizeMaps(tf.tensor3d(a1, [b, 3, 3]), [h, w]), tf.tensor3d(a2, [b, h, w])]) as tf.Tensor3D,
      ).dataSync(),
    );
    const f = {
      acts: nhwc,
      layout: 'nhwc' as const,
      b,
      h,
      w,
      c,
      attention: [
        { data: a1, h: 3, w: 3 },
        { data: a2, h, w },
      ],
    };
    expect(worst(attentionMap(f), want)).toBeLessThan(1e-6);
  });

  it('MC dropout over the head: dropping nothing gives the plain scores; dropping everything gives the bias', () => {
    const f = { acts: nhwc, layout: 'nhwc' as const, b, h, w, c, attention: [] };
    const pooled = poolActivations(f);
    const head = { weight, bias, channels: c, classes: k, dropout: 0.5, softmax: false };
    const plain = denseScores(pooled, { ...head, dropout: null }, b);
    // keep everything (u < keep always): each activation scaled by 1/keep
    const kept = denseScores(pooled, head, b, () => 0);
    const scaled = denseScores(
      pooled.map((x) => x * 2),
      { ...head, dropout: null },
      b,
    );
    expect(worst(kept, scaled)).toBeLessThan(1e-5);
    const dropped = denseScores(pooled, head, b, () => 0.99);
    expect(
      worst(
        dropped,
        Float32Array.from({ length: b * k }, (_, i) => bias[i % k]!),
      ),
    ).toBeLessThan(1e-7);
    expect(worst(plain, kept)).toBeGreaterThan(1e-3);
  });
});
