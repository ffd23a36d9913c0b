/**
 * What a curator checks of an image before trusting its label, measured on the pixels the worker
 * has already decoded for the model (so no second decode): brightness, information (entropy),
 * sharpness (variance of the Laplacian), colourfulness, the file's own size and format, a content
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
  /** Shannon entropy of the 256-bin luma histogram, in bits, [0, 8] */
  entropy: number;
  /** variance of the 4-neighbour Laplacian of luma (0-255 scale), at the model's input size */
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
/** COS[u * 32 + x] = cos((2x + 1) u π / 64), for the 8 lowest frequencies u */
const COS = new Float64Array(LOW * HASH_SIDE);
for (let u = 0; u < LOW; u++)
  for (let x = 0; x < HASH_SIDE; x++) COS[u * HASH_SIDE + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * HASH_SIDE));

/** Luma of interleaved 8-bit RGB, 0-255. */
export function lumaOf(rgb: Uint8Array, pixels: number): Float32Array {
  const y = new Float32Array(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += 3) y[i] = 0.299 * rgb[j]! + 0.587 * rgb[j + 1]! + 0.114 * rgb[j + 2]!;
  return y;
}

/** Box-average of an h×w luma plane to 32×32 (nearest source pixel where the plane is smaller). */
function reduce32(luma: Float32Array, h: number, w: number): Float64Array {
  const out = new Float64Array(HASH_SIDE * HASH_SIDE);
  for (let r = 0; r < HASH_SIDE; r++) {
    const y0 = Math.floor((r * h) / HASH_SIDE),
      y1 = Math.max(y0 + 1, Math.floor(((r + 1) * h) / HASH_SIDE));
    for (let c = 0; c < HASH_SIDE; c++) {
      const x0 = Math.floor((c * w) / HASH_SIDE),
        x1 = Math.max(x0 + 1, Math.floor(((c + 1) * w) / HASH_SIDE));
      let s = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += luma[y * w + x]!;
      out[r * HASH_SIDE + c] = s / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/** The 64-bit DCT hash of an h×w luma plane, as 16 hex digits (bit 63 = coefficient (0, 0)). */
export function dctHash(luma: Float32Array, h: number, w: number): string {
  const px = reduce32(luma, h, w);
  // rows first: t[y][u] = sum_x px[y][x] cos_u(x); then d[v][u] = sum_y cos_v(y) t[y][u]
  const t = new Float64Array(HASH_SIDE * LOW);
  for (let y = 0; y < HASH_SIDE; y++)
    for (let u = 0; u < LOW; u++) {
      let s = 0;
      for (let x = 0; x < HASH_SIDE; x++) s += px[y * HASH_SIDE + x]! * COS[u * HASH_SIDE + x]!;
      t[y * LOW + u] = s;
    }
  const d = new Float64Array(LOW * LOW);
  for (let v = 0; v < LOW; v++)
    for (let u = 0; u < LOW; u++) {
      let s = 0;
      for (let y = 0; y < HASH_SIDE; y++) s += COS[v * HASH_SIDE + y]! * t[y * LOW + u]!;
      d[v * LOW + u] = s;
    }
  const sorted = Float64Array.from(d).sort();
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
): Pick<ImageMeasures, 'brightness' | 'entropy' | 'sharpness' | 'colorfulness'> {
  const n = h * w;
  const hist = new Float64Array(256);
  let sum = 0,
    spread = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const v = luma[i]!;
    sum += v;
    hist[Math.min(255, Math.round(v))]!++;
    const r = rgb[j]!,
      g = rgb[j + 1]!,
      b = rgb[j + 2]!;
    spread += Math.max(r, g, b) - Math.min(r, g, b);
  }
  let entropy = 0;
  for (const c of hist) if (c > 0) entropy -= (c / n) * Math.log2(c / n);
  // variance of the Laplacian over interior pixels (Pech-Pacheco et al. 2000)
  let s1 = 0,
    s2 = 0,
    m = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const lap = luma[i - w]! + luma[i + w]! + luma[i - 1]! + luma[i + 1]! - 4 * luma[i]!;
      s1 += lap;
      s2 += lap * lap;
      m++;
    }
  const sharpness = m > 0 ? Math.max(0, s2 / m - (s1 / m) ** 2) : 0;
  return { brightness: sum / n / 255, entropy: entropy + 0, sharpness, colorfulness: spread / n / 255 };
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
