import sharp from 'sharp';
import { decodeImage } from '@overmap/engine';

const opts = { size: [32, 32] as [number, number], maxInputPixels: 1_000_000, maxBytes: 10_000_000 };
const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;

describe('decodeImage', () => {
  it.each([
    [
      'grey PNG',
      () =>
        sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } })
          .greyscale()
          .png()
          .toBuffer(),
    ],
    [
      'RGBA PNG',
      () =>
        sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 0, b: 0, alpha: 0.5 } } })
          .png()
          .toBuffer(),
    ],
    [
      '16-bit PNG',
      () =>
        sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } })
          .toColourspace('rgb16')
          .png()
          .toBuffer(),
    ],
    [
      'palette PNG',
      () =>
        sharp({ create: { width: 40, height: 30, channels: 3, background: '#00ff00' } })
          .png({ palette: true })
          .toBuffer(),
    ],
    [
      'CMYK JPEG',
      () =>
        sharp({ create: { width: 40, height: 30, channels: 3, background: '#ffcc00' } })
          .toColourspace('cmyk')
          .jpeg()
          .toBuffer(),
    ],
    [
      'WebP',
      () =>
        sharp({ create: { width: 40, height: 30, channels: 3, background: '#123456' } })
          .webp()
          .toBuffer(),
    ],
  ])('%s becomes 8-bit RGB at the model size', async (_name, make) => {
    const d = await decodeImage(await make(), opts);
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.rgb).toHaveLength(32 * 32 * 3);
  });

  it('keeps colour through CMYK and flattens alpha onto black', async () => {
    const cmyk = await decodeImage(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } })
        .toColourspace('cmyk')
        .jpeg({ quality: 100 })
        .toBuffer(),
      opts,
    );
    expect(cmyk.ok && cmyk.rgb[0]! > 200 && cmyk.rgb[1]! < 60).toBe(true);
    const rgba = await decodeImage(
      await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } } })
        .png()
        .toBuffer(),
      opts,
    );
    expect(rgba.ok && mean(rgba.rgb)).toBe(0);
  });

  it('applies EXIF orientation: a landscape image tagged "rotate 90" decodes as portrait', async () => {
    // Left half white, right half black, 40x20; orientation 6 = rotate 90° clockwise to view.
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) raw.fill(255, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
    const jpeg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 100 })
      .toBuffer();
    const d = await decodeImage(jpeg, opts);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    // Rotated clockwise, the white left half becomes the top half.
    const top = mean(d.rgb.subarray(0, 16 * 32 * 3)),
      bottom = mean(d.rgb.subarray(16 * 32 * 3));
    expect(top).toBeGreaterThan(200);
    expect(bottom).toBeLessThan(50);
  });

  it('refuses a decompression bomb before decoding it, as too_large', async () => {
    const bomb = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(200_000);
    const d = await decodeImage(bomb, opts);
    expect(d).toMatchObject({ ok: false, status: 'too_large' });
  });
});
