/**
 * The Over-MAP scorer for one batch: one classifier pass (TF.js Layers or ONNX Runtime,
 * forward/) yields the Grad-CAM layer's activations and the attention maps, the head gives
 * the class scores; Grad-CAM of each image's predicted class, of the runner-up class and of
 * its label (where given); the segmenter's object mask; the softmax baselines and, if asked,
 * MC dropout over the head. Two paths to the same maps: with an ONNX classifier whose head is
 * pool → dense, everything after the forward pass is plain JS (dense-head.ts, maps.ts: the
 * CAM identity, no gradient pass, no tensor); otherwise TF.js (tf.grad through the head, in
 * one tidy scope) and the maps are read back. Every overlap, threshold-free measure
 * (localisation.ts) and the decision score (decision.ts) are then computed once, in JS.
 * The paths are host-path.ts and tensor-path.ts, the scores batch-scores.ts.
 */
import { ModelSpecError } from '@overmap/shared/core';
import type * as tf from '../backend/tf';
import type { LoadedSpec, ModelSpec } from '../model/model-spec';
import { batchScores } from './batch-scores';
import type { ClassifierForward } from './forward/classifier-forward';
import { LayersForward } from './forward/layers-forward';
import { loadClassifierForward } from './forward/load-forward';
import { hostBatch } from './host-path';
import type { ImageScore, ScoreInput, Scorer } from './scorer';
import { loadSegmenter } from './segmenters/load-segmenter';
import type { Segmenter } from './segmenters/segmenter';
import { tensorBatch } from './tensor-path';

export class OverMapScorer implements Scorer {
  private constructor(
    readonly spec: ModelSpec,
    readonly hash: string,
    private readonly forward: ClassifierForward,
    private readonly segmenter: Segmenter,
  ) {}

  get inputSize(): [number, number] {
    return this.spec.classifier.inputSize;
  }

  get segInputSize(): [number, number] | null {
    return this.segmenter.inputSize;
  }

  /** Validate spec, then load, then warm up once (kernels compiled, weights packed). */
  static async load(loaded: LoadedSpec): Promise<OverMapScorer> {
    const { spec } = loaded;
    const scorer = new OverMapScorer(
      spec,
      loaded.hash,
      await loadClassifierForward(loaded),
      await loadSegmenter(loaded),
    );
    try {
      // Two images: a graph exported for a batch of one fails here, at load, not on the first real batch.
      await scorer.scoreBatch([blankInput(scorer), blankInput(scorer)]);
    } catch (e) {
      scorer.dispose();
      if (spec.segmenter.type === 'detector' && /executeAsync|dynamic op/i.test((e as Error).message)) {
        throw new ModelSpecError(
          `the detector ${spec.segmenter.model} needs executeAsync (control flow or NMS in the graph): export it without NMS, raw boxes and scores as outputs`,
          { cause: e },
        );
      }
      if (e instanceof ModelSpecError) throw e;
      throw new ModelSpecError(
        `model spec ${loaded.uri}: scoring a batch of two blank images failed (${(e as Error).message}); ` +
          'export the models with a dynamic batch axis (dynamic_axes={"image": {0: "N"}, …}) and their weights inside the file',
        { cause: e },
      );
    }
    return scorer;
  }

  /** Builds a scorer from models already in memory (tests, benchmarks): no warm-up. */
  static async fromModels(
    loaded: Pick<LoadedSpec, 'spec' | 'hash' | 'uri' | 'store'>,
    classifier: tf.LayersModel,
  ): Promise<OverMapScorer> {
    const { spec } = loaded;
    return new OverMapScorer(
      spec,
      loaded.hash,
      new LayersForward(classifier, spec),
      await loadSegmenter(loaded as LoadedSpec),
    );
  }

  async scoreBatch(inputs: ScoreInput[], options: { keepMaps?: boolean } = {}): Promise<ImageScore[]> {
    const labels = inputs.map((x) => x.label ?? -1);
    // Models run outside TF.js (ONNX Runtime) first.
    const ran = await this.forward.run(inputs);
    const segRan = this.segmenter.run ? await this.segmenter.run(inputs) : null;
    // A pool → dense head run outside TF.js: everything after the forward pass in plain JS
    // (dense-head.ts); otherwise the head and Grad-CAM's gradient in TF.js, in one tidy scope.
    const { spec, forward, segmenter } = this;
    const models = { spec, forward, segmenter };
    const batch =
      forward.host && ran
        ? hostBatch(models, inputs, labels, ran, segRan, forward.host)
        : tensorBatch(models, inputs, labels, ran, segRan);
    const context = { spec, numClasses: forward.numClasses, attentionCount: forward.attentionCount };
    return batchScores(batch, labels, !!options.keepMaps, context);
  }

  dispose(): void {
    this.forward.dispose();
    this.segmenter.dispose();
  }
}

/** A black image at the scorer's input sizes (warm-up, calibration). */
export function blankInput(s: Pick<Scorer, 'inputSize' | 'segInputSize'>): ScoreInput {
  const [h, w] = s.inputSize;
  const seg = s.segInputSize;
  return { rgb: new Uint8Array(h * w * 3), segRgb: seg ? new Uint8Array(seg[0] * seg[1] * 3) : undefined };
}
