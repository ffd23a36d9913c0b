/**
 * What a curator checks of an image before trusting its label, measured on the pixels the worker
 * has already decoded for the model (so no second decode): brightness (mean, and the 5th and 99th
 * percentiles, as CleanVision judges dark and light), information (entropy), sharpness (variance
 * of the Laplacian per unit of contrast), colourfulness, the file's own size and format, a content
 * hash of the bytes (exact copies) and a 64-bit perceptual hash (near copies). The flags
 * (dark, blurry, ...) are not decided here: finalize decides them against the run's own
 * distribution (shared/image-issues.ts), as CleanVision does against its dataset.
 *
 * The perceptual hash is the DCT hash of the imagehash library (Buchner; Zauner 2010): luma
 * reduced to 32×32, its 2-D DCT-II, the 8×8 lowest frequencies, one bit per coefficient above
 * their median. Resizing, recompression and brightness changes move few bits; a horizontal flip
 * moves many (flips are not caught).
 */
import { createHash } from 'node:crypto';
import { imageSize } from 'image-size';

export interface ImageMeasures {
  /** the file's width and height as displayed (EXIF orientation applied), null where the header is unreadable */
  width: number | null;
  height: number | null;
  /** the file's format (jpg, png, webp, ...), null where unknown */
  format: string | null;
  bytes: number;
  /** mean luma (Rec. 601) in [0, 1] */
  brightness: number;
  /** the 5th and 99th percentiles of luma in [0, 1]: how dark its darkest pixels are, how bright its brightest */
  luma_p05: number;
  luma_p99: number;
  /** Shannon entropy of the 256-bin luma histogram, in bits, [0, 8] */
  entropy: number;
  /**
   * variance of the 4-neighbour Laplacian of luma over the variance of luma (+1), at the model's
   * input size: edge energy per unit of contrast, so a sharp image of low contrast is not blurry
   */
  sharpness: number;
  /** mean over pixels of (max - min channel) / 255, [0, 1]: 0 for a grey image */
  colorfulness: number;
  /** the first 128 bits of the SHA-256 of the file's bytes, hex */
  content_hash: string;
  /** 64-bit DCT perceptual hash, 16 hex digits */
  phash: string;
}

const HASH_SIDE = 32;
const LOW = 8;
/**
 * Scratch buffers, reused by every call (the functions are synchronous, so no two calls share
 * them at once): allocating five typed arrays per image cost about a tenth of the measures.
 */
const SCRATCH = {
  px: new Float64Array(32 * 32),
  sum: new Float64Array(16),
  diff: new Float64Array(16),
  t: new Float64Array(32 * 8),
  d: new Float64Array(64),
  sorted: new Float64Array(64),
  hist: new Uint32Array(256),
};

/** COS[u * 32 + x] = cos((2x + 1) u π / 64), for the 8 lowest frequencies u */
const COS = new Float64Array(LOW * HASH_SIDE);
for (let u = 0; u < LOW; u++)
  for (let x = 0; x < HASH_SIDE; x++) COS[u * HASH_SIDE + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * HASH_SIDE));

/** Luma (Rec. 601, fixed point, rounded) of interleaved 8-bit RGB, 0-255. */
export function lumaOf(rgb: Uint8Array, pixels: number): Uint8Array {
  const y = new Uint8Array(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += 3)
    y[i] = (19595 * rgb[j]! + 38470 * rgb[j + 1]! + 7471 * rgb[j + 2]! + 32768) >>> 16;
  return y;
}

/** Each of the 32 cells' [start, end) along a side of n pixels (at least one pixel each), cached per n. */
const CELLS = new Map<number, Int32Array>();
function cellsOf(n: number): Int32Array {
  let c = CELLS.get(n);
  if (!c) {
    c = new Int32Array(2 * HASH_SIDE);
    for (let k = 0; k < HASH_SIDE; k++) {
      c[2 * k] = Math.floor((k * n) / HASH_SIDE);
      c[2 * k + 1] = Math.max(c[2 * k]! + 1, Math.floor(((k + 1) * n) / HASH_SIDE));
    }
    CELLS.set(n, c);
  }
  return c;
}

/** Box-average of an h×w luma plane to 32×32 (nearest source pixel where the plane is smaller). */
function reduce32(luma: Uint8Array, h: number, w: number): Float64Array {
  const out = SCRATCH.px.fill(0);
  const rows = cellsOf(h),
    cols = cellsOf(w);
  for (let r = 0; r < HASH_SIDE; r++) {
    const y0 = rows[2 * r]!,
      y1 = rows[2 * r + 1]!;
    for (let c = 0; c < HASH_SIDE; c++) {
      const x0 = cols[2 * c]!,
        x1 = cols[2 * c + 1]!;
      let s = 0;
      for (let y = y0; y < y1; y++) for (let x = x0, i = y * w + x0; x < x1; x++, i++) s += luma[i]!;
      out[r * HASH_SIDE + c] = s / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/** The 64-bit DCT hash of an h×w luma plane, as 16 hex digits (bit 63 = coefficient (0, 0)). */
export function dctHash(luma: Uint8Array, h: number, w: number): string {
  const px = reduce32(luma, h, w);
  const HALF = HASH_SIDE / 2;
  // cos_u(31 - x) = ±cos_u(x) (+ for even u): each pass sums mirrored pairs first, halving the products
  const { sum, diff } = SCRATCH;
  const t = SCRATCH.t; // t[y][u] = sum_x px[y][x] cos_u(x)
  for (let y = 0; y < HASH_SIDE; y++) {
    const row = y * HASH_SIDE;
    for (let x = 0; x < HALF; x++) {
      sum[x] = px[row + x]! + px[row + HASH_SIDE - 1 - x]!;
      diff[x] = px[row + x]! - px[row + HASH_SIDE - 1 - x]!;
    }
    for (let u = 0; u < LOW; u++) {
      const half = u % 2 === 0 ? sum : diff;
      let acc = 0;
      for (let x = 0, c = u * HASH_SIDE; x < HALF; x++, c++) acc += half[x]! * COS[c]!;
      t[y * LOW + u] = acc;
    }
  }
  const d = SCRATCH.d; // d[v][u] = sum_y cos_v(y) t[y][u]
  for (let u = 0; u < LOW; u++) {
    for (let y = 0; y < HALF; y++) {
      sum[y] = t[y * LOW + u]! + t[(HASH_SIDE - 1 - y) * LOW + u]!;
      diff[y] = t[y * LOW + u]! - t[(HASH_SIDE - 1 - y) * LOW + u]!;
    }
    for (let v = 0; v < LOW; v++) {
      const half = v % 2 === 0 ? sum : diff;
      let acc = 0;
      for (let y = 0, c = v * HASH_SIDE; y < HALF; y++, c++) acc += half[y]! * COS[c]!;
      d[v * LOW + u] = acc;
    }
  }
  const sorted = SCRATCH.sorted;
  sorted.set(d);
  sorted.sort();
  const median = (sorted[31]! + sorted[32]!) / 2;
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let n = 0;
    for (let b = 0; b < 4; b++) n = (n << 1) | (d[nibble * 4 + b]! > median ? 1 : 0);
    hex += n.toString(16);
  }
  return hex;
}

/** Brightness, entropy, sharpness and colourfulness of interleaved RGB of size h×w. */
export function pixelMeasures(
  rgb: Uint8Array,
  h: number,
  w: number,
  luma = lumaOf(rgb, h * w),
): Pick<ImageMeasures, 'brightness' | 'luma_p05' | 'luma_p99' | 'entropy' | 'sharpness' | 'colorfulness'> {
  const n = h * w;
  const hist = SCRATCH.hist.fill(0);
  let spread = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    hist[luma[i]!]!++;
    const r = rgb[j]!,
      g = rgb[j + 1]!,
      b = rgb[j + 2]!;
    const hi = r > g ? (r > b ? r : b) : g > b ? g : b;
    const lo = r < g ? (r < b ? r : b) : g < b ? g : b;
    spread += hi - lo;
  }
  // mean, variance, entropy and percentiles, all from the histogram
  let sum = 0,
    sumSq = 0,
    entropy = 0;
  for (let v = 0; v < 256; v++) {
    const c = hist[v]!;
    if (c === 0) continue;
    sum += c * v;
    sumSq += c * v * v;
    entropy -= (c / n) * Math.log2(c / n);
  }
  const percentile = (q: number) => {
    let seen = 0;
    for (let v = 0; v < 256; v++) if ((seen += hist[v]!) >= q * n) return v / 255;
    return 1;
  };
  const mean = sum / n;
  const variance = Math.max(0, sumSq / n - mean * mean);
  // variance of the Laplacian over interior pixels (Pech-Pacheco et al. 2000)
  let s1 = 0,
    s2 = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1, i = y * w + 1; x < w - 1; x++, i++) {
      const lap = luma[i - w]! + luma[i + w]! + luma[i - 1]! + luma[i + 1]! - 4 * luma[i]!;
      s1 += lap;
      s2 += lap * lap;
    }
  const m = Math.max(0, (h - 2) * (w - 2));
  const lapVariance = m > 0 ? Math.max(0, s2 / m - (s1 / m) ** 2) : 0;
  return {
    brightness: mean / 255,
    luma_p05: percentile(0.05),
    luma_p99: percentile(0.99),
    entropy: entropy + 0,
    sharpness: lapVariance / (variance + 1),
    colorfulness: spread / n / 255,
  };
}

/** The file's displayed size and format from its header (microseconds: no decode), or nulls. */
function header(bytes: Buffer): Pick<ImageMeasures, 'width' | 'height' | 'format'> {
  try {
    const s = imageSize(bytes);
    const turned = (s.orientation ?? 1) >= 5; // EXIF 5-8: a quarter turn swaps the sides
    return {
      width: (turned ? s.height : s.width) ?? null,
      height: (turned ? s.width : s.height) ?? null,
      format: s.type ?? null,
    };
  } catch {
    return { width: null, height: null, format: null };
  }
}

/** Every measure of one image: its file's bytes and its decoded h×w RGB. */
export function measureImage(bytes: Buffer, rgb: Uint8Array, [h, w]: readonly [number, number]): ImageMeasures {
  const luma = lumaOf(rgb, h * w);
  return {
    ...header(bytes),
    bytes: bytes.length,
    ...pixelMeasures(rgb, h, w, luma),
    content_hash: createHash('sha256').update(bytes).digest('hex').slice(0, 32),
    phash: dctHash(luma, h, w),
  };
}
