/** The forward pass of a TF.js Layers classifier: one predict() to the Grad-CAM layer and the attention layers. */
import type * as tf from '../../backend/tf';
import type { ModelSpec } from '../../model/model-spec';
import { type ClassifierGraph, applyHead, buildClassifierGraph } from '../classifier-graph';
import { normalize } from '../preprocess';
import type { ClassifierForward, ForwardTensors } from './classifier-forward';

export class LayersForward implements ClassifierForward {
  private readonly graph: ClassifierGraph;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly spec: ModelSpec,
  ) {
    this.graph = buildClassifierGraph(model, spec.gradcamLayer, spec.attentionLayers, spec.classes.length);
  }

  get numClasses(): number {
    return this.graph.numClasses;
  }
  get attentionCount(): number {
    return this.graph.attentionCount;
  }

  async run(): Promise<null> {
    return null;
  }

  features(raw: tf.Tensor4D): ForwardTensors {
    // predict() returns a bare tensor, not an array, when there is one output (no attention layers).
    const res = this.graph.features.predict(normalize(raw, this.spec.classifier.normalization));
    const feats = Array.isArray(res) ? res : [res];
    return { acts: feats[0] as tf.Tensor4D, attention: feats.slice(1) as tf.Tensor4D[] };
  }

  head(acts: tf.Tensor4D, mcDropout = false): tf.Tensor2D {
    return applyHead(this.graph, acts, mcDropout);
  }

  dispose(): void {
    this.model.dispose();
  }
}
