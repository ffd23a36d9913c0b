/**
 * Map operations on plain arrays, batched as [B, h, w] in row-major Float32Arrays: what the
 * scorer does after the models have run. Both forward paths end here (the TF.js path reads its
 * maps back; the ONNX path never leaves JS, dense-head.ts), so every overlap and measure is
 * computed once, in one place. Each function matches the TF.js op it replaces to float
 * rounding (tests: host-maps.test.ts).
 */

/**
 * Bilinear resize of maps [B, h, w] to [B, H, W], as tf.image.resizeBilinear with its defaults
 * (alignCorners false, halfPixelCenters false): source = destination · (in / out).
 */
export function resizeBilinear(src: Float32Array, b: number, h: number, w: number, H: number, W: number): Float32Array {
  if (h === H && w === W) return src.slice();
  const out = new Float32Array(b * H * W);
  const rowRatio = h / H,
    colRatio = w / W;
  const c0 = new Int32Array(W),
    c1 = new Int32Array(W),
    cf = new Float32Array(W);
  for (let c = 0; c < W; c++) {
    const s = colRatio * c;
    c0[c] = Math.max(0, Math.floor(s));
    cf[c] = s - c0[c]!;
    c1[c] = Math.min(w - 1, Math.ceil(s));
  }
  let o = 0;
  for (let i = 0; i < b; i++) {
    const base = i * h * w;
    for (let r = 0; r < H; r++) {
      const s = rowRatio * r;
      const r0 = Math.max(0, Math.floor(s));
      const rf = s - r0;
      const top = base + r0 * w,
        bot = base + Math.min(h - 1, Math.ceil(s)) * w;
      for (let c = 0; c < W; c++) {
        const tl = src[top + c0[c]!]!,
          tr = src[top + c1[c]!]!,
          bl = src[bot + c0[c]!]!,
          br = src[bot + c1[c]!]!;
        const t = tl + (tr - tl) * cf[c]!;
        const u = bl + (br - bl) * cf[c]!;
        out[o++] = t + (u - t) * rf;
      }
    }
  }
  return out;
}

/** Scales each map of [B, px] to max 1, in place; a map whose maximum is 0 stays 0 (divNoNan). */
export function normalizeMax(maps: Float32Array, b: number): Float32Array {
  const px = maps.length / b;
  for (let i = 0; i < b; i++) {
    const m = maps.subarray(i * px, (i + 1) * px);
    let max = -Infinity;
    for (let k = 0; k < px; k++) if (m[k]! > max) max = m[k]!;
    if (max === 0) m.fill(0);
    else for (let k = 0; k < px; k++) m[k] = m[k]! / max;
  }
  return maps;
}

/** 1 where the map reaches the threshold, else 0. */
export function binarizeMap(map: Float32Array, threshold: number): Float32Array {
  const out = new Float32Array(map.length);
  for (let k = 0; k < map.length; k++) out[k] = map[k]! >= threshold ? 1 : 0;
  return out;
}

/** The mean of each map of [B, px]. */
export function meanPerMap(maps: Float32Array, b: number): Float64Array {
  const px = maps.length / b;
  const out = new Float64Array(b);
  for (let i = 0; i < b; i++) {
    let s = 0;
    for (let k = i * px; k < (i + 1) * px; k++) s += maps[k]!;
    out[i] = s / px;
  }
  return out;
}

/** Row-wise softmax of [B, K] scores (max-shifted, as tf.softmax). */
export function softmaxRows(z: Float32Array, b: number, k: number): Float32Array {
  const out = new Float32Array(b * k);
  for (let i = 0; i < b; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, z[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += out[i * k + j] = Math.exp(z[i * k + j]! - max);
    for (let j = 0; j < k; j++) out[i * k + j] = out[i * k + j]! / sum;
  }
  return out;
}

/** The k largest of each row of [B, K], descending, ties to the lower index (as tf.topk). */
export function topKRows(
  p: Float32Array,
  b: number,
  classes: number,
  k: number,
): { values: Float32Array; indices: Int32Array } {
  const values = new Float32Array(b * k),
    indices = new Int32Array(b * k);
  const order = Array.from({ length: classes }, (_, j) => j);
  for (let i = 0; i < b; i++) {
    const row = p.subarray(i * classes, (i + 1) * classes);
    order.sort((x, y) => row[y]! - row[x]! || x - y);
    for (let j = 0; j < k; j++) {
      indices[i * k + j] = order[j]!;
      values[i * k + j] = row[order[j]!]!;
    }
  }
  return { values, indices };
}
