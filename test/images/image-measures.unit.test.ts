/**
 * Image measures against analytic values (a flat image, a checkerboard), the perceptual hash
 * against what the kinds of copy it claims to catch do to it (resize, recompression, brightness)
 * and what it does not (another scene), and the run-relative flags.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage, measureImage, pixelMeasures } from '@overmap/engine';
import {
  IMAGE_CHECKS,
  ImageStats,
  imageIssues,
  type ImageMeasuresRecord,
  parseHash64,
  popcount32,
} from '@overmap/shared';

const bits = (a: string, b: string) => {
  const [x, y] = [parseHash64(a), parseHash64(b)];
  return popcount32(x[0] ^ y[0]) + popcount32(x[1] ^ y[1]);
};
const SIZE: [number, number] = [64, 64];
const decodeOpts = { size: SIZE, maxInputPixels: 1e8, maxBytes: 1e8 };
async function measure(bytes: Buffer) {
  const d = await decodeImage(bytes, decodeOpts);
  if (!d.ok) throw new Error(d.error);
  return measureImage(bytes, d.rgb, SIZE);
}
const SAMPLES = path.join(__dirname, '../../samples/fashion-scenes');

describe('image measures', () => {
  it('a flat grey image: brightness v/255, no entropy, no sharpness, no colour', () => {
    const rgb = new Uint8Array(32 * 32 * 3).fill(100);
    expect(pixelMeasures(rgb, 32, 32)).toEqual({
      brightness: 100 / 255,
      luma_p05: 100 / 255,
      luma_p99: 100 / 255,
      entropy: 0,
      sharpness: 0,
      colorfulness: 0,
    });
  });

  it('a black-and-white checkerboard: 1 bit of entropy, Laplacian ±4·255 everywhere over luma variance 127.5² (+1)', () => {
    const n = 16;
    const rgb = new Uint8Array(n * n * 3);
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) rgb.fill((x + y) % 2 ? 255 : 0, (y * n + x) * 3, (y * n + x) * 3 + 3);
    const m = pixelMeasures(rgb, n, n);
    expect(m.entropy).toBeCloseTo(1, 10);
    expect(m.brightness).toBeCloseTo(0.5, 3);
    expect(m.sharpness).toBeCloseTo((4 * 255) ** 2 / (127.5 ** 2 + 1), 6);
    expect([m.luma_p05, m.luma_p99]).toEqual([0, 1]);
    expect(m.colorfulness).toBe(0);
  });

  it('reads the file size and format from the header, EXIF orientation applied, and hashes the bytes', async () => {
    const jpg = await sharp({ create: { width: 300, height: 100, channels: 3, background: '#336699' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const m = await measure(jpg);
    expect([m.width, m.height, m.format, m.bytes]).toEqual([100, 300, 'jpg', jpg.length]);
    expect(m.content_hash).toMatch(/^[0-9a-f]{32}$/);
    expect((await measure(Buffer.from(jpg))).content_hash).toBe(m.content_hash);
  });

  it('the perceptual hash survives resizing, recompression and a brightness change, and tells scenes apart', async () => {
    const files = (await fs.readdir(path.join(SAMPLES, 'bag'))).slice(0, 6).map((f) => path.join(SAMPLES, 'bag', f));
    const originals = await Promise.all(files.map((f) => fs.readFile(f)));
    const hashes = await Promise.all(originals.map(async (b) => (await measure(b)).phash));
    for (const [i, b] of originals.entries()) {
      const copies = [
        await sharp(b).resize(200, 200).jpeg({ quality: 70 }).toBuffer(),
        await sharp(b).jpeg({ quality: 50 }).toBuffer(),
        await sharp(b).modulate({ brightness: 1.2 }).png().toBuffer(),
      ];
      for (const c of copies) expect(bits((await measure(c)).phash, hashes[i]!)).toBeLessThanOrEqual(6);
      for (let j = i + 1; j < hashes.length; j++) expect(bits(hashes[i]!, hashes[j]!)).toBeGreaterThan(6);
    }
  });
});

describe('image issues against the run', () => {
  const base: ImageMeasuresRecord = {
    width: 640,
    height: 480,
    format: 'jpg',
    bytes: 1000,
    brightness: 0.5,
    luma_p05: 0.05,
    luma_p99: 0.95,
    entropy: 7,
    sharpness: 0.5,
    colorfulness: 0.3,
    content_hash: '0'.repeat(32),
    phash: '0'.repeat(16),
  };
  const run = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      ...base,
      brightness: 0.3 + (i % 10) / 25,
      luma_p99: 0.9 + (i % 5) / 50,
      entropy: 6.5 + (i % 7) / 10,
      sharpness: 0.2 + (i % 9) / 10,
    }));

  it('merged shard histograms give the fences of the whole', () => {
    const all = new ImageStats(),
      a = new ImageStats(),
      b = new ImageStats();
    run(200).forEach((m, i) => (all.add(m), (i % 2 ? a : b).add(m)));
    a.merge(b.hist ? { hist: b.hist, images: b.images } : b);
    expect(a.fences({ z: 3.5, off: [] })).toEqual(all.fences({ z: 3.5, off: [] }));
  });

  it('flags the planted outliers and nothing ordinary; honours the switched-off checks', () => {
    const stats = new ImageStats();
    run(200).forEach((m) => stats.add(m));
    const f = stats.fences({ z: 3.5, off: [] });
    expect(run(200).filter((m) => imageIssues(m, f).length > 0)).toEqual([]);
    expect(imageIssues({ ...base, brightness: 0.05, luma_p05: 0, luma_p99: 0.2 }, f)).toEqual(['dark']);
    expect(imageIssues({ ...base, brightness: 0.9, luma_p05: 0.7, luma_p99: 1 }, f)).toEqual(['light']);
    expect(imageIssues({ ...base, entropy: 0, sharpness: 0, colorfulness: 0 }, f)).toEqual([
      'blurry',
      'low_information',
      'grayscale',
    ]);
    expect(imageIssues({ ...base, width: 32, height: 32 }, f)).toEqual(['odd_size']);
    expect(imageIssues({ ...base, width: 4000, height: 400 }, f)).toEqual(['odd_aspect']);
    expect(imageIssues({ ...base, luma_p99: 0.2 }, stats.fences({ z: 3.5, off: ['dark'] }))).toEqual([]);
    expect(imageIssues(null, f)).toEqual([]);
    expect(Object.keys(IMAGE_CHECKS)).toContain('colorfulness');
  });
});
