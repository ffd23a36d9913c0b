/**
 * Painting for the varied scene generator (varied-scenes.ts): a square float canvas, shapes,
 * Fashion-MNIST items drawn scaled, tinted and rotated, blur and the rescale to the model input
 * (the background families are in varied-backgrounds.ts). Pure functions of their random stream.
 */
import { SCENE_SIZE } from './fashion-scenes';

// Math's functions as module constants: in a jest (vm) context every global lookup in these
// per-pixel loops is slow. Same functions, same results.
const {
  PI,
  ceil: mCeil,
  cos: mCos,
  exp: mExp,
  floor: mFloor,
  log: mLog,
  max: mMax,
  min: mMin,
  sin: mSin,
  sqrt: mSqrt,
} = Math;
const ITEM = 28;
const OUT = SCENE_SIZE;

export type Rng = () => number;
export type RGB = [number, number, number];
export const randInt = (rng: Rng, lo: number, hi: number) => lo + mFloor(rng() * (hi - lo));
export const uniform = (rng: Rng, lo: number, hi: number) => lo + rng() * (hi - lo);
export const randColour = (rng: Rng, lo = 0, hi = 256): RGB => [
  randInt(rng, lo, hi),
  randInt(rng, lo, hi),
  randInt(rng, lo, hi),
];
export function gauss(rng: Rng): number {
  const u = mMax(1e-12, rng()),
    v = rng();
  return mSqrt(-2 * mLog(u)) * mCos(2 * PI * v);
}
export const mix = (a: RGB, b: RGB, t: number): RGB => [
  a[0] + (b[0] - a[0]) * t,
  a[1] + (b[1] - a[1]) * t,
  a[2] + (b[2] - a[2]) * t,
];

export interface Canvas {
  s: number;
  img: Float32Array;
}

export function fill(c: Canvas, colourAt: (x: number, y: number) => RGB): void {
  for (let y = 0; y < c.s; y++) {
    for (let x = 0; x < c.s; x++) {
      const col = colourAt(x, y),
        k = (y * c.s + x) * 3;
      c.img[k] = col[0];
      c.img[k + 1] = col[1];
      c.img[k + 2] = col[2];
    }
  }
}

/**
 * Filled (or, `filled` false, a ring of width ~8% of the radius) ellipse blended at `opacity`;
 * returns nothing.
 */
export function paintEllipse(
  c: Canvas,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  rot: number,
  col: RGB,
  opacity: number,
  filled: boolean,
  cut?: Float32Array,
): void {
  const cos = mCos(rot),
    sin = mSin(rot),
    r = mMax(rx, ry) + 1;
  for (let y = mMax(0, mFloor(cy - r)); y < mMin(c.s, mCeil(cy + r)); y++) {
    for (let x = mMax(0, mFloor(cx - r)); x < mMin(c.s, mCeil(cx + r)); x++) {
      const dx = x + 0.5 - cx,
        dy = y + 0.5 - cy;
      const u = (dx * cos + dy * sin) / rx,
        v = (-dx * sin + dy * cos) / ry;
      const d = mSqrt(u * u + v * v);
      if (filled ? d > 1 : d > 1 || d < 0.85) continue;
      const k = (y * c.s + x) * 3;
      for (let ch = 0; ch < 3; ch++) c.img[k + ch] = c.img[k + ch]! * (1 - opacity) + col[ch]! * opacity;
      if (cut) cut[y * c.s + x] = 0;
    }
  }
}

/** A thick polyline stroke (clutter). */
export function paintStroke(rng: Rng, c: Canvas, col: RGB): void {
  const w = c.s * uniform(rng, 0.015, 0.05);
  let x = rng() * c.s,
    y = rng() * c.s,
    dir = rng() * 2 * PI;
  const segs = randInt(rng, 2, 6);
  for (let i = 0; i < segs; i++) {
    const len = c.s * uniform(rng, 0.1, 0.35);
    dir += uniform(rng, -1.2, 1.2);
    const steps = mCeil(len / mMax(0.5, w * 0.5));
    for (let t = 0; t < steps; t++) {
      x += (mCos(dir) * len) / steps;
      y += (mSin(dir) * len) / steps;
      paintEllipse(c, x, y, w, w, 0, col, 1, true);
    }
  }
}

export function sampleItem(items: Uint8Array, offset: number, u: number, v: number): number {
  if (u < 0 || v < 0 || u > ITEM - 1 || v > ITEM - 1) return 0;
  const x0 = mFloor(u),
    y0 = mFloor(v);
  const x1 = mMin(x0 + 1, ITEM - 1),
    y1 = mMin(y0 + 1, ITEM - 1);
  const fx = u - x0,
    fy = v - y0;
  const p = (x: number, y: number) => items[offset + y * ITEM + x]!;
  return ((p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy) / 255;
}

/**
 * Composites a 28x28 item of side `size` (canvas px) with its top-left at (x0, y0), mirrored
 * and rotated by `rot` about its centre; returns its coverage (alpha) on the canvas.
 */
export function paintItem(
  c: Canvas,
  items: Uint8Array,
  index: number,
  size: number,
  x0: number,
  y0: number,
  colour: RGB,
  shadeLo: number,
  opacity: number,
  mirror: boolean,
  rot: number,
): Float32Array {
  const alphaMap = new Float32Array(c.s * c.s);
  const offset = index * ITEM * ITEM,
    scale = ITEM / size;
  const cx = x0 + size / 2,
    cy = y0 + size / 2,
    cos = mCos(rot),
    sin = mSin(rot);
  const r = size * 0.75;
  for (let y = mMax(0, mFloor(cy - r)); y < mMin(c.s, mCeil(cy + r)); y++) {
    for (let x = mMax(0, mFloor(cx - r)); x < mMin(c.s, mCeil(cx + r)); x++) {
      const dx = x + 0.5 - cx,
        dy = y + 0.5 - cy;
      let u = dx * cos + dy * sin;
      const v = -dx * sin + dy * cos;
      if (mirror) u = -u;
      const i = sampleItem(items, offset, (u + size / 2) * scale - 0.5, (v + size / 2) * scale - 0.5);
      const alpha = mMin(1, i * 2) * opacity;
      if (alpha <= 0) continue;
      alphaMap[y * c.s + x] = alpha;
      const shade = shadeLo + (1 - shadeLo) * i,
        k = (y * c.s + x) * 3;
      for (let ch = 0; ch < 3; ch++) c.img[k + ch] = c.img[k + ch]! * (1 - alpha) + colour[ch]! * shade * alpha;
    }
  }
  return alphaMap;
}

/** Separable Gaussian blur of an RGB canvas. */
export function blur(c: Canvas, sigma: number): void {
  const rad = mCeil(sigma * 2.5),
    kern: number[] = [];
  let sum = 0;
  for (let i = -rad; i <= rad; i++) {
    const w = mExp(-(i * i) / (2 * sigma * sigma));
    kern.push(w);
    sum += w;
  }
  const k = kern.map((w) => w / sum),
    s = c.s,
    tmp = new Float32Array(c.img.length);
  for (const pass of [0, 1]) {
    const src = pass === 0 ? c.img : tmp,
      dst = pass === 0 ? tmp : c.img;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        for (let ch = 0; ch < 3; ch++) {
          let acc = 0;
          for (let i = -rad; i <= rad; i++) {
            const xx = pass === 0 ? mMin(s - 1, mMax(0, x + i)) : x,
              yy = pass === 1 ? mMin(s - 1, mMax(0, y + i)) : y;
            acc += src[(yy * s + xx) * 3 + ch]! * k[i + rad]!;
          }
          dst[(y * s + x) * 3 + ch] = acc;
        }
      }
    }
  }
}

/**
 * Resamples an s x s map with `ch` channels to OUT x OUT: box average over the source footprint
 * (bilinear when enlarging).
 */
export function resize(src: Float32Array, s: number, ch: number): Float32Array {
  const dst = new Float32Array(OUT * OUT * ch);
  const ratio = s / OUT,
    sub = mMax(1, mCeil(ratio));
  for (let y = 0; y < OUT; y++) {
    for (let x = 0; x < OUT; x++) {
      for (let sy = 0; sy < sub; sy++) {
        for (let sx = 0; sx < sub; sx++) {
          const u = mMin(s - 1, mMax(0, (x + (sx + 0.5) / sub) * ratio - 0.5));
          const v = mMin(s - 1, mMax(0, (y + (sy + 0.5) / sub) * ratio - 0.5));
          const x0 = mFloor(u),
            y0 = mFloor(v),
            x1 = mMin(s - 1, x0 + 1),
            y1 = mMin(s - 1, y0 + 1),
            fx = u - x0,
            fy = v - y0;
          for (let c = 0; c < ch; c++) {
            const p = (i: number, j: number) => src[(j * s + i) * ch + c]!;
            dst[(y * OUT + x) * ch + c]! +=
              ((p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy) /
              (sub * sub);
          }
        }
      }
    }
  }
  return dst;
}
