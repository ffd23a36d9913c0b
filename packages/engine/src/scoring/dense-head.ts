/**
 * The steps after the forward pass for a classifier whose head is global average pooling →
 * dense (→ softmax), in plain JS on the forward pass's outputs: no tensor is made. The class
 * scores are a small matmul of the pooled activations; Grad-CAM needs no gradient pass,
 * because for y = W'·mean_ij(A) + b the gradient is constant over space (the CAM identity):
 *
 *   logits head:  α_k = ∂y_c/∂A_k(i,j) = W[k, c] / (h·w)
 *   softmax head: α_k = ∂p_c/∂A_k(i,j) = p_c · (W[k, c] − Σ_j p_j W[k, j]) / (h·w)
 *
 * and Grad-CAM = ReLU(Σ_k α_k A_k), scaled to max 1 (grad-cam.ts, the TF.js path, computes
 * the same through tf.grad; the agreement test compares the two on the reference models).
 */
import type { DenseHead } from './forward/onnx-head';
import { normalizeMax, resizeBilinear } from './maps';

/** The forward pass's outputs as host arrays: the Grad-CAM layer's activations and the attention maps. */
export interface HostFeatures {
  /** [B, C, h, w] (nchw) or [B, h, w, C] (nhwc) */
  acts: Float32Array;
  layout: 'nchw' | 'nhwc';
  b: number;
  h: number;
  w: number;
  c: number;
  /** each attention map [B, h', w'] */
  attention: { data: Float32Array; h: number; w: number }[];
}

/** Mean of the activations over space: [B, C]. */
export function poolActivations(f: HostFeatures): Float32Array {
  const { b, h, w, c } = f;
  const hw = h * w;
  const out = new Float32Array(b * c);
  const sums = new Float64Array(c);
  for (let i = 0; i < b; i++) {
    sums.fill(0);
    if (f.layout === 'nchw') {
      for (let k = 0; k < c; k++) {
        let s = 0;
        const base = (i * c + k) * hw;
        for (let p = 0; p < hw; p++) s += f.acts[base + p]!;
        sums[k] = s;
      }
    } else {
      const base = i * hw * c;
      for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) sums[k] = sums[k]! + f.acts[base + p * c + k]!;
    }
    for (let k = 0; k < c; k++) out[i * c + k] = sums[k]! / hw;
  }
  return out;
}

/** The dense layer on pooled activations [B, C] (optionally dropped out, for MC dropout): scores [B, K]
 *  before any softmax. */
export function denseScores(
  pooled: Float32Array,
  head: DenseHead,
  b: number,
  dropout: (() => number) | null = null,
): Float32Array {
  const { channels: c, classes: k, weight, bias } = head;
  const out = new Float32Array(b * k);
  const keep = head.dropout ? 1 - head.dropout : 1;
  for (let i = 0; i < b; i++) {
    const z = new Float64Array(k);
    for (let j = 0; j < k; j++) z[j] = bias[j]!;
    for (let ch = 0; ch < c; ch++) {
      let x = pooled[i * c + ch]!;
      if (dropout) x = dropout() < keep ? x / keep : 0;
      if (x === 0) continue;
      for (let j = 0; j < k; j++) z[j] = z[j]! + x * weight[ch * k + j]!;
    }
    out.set(z, i * k);
  }
  return out;
}

/**
 * Grad-CAM of class targets[i] for each image, scaled to max 1, at the activations' resolution
 * [B, h, w]; `probs` (the softmax of the head's scores) only for a softmax head.
 */
export function denseGradCam(
  f: HostFeatures,
  head: DenseHead,
  targets: ArrayLike<number>,
  probs: Float32Array | null,
): Float32Array {
  return denseGradCams(f, head, [targets], probs)[0]!;
}

/**
 * Grad-CAM for several target lists at once (the prediction, the runner-up, the label): one
 * pass over each image's activations, and a class asked for twice (a label equal to the
 * prediction) is computed once.
 */
export function denseGradCams(
  f: HostFeatures,
  head: DenseHead,
  targetSets: ArrayLike<number>[],
  probs: Float32Array | null,
): Float32Array[] {
  const { b, h, w, c } = f;
  const hw = h * w;
  const out = targetSets.map(() => new Float32Array(b * hw));
  const alpha = new Float64Array(c * targetSets.length);
  const acc = new Float64Array(hw * targetSets.length);
  const scratch = [new Float64Array(hw), new Float64Array(hw)];
  for (let i = 0; i < b; i++) {
    // the distinct classes asked for this image, and which list takes which
    const classes: number[] = [];
    const slot = targetSets.map((ts) => {
      const t = ts[i]!;
      const at = classes.indexOf(t);
      return at >= 0 ? at : classes.push(t) - 1;
    });
    const n = classes.length;
    classWeights(head, probs, i, classes, c, hw, alpha);
    accumulate(f, i, alpha, n, acc, scratch);
    slot.forEach((s, j) => {
      const cam = out[j]!;
      for (let p = 0; p < hw; p++) cam[i * hw + p] = acc[s * hw + p]! > 0 ? acc[s * hw + p]! : 0;
    });
  }
  return out.map((cam) => normalizeMax(cam, b));
}

/**
 * The channel weights of image `i` for each of `classes` (∂y_c/∂A over h·w, through the
 * softmax where the head has one): alpha[s·c + ch] for the s-th class.
 */
function classWeights(
  head: DenseHead,
  probs: Float32Array | null,
  i: number,
  classes: number[],
  c: number,
  hw: number,
  alpha: Float64Array,
): void {
  const k = head.classes;
  const n = classes.length;
  for (let s = 0; s < n; s++) {
    const t = classes[s]!;
    for (let ch = 0; ch < c; ch++) {
      let g = head.weight[ch * k + t]!;
      if (head.softmax && probs) {
        let mean = 0;
        for (let j = 0; j < k; j++) mean += probs[i * k + j]! * head.weight[ch * k + j]!;
        g = probs[i * k + t]! * (g - mean);
      }
      alpha[s * c + ch] = g / hw;
    }
  }
}

/** Image `i`'s activations weighted by each class's alpha, summed over channels: acc[s·hw + p] for the s-th class. */
function accumulate(
  f: HostFeatures,
  i: number,
  alpha: Float64Array,
  n: number,
  acc: Float64Array,
  scratch: Float64Array[],
): void {
  const { c } = f;
  const hw = f.h * f.w;
  // Three classes per pass over the activations (each value read once, three running sums):
  // about 2× faster in V8 than one pass per class.
  for (let s0 = 0; s0 < n; s0 += 3) {
    const a0 = acc.subarray(s0 * hw, (s0 + 1) * hw);
    const a1 = s0 + 1 < n ? acc.subarray((s0 + 1) * hw, (s0 + 2) * hw) : scratch[0]!;
    const a2 = s0 + 2 < n ? acc.subarray((s0 + 2) * hw, (s0 + 3) * hw) : scratch[1]!;
    a0.fill(0);
    a1.fill(0);
    a2.fill(0);
    const x = (ch: number, s: number) => (s < n ? alpha[s * c + ch]! : 0);
    if (f.layout === 'nchw') {
      for (let ch = 0; ch < c; ch++) {
        const base = (i * c + ch) * hw;
        const w0 = x(ch, s0),
          w1 = x(ch, s0 + 1),
          w2 = x(ch, s0 + 2);
        for (let p = 0; p < hw; p++) {
          const v = f.acts[base + p]!;
          a0[p] = a0[p]! + w0 * v;
          a1[p] = a1[p]! + w1 * v;
          a2[p] = a2[p]! + w2 * v;
        }
      }
    } else {
      const base = i * hw * c;
      for (let p = 0; p < hw; p++) {
        let t0 = 0,
          t1 = 0,
          t2 = 0;
        for (let ch = 0; ch < c; ch++) {
          const v = f.acts[base + p * c + ch]!;
          t0 += x(ch, s0) * v;
          t1 += x(ch, s0 + 1) * v;
          t2 += x(ch, s0 + 2) * v;
        }
        a0[p] = t0;
        a1[p] = t1;
        a2[p] = t2;
      }
    }
  }
}

/** The attention maps, each resized to the activations' resolution, summed, scaled to max 1: [B, h, w]. */
export function attentionMap(f: HostFeatures): Float32Array {
  const { b, h, w } = f;
  const sum = new Float32Array(b * h * w);
  for (const a of f.attention) {
    const r = resizeBilinear(a.data, b, a.h, a.w, h, w);
    for (let p = 0; p < sum.length; p++) sum[p] = sum[p]! + r[p]!;
  }
  return normalizeMax(sum, b);
}
