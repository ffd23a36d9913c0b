/**
 * The saliency segmenter (`segmenter.type: saliency`): a prior that needs no weights
 * (frequency-tuned saliency, Achanta et al. 2009: distance of each blurred pixel's colour
 * from the image's mean colour), binarised per image with Otsu's threshold (Otsu 1979).
 */
import * as tf from '../../backend/tf';
import type { MaskInput, Segmenter } from './segmenter';

/** Colour distance (RGB in [0, 1]) below which nothing counts as salient. */
export const MIN_SALIENT_DISTANCE = 0.02;

/** Saliency map in [0, 1], [B, H, W], from RGB images in [0, 1], [B, H, W, 3]. */
export function frequencyTunedSaliency(images: tf.Tensor4D, blur: number): tf.Tensor3D {
  return tf.tidy(() => {
    // Reflect-pad before the box blur: zero padding would darken the border and make it "salient".
    const lo = Math.floor((blur - 1) / 2),
      hi = blur - 1 - lo;
    const blurred = tf.avgPool(
      tf.mirrorPad(
        images,
        [
          [0, 0],
          [lo, hi],
          [lo, hi],
          [0, 0],
        ],
        'reflect',
      ),
      blur,
      1,
      'valid',
    );
    const mean = tf.mean(images, [1, 2], true);
    const dist = tf.sqrt(tf.sum(tf.square(tf.sub(blurred, mean)), -1)) as tf.Tensor3D;
    // Normalise by the image's largest distance, but never by less than a visible colour
    // difference (~5/255): a flat image then has no salient pixel instead of rounding noise
    // blown up to 1.
    return tf.div(dist, tf.maximum(tf.max(dist, [1, 2], true), MIN_SALIENT_DISTANCE)) as tf.Tensor3D;
  });
}

/** Otsu's threshold of values in [0, 1]: maximises the between-class variance over 256 bins. */
export function otsuThreshold(values: ArrayLike<number>, offset = 0, length = values.length): number {
  const hist = new Float64Array(256);
  for (let i = offset; i < offset + length; i++) hist[Math.min(255, Math.max(0, Math.floor(values[i]! * 256)))]!++;
  let sumAll = 0;
  for (let t = 0; t < 256; t++) sumAll += t * hist[t]!;
  let wB = 0,
    sumB = 0,
    best = -1,
    threshold = 0;
  for (let t = 0; t < 256; t++) {
    wB += hist[t]!;
    if (wB === 0) continue;
    const wF = length - wB;
    if (wF === 0) break;
    sumB += t * hist[t]!;
    const mB = sumB / wB,
      mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) * (mB - mF);
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return (threshold + 1) / 256;
}

/** Binarises each saliency map at its own Otsu threshold. */
export function saliencyMask(saliency: tf.Tensor3D): tf.Tensor3D {
  const [b, h, w] = saliency.shape;
  const data = saliency.dataSync();
  const thresholds = new Float32Array(b);
  for (let i = 0; i < b; i++) thresholds[i] = otsuThreshold(data, i * h * w, h * w);
  return tf.tidy(() => tf.greaterEqual(saliency, tf.tensor3d(thresholds, [b, 1, 1])).toFloat() as tf.Tensor3D);
}

export class SaliencySegmenter implements Segmenter {
  readonly inputSize = null;
  constructor(private readonly blur: number) {}
  masks({ raw }: MaskInput): tf.Tensor3D {
    return saliencyMask(frequencyTunedSaliency(tf.div(raw, 255) as tf.Tensor4D, this.blur));
  }
  dispose(): void {}
}
