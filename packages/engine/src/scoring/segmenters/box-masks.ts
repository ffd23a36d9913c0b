/** Boxes binarised into masks: what the detector and the boxes segmenters share. */

/** Binarised detector boxes: 1 inside any box (coordinates in [0, 1]), per image, [B*h*w]. */
export function boxMasks(perImage: number[][][], h: number, w: number): Float32Array {
  const out = new Float32Array(perImage.length * h * w);
  perImage.forEach((boxes, i) => {
    for (const [x0, y0, x1, y1] of boxes) {
      const ys = Math.max(0, Math.floor(y0! * h)),
        ye = Math.min(h, Math.ceil(y1! * h));
      const xs = Math.max(0, Math.floor(x0! * w)),
        xe = Math.min(w, Math.ceil(x1! * w));
      for (let y = ys; y < ye; y++) out.fill(1, i * h * w + y * w + xs, i * h * w + y * w + Math.max(xs, xe));
    }
  });
  return out;
}
