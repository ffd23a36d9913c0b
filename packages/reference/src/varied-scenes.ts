/**
 * The varied scene generator: a much wider family of scenes than `makeScene` (which stays as it
 * is, bit for bit), for training a reference model that survives a shift.
 *
 * Each scene is composed on a square canvas of a random side (40..128 px) and rescaled
 * (area-averaged, or bilinear when enlarged) to the 64x64 model input. On it:
 * - a background of one of several families: flat, linear gradient, radial gradient, value-noise
 *   texture, stripes, checks, blobs; colours and contrast random, optional pixel noise;
 * - 0-3 distractors behind the object: Fashion-MNIST items of other classes (smaller than the
 *   object) or clutter (strokes, rings, ellipses);
 * - the object: a Fashion-MNIST item, side a random fraction of the canvas, tinted, shaded,
 *   possibly mirrored and slightly rotated;
 * - 0-2 occluders in front (rectangles or ellipses, flat or striped), cut out of the mask;
 * - an optional colour cast, blur (before the rescale) and Gaussian pixel noise (after).
 * The mask is the labelled item's visible pixels only, at 64x64.
 *
 * Shift. The split `shifted` draws the test split's items on backgrounds of a family no other
 * split uses (`mosaic`: Voronoi cells of flat colours) at item scales no other split uses
 * (`SHIFTED_ITEM_SCALE`: smaller than any training item). It is meant for measuring, never for
 * a choice. Splits train/val/test use `TRAIN_BACKGROUNDS` and `TRAIN_ITEM_SCALE`.
 *
 * Every scene is a pure function of (seed, split, index); item ranges per split are those of
 * `makeScene` (train [0, 5000), val [5000, 6000), test and shifted [6000, 7002) per class).
 */
import seedrandom from 'seedrandom';
import { type DigitBank, type ItemBank, type Scene, SCENE_SIZE } from './fashion-scenes';

// Math's functions as module constants: in a jest (vm) context every global lookup in these
// per-pixel loops is slow. Same functions, same results.
const { PI, ceil: mCeil, cos: mCos, exp: mExp, floor: mFloor, hypot: mHypot, log: mLog, max: mMax, min: mMin, round: mRound, sin: mSin, sqrt: mSqrt } = Math;
const ITEM = 28;
const OUT = SCENE_SIZE;

export type VariedSplit = 'train' | 'val' | 'test' | 'shifted';
export const VARIED_SPLITS: readonly VariedSplit[] = ['train', 'val', 'test', 'shifted'];
const SPLIT_RANGE: Record<VariedSplit, [number, number]> = { train: [0, 5000], val: [5000, 6000], test: [6000, 7002], shifted: [6000, 7002] };

export const TRAIN_BACKGROUNDS = ['flat', 'linear', 'radial', 'noise', 'stripes', 'checks', 'blobs'] as const;
/** The background family held out of train/val/test: only the shifted split uses it. */
export const SHIFTED_BACKGROUND = 'mosaic' as const;
export type BackgroundFamily = (typeof TRAIN_BACKGROUNDS)[number] | typeof SHIFTED_BACKGROUND;
/** The object's side as a fraction of the canvas side. */
export const TRAIN_ITEM_SCALE: [number, number] = [0.46, 0.92];
/** Held out: smaller than any train/val/test item (at 64x64, 23-28 px against 29-59 px). */
export const SHIFTED_ITEM_SCALE: [number, number] = [0.36, 0.44];
export const CANVAS_SIDE: [number, number] = [40, 128];

type Rng = () => number;
type RGB = [number, number, number];
const randInt = (rng: Rng, lo: number, hi: number) => lo + mFloor(rng() * (hi - lo));
const uniform = (rng: Rng, lo: number, hi: number) => lo + rng() * (hi - lo);
const randColour = (rng: Rng, lo = 0, hi = 256): RGB => [randInt(rng, lo, hi), randInt(rng, lo, hi), randInt(rng, lo, hi)];
function gauss(rng: Rng): number {
  const u = mMax(1e-12, rng()), v = rng();
  return mSqrt(-2 * mLog(u)) * mCos(2 * PI * v);
}
const mix = (a: RGB, b: RGB, t: number): RGB => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];

interface Canvas { s: number; img: Float32Array }

function fill(c: Canvas, colourAt: (x: number, y: number) => RGB): void {
  for (let y = 0; y < c.s; y++) {
    for (let x = 0; x < c.s; x++) {
      const col = colourAt(x, y), k = (y * c.s + x) * 3;
      c.img[k] = col[0]; c.img[k + 1] = col[1]; c.img[k + 2] = col[2];
    }
  }
}

/** Background of one family. Two colours `a`, `b`: `b` pulled towards `a` by a random contrast. */
function paintBackground(rng: Rng, c: Canvas, family: BackgroundFamily): void {
  const s = c.s;
  const a = randColour(rng, 10, 246);
  const b = mix(a, randColour(rng, 10, 246), uniform(rng, 0.25, 1));
  const angle = rng() * PI, cos = mCos(angle), sin = mSin(angle);
  const period = s * uniform(rng, 0.06, 0.25);
  switch (family) {
    case 'flat':
      fill(c, () => a);
      break;
    case 'linear': {
      const off = rng();
      fill(c, (x, y) => mix(a, b, mMin(1, mMax(0, (x * cos + y * sin) / (s * 1.42) + off * 0.3))));
      break;
    }
    case 'radial': {
      const cx = rng() * s, cy = rng() * s, r = s * uniform(rng, 0.4, 1.2);
      fill(c, (x, y) => mix(a, b, mMin(1, mHypot(x - cx, y - cy) / r)));
      break;
    }
    case 'noise': {
      // Value noise: two octaves of a random grid, bilinearly interpolated.
      const octave = (cell: number) => {
        const n = mCeil(s / cell) + 2, g = Float32Array.from({ length: n * n }, () => rng());
        return (x: number, y: number) => {
          const u = x / cell, v = y / cell, x0 = mFloor(u), y0 = mFloor(v), fx = u - x0, fy = v - y0;
          const p = (i: number, j: number) => g[j * n + i]!;
          return (p(x0, y0) * (1 - fx) + p(x0 + 1, y0) * fx) * (1 - fy) + (p(x0, y0 + 1) * (1 - fx) + p(x0 + 1, y0 + 1) * fx) * fy;
        };
      };
      const o1 = octave(mMax(3, period * 1.5)), o2 = octave(mMax(2, period * 0.4));
      fill(c, (x, y) => mix(a, b, mMin(1, mMax(0, o1(x, y) * 0.7 + o2(x, y) * 0.3))));
      break;
    }
    case 'stripes': {
      const duty = uniform(rng, 0.3, 0.7), soft = rng() < 0.5;
      fill(c, (x, y) => {
        const ph = (((x * cos + y * sin) / period) % 1 + 1) % 1;
        return mix(a, b, soft ? (mSin(ph * 2 * PI) + 1) / 2 : ph < duty ? 1 : 0);
      });
      break;
    }
    case 'checks': {
      const rot = rng() < 0.5;
      fill(c, (x, y) => {
        const u = rot ? x * cos + y * sin : x, v = rot ? -x * sin + y * cos : y;
        return ((mFloor(u / period) + mFloor(v / period)) & 1) ? b : a;
      });
      break;
    }
    case 'blobs': {
      fill(c, () => a);
      const n = randInt(rng, 3, 10);
      for (let i = 0; i < n; i++) {
        const col = rng() < 0.5 ? mix(a, randColour(rng, 10, 246), uniform(rng, 0.3, 1)) : b;
        const cx = rng() * s, cy = rng() * s, rx = s * uniform(rng, 0.05, 0.3), ry = rx * uniform(rng, 0.5, 1.5);
        paintEllipse(c, cx, cy, rx, ry, uniform(rng, 0, PI), col, uniform(rng, 0.5, 1), true);
      }
      break;
    }
    case 'mosaic': {
      const n = randInt(rng, 6, 24);
      const pts = Array.from({ length: n }, () => ({ x: rng() * s, y: rng() * s, col: mix(a, randColour(rng, 10, 246), uniform(rng, 0.3, 1)) }));
      fill(c, (x, y) => {
        let best = pts[0]!, d = Infinity;
        for (const p of pts) {
          const dd = (p.x - x) ** 2 + (p.y - y) ** 2;
          if (dd < d) { d = dd; best = p; }
        }
        return best.col;
      });
      break;
    }
  }
}

/** Filled (or, `filled` false, a ring of width ~8% of the radius) ellipse blended at `opacity`; returns nothing. */
function paintEllipse(c: Canvas, cx: number, cy: number, rx: number, ry: number, rot: number, col: RGB, opacity: number, filled: boolean, cut?: Float32Array): void {
  const cos = mCos(rot), sin = mSin(rot), r = mMax(rx, ry) + 1;
  for (let y = mMax(0, mFloor(cy - r)); y < mMin(c.s, mCeil(cy + r)); y++) {
    for (let x = mMax(0, mFloor(cx - r)); x < mMin(c.s, mCeil(cx + r)); x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      const u = (dx * cos + dy * sin) / rx, v = (-dx * sin + dy * cos) / ry;
      const d = mSqrt(u * u + v * v);
      if (filled ? d > 1 : d > 1 || d < 0.85) continue;
      const k = (y * c.s + x) * 3;
      for (let ch = 0; ch < 3; ch++) c.img[k + ch] = c.img[k + ch]! * (1 - opacity) + col[ch]! * opacity;
      if (cut) cut[y * c.s + x] = 0;
    }
  }
}

/** A thick polyline stroke (clutter). */
function paintStroke(rng: Rng, c: Canvas, col: RGB): void {
  const w = c.s * uniform(rng, 0.015, 0.05);
  let x = rng() * c.s, y = rng() * c.s, dir = rng() * 2 * PI;
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

function sampleItem(items: Uint8Array, offset: number, u: number, v: number): number {
  if (u < 0 || v < 0 || u > ITEM - 1 || v > ITEM - 1) return 0;
  const x0 = mFloor(u), y0 = mFloor(v);
  const x1 = mMin(x0 + 1, ITEM - 1), y1 = mMin(y0 + 1, ITEM - 1);
  const fx = u - x0, fy = v - y0;
  const p = (x: number, y: number) => items[offset + y * ITEM + x]!;
  return ((p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy) / 255;
}

/**
 * Composites a 28x28 item of side `size` (canvas px) with its top-left at (x0, y0), mirrored
 * and rotated by `rot` about its centre; returns its coverage (alpha) on the canvas.
 */
function paintItem(
  c: Canvas, items: Uint8Array, index: number, size: number, x0: number, y0: number,
  colour: RGB, shadeLo: number, opacity: number, mirror: boolean, rot: number,
): Float32Array {
  const alphaMap = new Float32Array(c.s * c.s);
  const offset = index * ITEM * ITEM, scale = ITEM / size;
  const cx = x0 + size / 2, cy = y0 + size / 2, cos = mCos(rot), sin = mSin(rot);
  const r = size * 0.75;
  for (let y = mMax(0, mFloor(cy - r)); y < mMin(c.s, mCeil(cy + r)); y++) {
    for (let x = mMax(0, mFloor(cx - r)); x < mMin(c.s, mCeil(cx + r)); x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      let u = dx * cos + dy * sin, v = -dx * sin + dy * cos;
      if (mirror) u = -u;
      const i = sampleItem(items, offset, (u + size / 2) * scale - 0.5, (v + size / 2) * scale - 0.5);
      const alpha = mMin(1, i * 2) * opacity;
      if (alpha <= 0) continue;
      alphaMap[y * c.s + x] = alpha;
      const shade = shadeLo + (1 - shadeLo) * i, k = (y * c.s + x) * 3;
      for (let ch = 0; ch < 3; ch++) c.img[k + ch] = c.img[k + ch]! * (1 - alpha) + colour[ch]! * shade * alpha;
    }
  }
  return alphaMap;
}

/** Separable Gaussian blur of an RGB canvas. */
function blur(c: Canvas, sigma: number): void {
  const rad = mCeil(sigma * 2.5), kern: number[] = [];
  let sum = 0;
  for (let i = -rad; i <= rad; i++) { const w = mExp(-(i * i) / (2 * sigma * sigma)); kern.push(w); sum += w; }
  const k = kern.map((w) => w / sum), s = c.s, tmp = new Float32Array(c.img.length);
  for (const pass of [0, 1]) {
    const src = pass === 0 ? c.img : tmp, dst = pass === 0 ? tmp : c.img;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        for (let ch = 0; ch < 3; ch++) {
          let acc = 0;
          for (let i = -rad; i <= rad; i++) {
            const xx = pass === 0 ? mMin(s - 1, mMax(0, x + i)) : x, yy = pass === 1 ? mMin(s - 1, mMax(0, y + i)) : y;
            acc += src[(yy * s + xx) * 3 + ch]! * k[i + rad]!;
          }
          dst[(y * s + x) * 3 + ch] = acc;
        }
      }
    }
  }
}

/** Resamples an s x s map with `ch` channels to OUT x OUT: box average over the source footprint (bilinear when enlarging). */
function resize(src: Float32Array, s: number, ch: number): Float32Array {
  const dst = new Float32Array(OUT * OUT * ch);
  const ratio = s / OUT, sub = mMax(1, mCeil(ratio));
  for (let y = 0; y < OUT; y++) {
    for (let x = 0; x < OUT; x++) {
      for (let sy = 0; sy < sub; sy++) {
        for (let sx = 0; sx < sub; sx++) {
          const u = mMin(s - 1, mMax(0, (x + (sx + 0.5) / sub) * ratio - 0.5));
          const v = mMin(s - 1, mMax(0, (y + (sy + 0.5) / sub) * ratio - 0.5));
          const x0 = mFloor(u), y0 = mFloor(v), x1 = mMin(s - 1, x0 + 1), y1 = mMin(s - 1, y0 + 1), fx = u - x0, fy = v - y0;
          for (let c = 0; c < ch; c++) {
            const p = (i: number, j: number) => src[(j * s + i) * ch + c]!;
            dst[(y * OUT + x) * ch + c]! += ((p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy) / (sub * sub);
          }
        }
      }
    }
  }
  return dst;
}

export interface VariedSceneOptions { seed: string; split: VariedSplit }

/** What the varied generator drew for one scene (for tests and inspection). */
export interface VariedSceneInfo { canvas: number; background: BackgroundFamily; itemScale: number; distractors: number; occluders: number; blur: number; noise: number }

export interface VariedScene extends Scene { info: VariedSceneInfo }

/** Varied scene `index` of a split: deterministic in (seed, split, index). */
export function makeVariedScene(bank: ItemBank, { seed, split }: VariedSceneOptions, index: number): VariedScene {
  if (!VARIED_SPLITS.includes(split)) throw new Error(`makeVariedScene: split ${split}: use ${VARIED_SPLITS.join(', ')}`);
  const rng = seedrandom(`${seed}:varied-${split}:${index}`);
  const range = SPLIT_RANGE[split];
  const label = randInt(rng, 0, 10);
  const itemIndex = randInt(rng, range[0], mMin(range[1], bank[label]!.length / (ITEM * ITEM)));
  const shifted = split === 'shifted';
  return { ...composeVaried(rng, bank, range, bank[label]!, itemIndex, label, shifted), label, itemIndex };
}

/** An MNIST test digit as the object in the varied generator's test clutter (unknown objects); `label` is the digit. */
export function makeVariedDigitScene(bank: ItemBank, digits: DigitBank, seed: string, index: number): VariedScene {
  const rng = seedrandom(`${seed}:varied-digits:${index}`);
  const itemIndex = randInt(rng, 0, digits.n);
  return { ...composeVaried(rng, bank, SPLIT_RANGE.test, digits.images, itemIndex, -1, false), label: digits.labels[itemIndex]!, itemIndex };
}

function composeVaried(
  rng: Rng, bank: ItemBank, [lo, hi]: [number, number], items: Uint8Array, itemIndex: number, exclude: number, shifted: boolean,
): { image: Uint8Array; mask: Uint8Array; info: VariedSceneInfo } {
  const s = randInt(rng, CANVAS_SIDE[0], CANVAS_SIDE[1] + 1);
  const c: Canvas = { s, img: new Float32Array(s * s * 3) };
  const background: BackgroundFamily = shifted ? SHIFTED_BACKGROUND : TRAIN_BACKGROUNDS[randInt(rng, 0, TRAIN_BACKGROUNDS.length)]!;
  paintBackground(rng, c, background);
  const bgNoise = rng() < 0.4 ? uniform(rng, 2, 14) : 0;
  if (bgNoise > 0) for (let k = 0; k < c.img.length; k++) c.img[k]! += gauss(rng) * bgNoise;

  const [slo, shi] = shifted ? SHIFTED_ITEM_SCALE : TRAIN_ITEM_SCALE;
  const itemScale = uniform(rng, slo, shi);
  const size = itemScale * s;

  // Distractors, behind the object: smaller items of other classes, or clutter.
  const distractors = randInt(rng, 0, 4);
  for (let d = 0; d < distractors; d++) {
    if (rng() < 0.6) {
      let cls: number;
      if (exclude >= 0) { cls = randInt(rng, 0, 9); if (cls >= exclude) cls++; } else cls = randInt(rng, 0, 10);
      const idx = randInt(rng, lo, mMin(hi, bank[cls]!.length / (ITEM * ITEM)));
      const dsize = size * uniform(rng, 0.4, 0.75);
      paintItem(c, bank[cls]!, idx, dsize, uniform(rng, -dsize / 2, s - dsize / 2), uniform(rng, -dsize / 2, s - dsize / 2),
        randColour(rng, 40, 256), uniform(rng, 0.2, 0.6), uniform(rng, 0.6, 1), rng() < 0.5, uniform(rng, -0.5, 0.5));
    } else if (rng() < 0.5) {
      paintStroke(rng, c, randColour(rng));
    } else {
      const r = s * uniform(rng, 0.05, 0.2);
      paintEllipse(c, rng() * s, rng() * s, r, r * uniform(rng, 0.4, 1.6), rng() * PI, randColour(rng), uniform(rng, 0.6, 1), rng() < 0.5);
    }
  }

  // The object: anywhere with at least 85% of its box on the canvas.
  const margin = size * 0.075;
  const x0 = uniform(rng, -margin, s - size + margin), y0 = uniform(rng, -margin, s - size + margin);
  const grey = rng() < 0.15;
  const colour: RGB = grey ? (() => { const g = randInt(rng, 120, 256); return [g, g, g] as RGB; })() : randColour(rng, 40, 256);
  const alpha = paintItem(c, items, itemIndex, size, x0, y0, colour, uniform(rng, 0.25, 0.6), 1, rng() < 0.5, uniform(rng, -0.26, 0.26));
  const cover = new Float32Array(s * s);
  for (let i = 0; i < cover.length; i++) cover[i] = alpha[i]! > 0.3 ? 1 : 0;

  // Occluders in front: cut out of the mask.
  const occluders = rng() < 0.45 ? randInt(rng, 1, 3) : 0;
  for (let o = 0; o < occluders; o++) {
    const w = size * uniform(rng, 0.15, 0.4), h = size * uniform(rng, 0.15, 0.4);
    const ox = x0 + uniform(rng, -w / 2, size - w / 2), oy = y0 + uniform(rng, -h / 2, size - h / 2);
    const col = randColour(rng);
    if (rng() < 0.5) {
      const col2 = randColour(rng), striped = rng() < 0.4, p = mMax(2, w * 0.25);
      for (let y = mMax(0, mFloor(oy)); y < mMin(s, mCeil(oy + h)); y++) {
        for (let x = mMax(0, mFloor(ox)); x < mMin(s, mCeil(ox + w)); x++) {
          const cc = striped && mFloor((x + y) / p) % 2 ? col2 : col, k = (y * s + x) * 3;
          c.img[k] = cc[0]; c.img[k + 1] = cc[1]; c.img[k + 2] = cc[2];
          cover[y * s + x] = 0;
        }
      }
    } else {
      paintEllipse(c, ox + w / 2, oy + h / 2, w / 2, h / 2, rng() * PI, col, 1, true, cover);
    }
  }

  // Colour cast, blur, rescale to the input, pixel noise.
  if (rng() < 0.3) {
    const f = [uniform(rng, 0.7, 1.15), uniform(rng, 0.7, 1.15), uniform(rng, 0.7, 1.15)];
    for (let k = 0; k < c.img.length; k++) c.img[k]! *= f[k % 3]!;
  }
  const sigma = rng() < 0.35 ? uniform(rng, 0.4, 1.4) * (s / OUT) : 0;
  if (sigma > 0) blur(c, sigma);
  const img = resize(c.img, s, 3);
  const m = resize(cover, s, 1);
  const noise = rng() < 0.5 ? uniform(rng, 2, 16) : 0;
  const image = new Uint8Array(img.length);
  for (let i = 0; i < img.length; i++) image[i] = mMax(0, mMin(255, mRound(img[i]! + (noise > 0 ? gauss(rng) * noise : 0))));
  const mask = new Uint8Array(OUT * OUT);
  for (let i = 0; i < mask.length; i++) mask[i] = m[i]! >= 0.5 ? 1 : 0;
  return { image, mask, info: { canvas: s, background, itemScale, distractors, occluders, blur: sigma, noise } };
}
