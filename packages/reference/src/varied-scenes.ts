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
import { paintBackground } from './varied-backgrounds';
import {
  type Canvas,
  type RGB,
  type Rng,
  blur,
  gauss,
  paintEllipse,
  paintItem,
  paintStroke,
  randColour,
  randInt,
  resize,
  uniform,
} from './varied-canvas';

// Math's functions as module constants: in a jest (vm) context every global lookup in these
// per-pixel loops is slow. Same functions, same results.
const { PI, ceil: mCeil, floor: mFloor, max: mMax, min: mMin, round: mRound } = Math;
const ITEM = 28;
const OUT = SCENE_SIZE;

export type VariedSplit = 'train' | 'val' | 'test' | 'shifted';
export const VARIED_SPLITS: readonly VariedSplit[] = ['train', 'val', 'test', 'shifted'];
const SPLIT_RANGE: Record<VariedSplit, [number, number]> = {
  train: [0, 5000],
  val: [5000, 6000],
  test: [6000, 7002],
  shifted: [6000, 7002],
};

export const TRAIN_BACKGROUNDS = ['flat', 'linear', 'radial', 'noise', 'stripes', 'checks', 'blobs'] as const;
/** The background family held out of train/val/test: only the shifted split uses it. */
export const SHIFTED_BACKGROUND = 'mosaic' as const;
export type BackgroundFamily = (typeof TRAIN_BACKGROUNDS)[number] | typeof SHIFTED_BACKGROUND;
/** The object's side as a fraction of the canvas side. */
export const TRAIN_ITEM_SCALE: [number, number] = [0.46, 0.92];
/** Held out: smaller than any train/val/test item (at 64x64, 23-28 px against 29-59 px). */
export const SHIFTED_ITEM_SCALE: [number, number] = [0.36, 0.44];
export const CANVAS_SIDE: [number, number] = [40, 128];

export interface VariedSceneOptions {
  seed: string;
  split: VariedSplit;
}

/** What the varied generator drew for one scene (for tests and inspection). */
export interface VariedSceneInfo {
  canvas: number;
  background: BackgroundFamily;
  itemScale: number;
  distractors: number;
  occluders: number;
  blur: number;
  noise: number;
}

export interface VariedScene extends Scene {
  info: VariedSceneInfo;
}

/** Varied scene `index` of a split: deterministic in (seed, split, index). */
export function makeVariedScene(bank: ItemBank, { seed, split }: VariedSceneOptions, index: number): VariedScene {
  if (!VARIED_SPLITS.includes(split))
    throw new Error(`makeVariedScene: split ${split}: use ${VARIED_SPLITS.join(', ')}`);
  const rng = seedrandom(`${seed}:varied-${split}:${index}`);
  const range = SPLIT_RANGE[split];
  const label = randInt(rng, 0, 10);
  const itemIndex = randInt(rng, range[0], mMin(range[1], bank[label]!.length / (ITEM * ITEM)));
  const shifted = split === 'shifted';
  return { ...composeVaried(rng, bank, range, bank[label]!, itemIndex, label, shifted), label, itemIndex };
}

/**
 * An MNIST test digit as the object in the varied generator's test clutter (unknown objects);
 * `label` is the digit.
 */
export function makeVariedDigitScene(bank: ItemBank, digits: DigitBank, seed: string, index: number): VariedScene {
  const rng = seedrandom(`${seed}:varied-digits:${index}`);
  const itemIndex = randInt(rng, 0, digits.n);
  return {
    ...composeVaried(rng, bank, SPLIT_RANGE.test, digits.images, itemIndex, -1, false),
    label: digits.labels[itemIndex]!,
    itemIndex,
  };
}

function composeVaried(
  rng: Rng,
  bank: ItemBank,
  range: [number, number],
  items: Uint8Array,
  itemIndex: number,
  exclude: number,
  shifted: boolean,
): { image: Uint8Array; mask: Uint8Array; info: VariedSceneInfo } {
  const s = randInt(rng, CANVAS_SIDE[0], CANVAS_SIDE[1] + 1);
  const c: Canvas = { s, img: new Float32Array(s * s * 3) };
  const background: BackgroundFamily = shifted
    ? SHIFTED_BACKGROUND
    : TRAIN_BACKGROUNDS[randInt(rng, 0, TRAIN_BACKGROUNDS.length)]!;
  paintBackground(rng, c, background);
  const bgNoise = rng() < 0.4 ? uniform(rng, 2, 14) : 0;
  if (bgNoise > 0) for (let k = 0; k < c.img.length; k++) c.img[k]! += gauss(rng) * bgNoise;

  const [slo, shi] = shifted ? SHIFTED_ITEM_SCALE : TRAIN_ITEM_SCALE;
  const itemScale = uniform(rng, slo, shi);
  const size = itemScale * s;

  const distractors = paintDistractors(rng, c, bank, range, exclude, size);
  const { cover, x0, y0 } = paintObject(rng, c, items, itemIndex, size);
  const occluders = paintOccluders(rng, c, cover, x0, y0, size);
  const { image, mask, sigma, noise } = finishScene(rng, c, cover);
  return { image, mask, info: { canvas: s, background, itemScale, distractors, occluders, blur: sigma, noise } };
}

/** 0-3 distractors, behind the object: smaller items of classes other than `exclude`, or clutter. */
function paintDistractors(
  rng: Rng,
  c: Canvas,
  bank: ItemBank,
  [lo, hi]: [number, number],
  exclude: number,
  size: number,
): number {
  const s = c.s;
  const distractors = randInt(rng, 0, 4);
  for (let d = 0; d < distractors; d++) {
    if (rng() < 0.6) {
      let cls: number;
      if (exclude >= 0) {
        cls = randInt(rng, 0, 9);
        if (cls >= exclude) cls++;
      } else cls = randInt(rng, 0, 10);
      const idx = randInt(rng, lo, mMin(hi, bank[cls]!.length / (ITEM * ITEM)));
      const dsize = size * uniform(rng, 0.4, 0.75);
      paintItem(
        c,
        bank[cls]!,
        idx,
        dsize,
        uniform(rng, -dsize / 2, s - dsize / 2),
        uniform(rng, -dsize / 2, s - dsize / 2),
        randColour(rng, 40, 256),
        uniform(rng, 0.2, 0.6),
        uniform(rng, 0.6, 1),
        rng() < 0.5,
        uniform(rng, -0.5, 0.5),
      );
    } else if (rng() < 0.5) {
      paintStroke(rng, c, randColour(rng));
    } else {
      const r = s * uniform(rng, 0.05, 0.2);
      paintEllipse(
        c,
        rng() * s,
        rng() * s,
        r,
        r * uniform(rng, 0.4, 1.6),
        rng() * PI,
        randColour(rng),
        uniform(rng, 0.6, 1),
        rng() < 0.5,
      );
    }
  }
  return distractors;
}

/** The object, anywhere with at least 85% of its box on the canvas; its coverage (0/1) and top-left. */
function paintObject(
  rng: Rng,
  c: Canvas,
  items: Uint8Array,
  itemIndex: number,
  size: number,
): { cover: Float32Array; x0: number; y0: number } {
  const s = c.s;
  const margin = size * 0.075;
  const x0 = uniform(rng, -margin, s - size + margin),
    y0 = uniform(rng, -margin, s - size + margin);
  const grey = rng() < 0.15;
  const colour: RGB = grey
    ? (() => {
        const g = randInt(rng, 120, 256);
        return [g, g, g] as RGB;
      })()
    : randColour(rng, 40, 256);
  const alpha = paintItem(
    c,
    items,
    itemIndex,
    size,
    x0,
    y0,
    colour,
    uniform(rng, 0.25, 0.6),
    1,
    rng() < 0.5,
    uniform(rng, -0.26, 0.26),
  );
  const cover = new Float32Array(s * s);
  for (let i = 0; i < cover.length; i++) cover[i] = alpha[i]! > 0.3 ? 1 : 0;
  return { cover, x0, y0 };
}

/** 0-2 occluders in front of the object at (x0, y0): cut out of `cover`. Returns how many. */
function paintOccluders(rng: Rng, c: Canvas, cover: Float32Array, x0: number, y0: number, size: number): number {
  const s = c.s;
  const occluders = rng() < 0.45 ? randInt(rng, 1, 3) : 0;
  for (let o = 0; o < occluders; o++) {
    const w = size * uniform(rng, 0.15, 0.4),
      h = size * uniform(rng, 0.15, 0.4);
    const ox = x0 + uniform(rng, -w / 2, size - w / 2),
      oy = y0 + uniform(rng, -h / 2, size - h / 2);
    const col = randColour(rng);
    if (rng() < 0.5) {
      const col2 = randColour(rng),
        striped = rng() < 0.4,
        p = mMax(2, w * 0.25);
      for (let y = mMax(0, mFloor(oy)); y < mMin(s, mCeil(oy + h)); y++) {
        for (let x = mMax(0, mFloor(ox)); x < mMin(s, mCeil(ox + w)); x++) {
          const cc = striped && mFloor((x + y) / p) % 2 ? col2 : col,
            k = (y * s + x) * 3;
          c.img[k] = cc[0];
          c.img[k + 1] = cc[1];
          c.img[k + 2] = cc[2];
          cover[y * s + x] = 0;
        }
      }
    } else {
      paintEllipse(c, ox + w / 2, oy + h / 2, w / 2, h / 2, rng() * PI, col, 1, true, cover);
    }
  }
  return occluders;
}

/** Colour cast, blur, rescale to the input, pixel noise; the mask is `cover` rescaled. */
function finishScene(
  rng: Rng,
  c: Canvas,
  cover: Float32Array,
): { image: Uint8Array; mask: Uint8Array; sigma: number; noise: number } {
  const s = c.s;
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
  for (let i = 0; i < img.length; i++)
    image[i] = mMax(0, mMin(255, mRound(img[i]! + (noise > 0 ? gauss(rng) * noise : 0))));
  const mask = new Uint8Array(OUT * OUT);
  for (let i = 0; i < mask.length; i++) mask[i] = m[i]! >= 0.5 ? 1 : 0;
  return { image, mask, sigma, noise };
}
