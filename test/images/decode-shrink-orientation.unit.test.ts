import sharp from 'sharp';
import { decodeImage } from '@overmap/engine';

const opts = { size: [32, 32] as [number, number], maxInputPixels: 50_000_000, maxBytes: 50_000_000 };
const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;

/** Mean of one quadrant of a 32×32 RGB result: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
function quadrant(rgb: Uint8Array, q: number): number {
  const vals: number[] = [];
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++) {
      const i = ((y + (q >> 1) * 16) * 32 + x + (q & 1) * 16) * 3;
      vals.push(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!);
    }
  return mean(Uint8Array.from(vals));
}

/** A 2400×1600 photo, as seen: white top-left quadrant, black elsewhere; stored turned and tagged. */
async function taggedJpeg(orientation: number, storeRotation: number, progressive: boolean): Promise<Buffer> {
  const w = 2400,
    h = 1600;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h / 2; y++) raw.fill(255, y * w * 3, (y * w + w / 2) * 3);
  const turned = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .rotate(storeRotation)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(turned.data, { raw: turned.info })
    .withMetadata({ orientation })
    .jpeg({ quality: 90, progressive })
    .toBuffer();
}

describe('decodeImage on large JPEGs (shrink-on-load) with EXIF orientation', () => {
  // Stored rotation that the tag undoes: 3 = 180°, 6 = rotate 90° clockwise to view, 8 = 90° anticlockwise.
  it.each([
    [1, 0, false],
    [3, 180, false],
    [6, 270, false],
    [8, 90, true],
  ])('orientation %i (stored turned %i°, progressive %s) decodes upright', async (tag, turn, progressive) => {
    const jpeg = await taggedJpeg(tag, turn, progressive);
    const meta = await sharp(jpeg).metadata();
    expect(meta.orientation ?? 1).toBe(tag);
    const d = await decodeImage(jpeg, opts);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.rgb.length).toBe(32 * 32 * 3);
    expect(quadrant(d.rgb, 0)).toBeGreaterThan(240);
    for (const q of [1, 2, 3]) expect(quadrant(d.rgb, q)).toBeLessThan(15);
  });
});
