/**
 * Untrusted bytes to model input: sharp/libvips decodes, applies EXIF orientation,
 * flattens alpha onto black, converts grey/CMYK/16-bit/palette images to 8-bit sRGB and
 * resizes to the model's input size. `limitInputPixels` refuses decompression bombs
 * before decoding. Every failure becomes a status, never an exception for the batch.
 */
import sharp from 'sharp';
import type { ImageStatus } from '@overmap/shared';

export type Decoded = { ok: true; rgb: Uint8Array; segRgb?: Uint8Array; width: number; height: number } | { ok: false; status: ImageStatus; error: string };

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
  const { data, info } = await img.clone().resize(w, h, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== h * w * 3) throw new Error(`unexpected ${info.channels}-channel output`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export async function decodeImage(bytes: Buffer, o: DecodeOptions): Promise<Decoded> {
  if (bytes.length === 0) return { ok: false, status: 'decode_error', error: 'empty file (0 bytes)' };
  if (bytes.length > o.maxBytes) return { ok: false, status: 'too_large', error: `file is ${bytes.length} bytes, over the ${o.maxBytes}-byte limit` };
  let meta: sharp.Metadata;
  try {
    // metadata() reads the header only, so no pixel limit is needed to learn the size.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    return { ok: false, status: 'decode_error', error: `not a readable image: ${(e as Error).message}` };
  }
  if ((meta.width ?? 0) * (meta.height ?? 0) > o.maxInputPixels) {
    return { ok: false, status: 'too_large', error: `${meta.width}x${meta.height} pixels is over the ${o.maxInputPixels}-pixel limit` };
  }
  try {
    // failOn 'error' rejects truncated data instead of decoding grey garbage.
    const img = sharp(bytes, { limitInputPixels: o.maxInputPixels, failOn: 'error', pages: 1 })
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .removeAlpha();
    const rgb = await toRgb(img, o.size);
    const seg = o.segSize && (o.segSize[0] !== o.size[0] || o.segSize[1] !== o.size[1]) ? await toRgb(img, o.segSize) : undefined;
    return { ok: true, rgb, ...(seg ? { segRgb: seg } : {}), width: meta.width ?? 0, height: meta.height ?? 0 };
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) return { ok: false, status: 'too_large', error: msg };
    return { ok: false, status: 'decode_error', error: `cannot decode: ${msg}` };
  }
}
