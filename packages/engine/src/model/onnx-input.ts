/** An ONNX model's image input: RGB bytes (HWC), normalised as the spec says, in the model's layout. */
import type { Normalization } from './model-spec';

/** images: one H·W·3 byte array each; returns [B, 3, H, W] (nchw) or [B, H, W, 3] (nhwc) float32. */
export function onnxImageBatch(
  images: Uint8Array[],
  size: [number, number],
  n: Normalization,
  layout: 'nchw' | 'nhwc',
): { data: Float32Array; dims: number[] } {
  const [h, w] = size;
  const px = h * w;
  const out = new Float32Array(images.length * px * 3);
  const mul = [0, 1, 2].map((c) => n.scale / n.std[c]!);
  const add = [0, 1, 2].map((c) => -n.mean[c]! / n.std[c]!);
  const [m0, m1, m2] = mul as [number, number, number];
  const [a0, a1, a2] = add as [number, number, number];
  images.forEach((img, b) => {
    if (img.length !== px * 3) throw new Error(`image ${b} has ${img.length} bytes, not ${h}x${w}x3`);
    const o = b * px * 3;
    // One sequential pass over the pixels, three channel writes each.
    if (layout === 'nchw') {
      for (let i = 0, j = 0; i < px; i++, j += 3) {
        out[o + i] = img[j]! * m0 + a0;
        out[o + px + i] = img[j + 1]! * m1 + a1;
        out[o + 2 * px + i] = img[j + 2]! * m2 + a2;
      }
    } else {
      for (let j = 0; j < px * 3; j += 3) {
        out[o + j] = img[j]! * m0 + a0;
        out[o + j + 1] = img[j + 1]! * m1 + a1;
        out[o + j + 2] = img[j + 2]! * m2 + a2;
      }
    }
  });
  return { data: out, dims: layout === 'nchw' ? [images.length, 3, h, w] : [images.length, h, w, 3] };
}
