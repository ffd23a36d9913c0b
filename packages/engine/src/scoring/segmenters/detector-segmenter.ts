/**
 * A detector run in the worker (`segmenter.type: detector`): a TF.js Layers model or a
 * tfjs-converter graph exported without NMS; boxes scoring at least `minScore` are
 * binarised into the mask (the paper's binarised R-CNN maps).
 */
import { ModelSpecError } from '@overmap/shared/core';
import * as tf from '../../backend/tf';
import type { ModelSpec } from '../../model/model-spec';
import { normalize } from '../preprocess';
import { boxMasks } from './box-masks';
import type { MaskInput, Segmenter } from './segmenter';

type Spec = Extract<ModelSpec['segmenter'], { type: 'detector' }>;

/** Detector outputs -> per image, boxes [x0, y0, x1, y1] (normalised) scoring at least minScore. */
export function detectorBoxes(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  batch: number,
  k: number,
  format: 'yxyx' | 'xyxy',
  minScore: number,
): number[][][] {
  return Array.from({ length: batch }, (_, i) => {
    const out: number[][] = [];
    for (let j = 0; j < k; j++) {
      if (!(scores[i * k + j]! >= minScore)) continue; // NaN scores never pass
      const [a, b, c, d] = [0, 1, 2, 3].map((q) => boxes[(i * k + j) * 4 + q]!) as [number, number, number, number];
      const [x0, y0, x1, y1] = format === 'yxyx' ? [b, a, d, c] : [a, b, c, d];
      out.push([Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]);
    }
    return out;
  });
}

/** A detector's boxes and scores tensors from its outputs, checked against the spec. */
function detectorOutputs(
  outs: tf.Tensor | tf.Tensor[],
  spec: Spec,
  b: number,
): { boxes: tf.Tensor; scores: tf.Tensor; k: number } {
  const list = Array.isArray(outs) ? outs : [outs];
  const boxes = list[spec.boxesOutput],
    scores = list[spec.scoresOutput];
  if (!boxes || !scores)
    throw new ModelSpecError(
      `the detector has ${list.length} output(s): the spec's boxesOutput ${spec.boxesOutput} / scoresOutput ${spec.scoresOutput} do not exist`,
    );
  const k = boxes.shape[1] ?? 0;
  if (boxes.rank !== 3 || boxes.shape[0] !== b || boxes.shape[2] !== 4)
    throw new ModelSpecError(
      `the detector's output ${spec.boxesOutput} is [${boxes.shape.join(',')}]: boxes must be [batch, K, 4]`,
    );
  if (scores.shape[0] !== b || scores.shape[1] !== k || scores.size !== b * k)
    throw new ModelSpecError(
      `the detector's output ${spec.scoresOutput} is [${scores.shape.join(',')}]: scores must be [batch, ${k}] (one per box)`,
    );
  return { boxes, scores, k };
}

export class DetectorSegmenter implements Segmenter {
  readonly inputSize: [number, number];
  constructor(
    private readonly model: tf.LayersModel | tf.GraphModel,
    private readonly spec: Spec,
  ) {
    const s = model.inputs[0]!.shape;
    if (!s || s.length !== 4 || !(s[1]! > 0) || !(s[2]! > 0) || s[3] !== 3) {
      throw new ModelSpecError(
        `the detector ${spec.model} takes [${s?.slice(1).join(',')}]: it needs a fixed-size RGB input [batch, h, w, 3]`,
      );
    }
    this.inputSize = [s[1]!, s[2]!];
  }

  masks({ segRaw, raw }: MaskInput): tf.Tensor3D {
    const [b, h, w] = raw.shape;
    const d = detectorOutputs(
      this.model.predict(normalize(segRaw, this.spec.normalization)) as tf.Tensor | tf.Tensor[],
      this.spec,
      b,
    );
    const perImage = detectorBoxes(
      d.boxes.dataSync(),
      d.scores.dataSync(),
      b,
      d.k,
      this.spec.boxFormat,
      this.spec.minScore,
    );
    return tf.tensor3d(boxMasks(perImage, h, w), [b, h, w]);
  }

  dispose(): void {
    this.model.dispose();
  }
}
