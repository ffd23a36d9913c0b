/**
 * An overlay PNG for a curator: the image, then the image under the Grad-CAM heat map, under
 * the attention map, and with the segmentation mask's contour, side by side at the mask's
 * resolution (scaled up 4x for viewing).
 */
import sharp from 'sharp';

/** Blue -> red colour ramp for a value in [0, 1]. */
function heat(v: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, v));
  return [
    Math.round(255 * Math.min(1, 2 * x)),
    Math.round(255 * (1 - Math.abs(2 * x - 1))),
    Math.round(255 * Math.min(1, 2 * (1 - x))),
  ];
}

export async function overlayPng(
  rgb: Uint8Array,
  imgSize: [number, number],
  maps: { gradcam: Float32Array; attention: Float32Array | null; mask: Float32Array; size: [number, number] },
): Promise<Buffer> {
  const [h, w] = maps.size;
  const base = await sharp(Buffer.from(rgb), { raw: { width: imgSize[1], height: imgSize[0], channels: 3 } })
    .resize(w, h, { fit: 'fill' })
    .raw()
    .toBuffer();
  const panels = 4;
  const out = Buffer.alloc(h * w * panels * 3);
  const put = (panel: number, y: number, x: number, c: [number, number, number]) => {
    const o = (y * w * panels + panel * w + x) * 3;
    out[o] = c[0];
    out[o + 1] = c[1];
    out[o + 2] = c[2];
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const px: [number, number, number] = [base[i * 3]!, base[i * 3 + 1]!, base[i * 3 + 2]!];
      put(0, y, x, px);
      const blend = (v: number): [number, number, number] => {
        const c = heat(v);
        return [0, 1, 2].map((k) => Math.round(px[k]! * 0.45 + c[k]! * 0.55)) as [number, number, number];
      };
      put(1, y, x, blend(maps.gradcam[i]!));
      put(2, y, x, maps.attention ? blend(maps.attention[i]!) : px);
      const m = maps.mask[i]! > 0.5;
      const edge =
        m &&
        [
          [0, 1],
          [1, 0],
          [0, -1],
          [-1, 0],
        ].some(([dy, dx]) => {
          const yy = y + dy!,
            xx = x + dx!;
          return yy < 0 || xx < 0 || yy >= h || xx >= w || maps.mask[yy * w + xx]! <= 0.5;
        });
      put(3, y, x, edge ? [0, 255, 0] : px);
    }
  }
  return sharp(out, { raw: { width: w * panels, height: h, channels: 3 } })
    .resize(w * panels * 4, h * 4, { kernel: 'nearest' })
    .png()
    .toBuffer();
}
