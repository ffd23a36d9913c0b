/**
 * Untrusted bytes to model input: sharp/libvips decodes, applies EXIF orientation,
 * flattens alpha onto black, converts grey/CMYK/16-bit/palette images to 8-bit sRGB and
 * resizes to the model's input size. `limitInputPixels` refuses decompression bombs
 * before decoding. Every failure becomes a status, never an exception for the batch.
 */
import sharp from 'sharp';
import type { ImageStatus } from '@overmap/shared/core';

export type Decoded =
  { ok: true; rgb: Uint8Array; segRgb?: Uint8Array } | { ok: false; status: ImageStatus; error: string };

export interface DecodeOptions {
  size: [number, number]; // [h, w]
  segSize?: [number, number] | null;
  maxInputPixels: number;
  maxBytes: number;
}

// One libvips thread per call: the worker decodes several images concurrently instead.
sharp.concurrency(1);
sharp.cache(false);

async function toRgb(img: sharp.Sharp, [h, w]: [number, number]): Promise<Uint8Array> {
  const { data, info } = await img.resize(w, h, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== h * w * 3) throw new Error(`unexpected ${info.channels}-channel output`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * One sharp pipeline per image (two where the segmenter reads its own size): libvips checks
 * the header's pixel count against limitInputPixels before it decodes anything, so a separate
 * metadata() read would only repeat that check. On the reference scenes (64×64 PNG) each
 * pipeline costs about 0.5 CPU-ms, almost all of it sharp's per-call floor; that floor, not
 * the pixels, is the decode's share of the fleet's overhead (BENCHMARKS.md).
 */
export async function decodeImage(bytes: Buffer, o: DecodeOptions): Promise<Decoded> {
  if (bytes.length === 0) return { ok: false, status: 'decode_error', error: 'empty file (0 bytes)' };
  if (bytes.length > o.maxBytes)
    return {
      ok: false,
      status: 'too_large',
      error: `file is ${bytes.length} bytes, over the ${o.maxBytes}-byte limit`,
    };
  try {
    // failOn 'error' rejects truncated data instead of decoding grey garbage.
    const img = sharp(bytes, { limitInputPixels: o.maxInputPixels, failOn: 'error', pages: 1 })
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .removeAlpha();
    const twoSizes = o.segSize && (o.segSize[0] !== o.size[0] || o.segSize[1] !== o.size[1]);
    const rgb = await toRgb(twoSizes ? img.clone() : img, o.size);
    const seg = twoSizes ? await toRgb(img, o.segSize!) : undefined;
    return { ok: true, rgb, ...(seg ? { segRgb: seg } : {}) };
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg))
      return {
        ok: false,
        status: 'too_large',
        error: `over the ${o.maxInputPixels}-pixel limit (OVERMAP_MAX_INPUT_PIXELS): ${msg}`,
      };
    if (/unsupported image format|Input buffer contains unsupported/i.test(msg))
      return { ok: false, status: 'decode_error', error: `not a readable image: ${msg}` };
    return { ok: false, status: 'decode_error', error: `cannot decode: ${msg}` };
  }
}
