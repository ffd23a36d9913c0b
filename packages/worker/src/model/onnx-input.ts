/** An ONNX model's image input: RGB bytes (HWC), normalised as the spec says, in the model's layout. */
import type { Normalization } from './model-spec';

/** images: one H·W·3 byte array each; returns [B, 3, H, W] (nchw) or [B, H, W, 3] (nhwc) float32. */
export function onnxImageBatch(images: Uint8Array[], size: [number, number], n: Normalization, layout: 'nchw' | 'nhwc'): { data: Float32Array; dims: number[] } {
  const [h, w] = size;
  const px = h * w;
  const out = new Float32Array(images.length * px * 3);
  const mul = [0, 1, 2].map((c) => n.scale / n.std[c]!);
  const add = [0, 1, 2].map((c) => -n.mean[c]! / n.std[c]!);
  images.forEach((img, b) => {
    if (img.length !== px * 3) throw new Error(`image ${b} has ${img.length} bytes, not ${h}x${w}x3`);
    const o = b * px * 3;
    for (let c = 0; c < 3; c++) {
      const m = mul[c]!, a = add[c]!;
      if (layout === 'nchw') {
        const oc = o + c * px;
        for (let i = 0; i < px; i++) out[oc + i] = img[i * 3 + c]! * m + a;
      } else {
        for (let i = 0; i < px; i++) out[o + i * 3 + c] = img[i * 3 + c]! * m + a;
      }
    }
  });
  return { data: out, dims: layout === 'nchw' ? [images.length, 3, h, w] : [images.length, h, w, 3] };
}
