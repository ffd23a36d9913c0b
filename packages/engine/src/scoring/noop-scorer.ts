/**
 * A scorer that does no model work, for measuring the fleet's own overhead (queue, storage,
 * decode, record writing) in `npm run bench:fleet`. Exported from `@overmap/worker/testing` only.
 */
import type { ModelSpec } from '../model/model-spec';
import type { ImageScore, ScoreInput, Scorer } from './scorer';

export class NoopScorer implements Scorer {
  readonly segInputSize = null;
  constructor(
    readonly spec: ModelSpec,
    readonly hash: string,
  ) {}
  get inputSize(): [number, number] {
    return this.spec.classifier.inputSize;
  }
  async scoreBatch(inputs: ScoreInput[]): Promise<ImageScore[]> {
    return inputs.map(() => ({
      index: 0,
      top: [0, 1, 2].map((index) => ({ index, p: 1 / 3 })),
      noMask: false,
      maskFraction: 0.5,
      scores: {
        confidence: 0.5,
        overmap: 0.5,
        gradcam_seg: 0.5,
        attention_seg: 0.5,
        gradcam_attention: 0.5,
        msp: 1 / 3,
        entropy: Math.log(3),
        margin: 0,
      },
    }));
  }
  dispose(): void {}
}
