/** A learned segmenter (`segmenter.type: model`): a TF.js Layers model's probability map, binarised. */
import { ModelSpecError } from '@overmap/shared/core';
import * as tf from '../../backend/tf';
import type { ModelSpec } from '../../model/model-spec';
import { binarize } from '../overlap';
import { normalize } from '../preprocess';
import type { MaskInput, Segmenter } from './segmenter';

type Spec = Extract<ModelSpec['segmenter'], { type: 'model' }>;

export class ModelSegmenter implements Segmenter {
  readonly inputSize: [number, number];
  constructor(
    private readonly model: tf.LayersModel,
    private readonly spec: Spec,
  ) {
    if (spec.output === 'softmax' || spec.maskChannel !== 0)
      throw new ModelSpecError(
        'segmenter.output softmax and segmenter.maskChannel are read from ONNX segmenters only: a Layers segmenter outputs one mask channel',
      );
    const s = model.outputs[0]!.shape;
    if (s.length !== 4 || s[3] !== 1)
      throw new ModelSpecError(
        `the segmenter outputs [${s.join(',')}]: it must output one mask channel [batch, h, w, 1]`,
      );
    const i = model.inputs[0]!.shape;
    this.inputSize = [i[1] as number, i[2] as number];
  }

  masks({ segRaw }: MaskInput): tf.Tensor3D {
    let p = tf.squeeze(
      this.model.predict(normalize(segRaw, this.spec.normalization)) as tf.Tensor4D,
      [3],
    ) as tf.Tensor3D;
    if (this.spec.output === 'logits') p = tf.sigmoid(p);
    return binarize(p, this.spec.threshold);
  }

  dispose(): void {
    this.model.dispose();
  }
}
