/**
 * Scene sets for training and measuring the reference models: generated scenes (either
 * generator) with their labels, seeded label flips and object masks, and their batches as tensors.
 */
import { tf } from '@overmap/engine';
import { type ItemBank, type Split, SCENE_SIZE, makeScene, noisyLabel } from './fashion-scenes';
import { type VariedSplit, makeVariedScene } from './varied-scenes';

/** `classic`: `makeScene` (the first reference model's scenes); `varied`: `makeVariedScene`. */
export type SceneGenerator = 'classic' | 'varied';

export interface SceneSet {
  images: Uint8Array; // n*64*64*3
  masks: Uint8Array; // n*64*64
  labels: Int32Array; // training labels (noisy for train)
  trueLabels: Int32Array;
  flipped: Uint8Array;
  n: number;
}

const PX = SCENE_SIZE * SCENE_SIZE;

export function generateScenes(
  bank: ItemBank,
  seed: string,
  split: Split | VariedSplit,
  n: number,
  noise = 0,
  generator: SceneGenerator = 'classic',
  skip?: [number, number],
): SceneSet {
  if (generator === 'classic' && split === 'shifted')
    throw new Error('generateScenes: the shifted split belongs to the varied generator');
  // Scene indices [0, n) without [skip[0], skip[1]) (a fold model never sees the half it scores).
  const indices = Array.from({ length: n }, (_, i) => i).filter((i) => !skip || i < skip[0] || i >= skip[1]);
  const m = indices.length;
  const set: SceneSet = {
    images: new Uint8Array(m * PX * 3),
    masks: new Uint8Array(m * PX),
    labels: new Int32Array(m),
    trueLabels: new Int32Array(m),
    flipped: new Uint8Array(m),
    n: m,
  };
  indices.forEach((i, j) => {
    const s =
      generator === 'varied'
        ? makeVariedScene(bank, { seed, split }, i)
        : makeScene(bank, { seed, split: split as Split }, i);
    set.images.set(s.image, j * PX * 3);
    set.masks.set(s.mask, j * PX);
    set.trueLabels[j] = s.label;
    const l = noise > 0 ? noisyLabel(seed, i, s.label, noise) : { label: s.label, flipped: false };
    set.labels[j] = l.label;
    set.flipped[j] = l.flipped ? 1 : 0;
  });
  return set;
}

export function batchImages(set: SceneSet, idx: number[]): tf.Tensor4D {
  const buf = new Float32Array(idx.length * PX * 3);
  idx.forEach((j, b) => {
    const src = set.images.subarray(j * PX * 3, (j + 1) * PX * 3);
    for (let k = 0; k < src.length; k++) buf[b * PX * 3 + k] = src[k]! / 255;
  });
  return tf.tensor4d(buf, [idx.length, SCENE_SIZE, SCENE_SIZE, 3]);
}

export function batchMasks(set: SceneSet, idx: number[]): tf.Tensor4D {
  const buf = new Float32Array(idx.length * PX);
  idx.forEach((j, b) => buf.set(set.masks.subarray(j * PX, (j + 1) * PX), b * PX));
  return tf.tensor4d(buf, [idx.length, SCENE_SIZE, SCENE_SIZE, 1]);
}
