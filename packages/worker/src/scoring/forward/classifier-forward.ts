/**
 * The classifier's forward pass, as the scorer needs it: the Grad-CAM layer's activations,
 * the attention maps, and the head (activations → class scores) as a differentiable TF.js
 * function, from which the scorer takes the class scores and Grad-CAM's gradient. Two
 * implementations: a TF.js Layers model (layers-forward.ts) and an ONNX model run by ONNX
 * Runtime (onnx-forward.ts). The tensor post-processing after it is the same for both.
 */
import type * as tf from '../../backend/tf';
import type { ScoreInput } from '../scorer';

/** Model outputs computed outside TF.js (ONNX Runtime), by name, before the scorer's tidy scope. */
export type HostOutputs = Record<string, { data: Float32Array; dims: readonly number[] }>;

export interface ForwardTensors {
  /** the Grad-CAM layer's activations [B, h, w, C] */
  acts: tf.Tensor4D;
  /** each attention map [B, h', w', 1] */
  attention: tf.Tensor4D[];
}

export interface ClassifierForward {
  readonly numClasses: number;
  readonly attentionCount: number;
  /** The part run outside TF.js (ONNX Runtime), awaited before the tidy scope; null where there is none. */
  run(inputs: ScoreInput[]): Promise<HostOutputs | null>;
  /** Inside the scorer's tf.tidy: the activations and attention maps, from `raw` (RGB 0..255) or from `ran`. */
  features(raw: tf.Tensor4D, ran: HostOutputs | null): ForwardTensors;
  /** The head in inference mode, differentiable; with `mcDropout` its dropout drops (MC dropout). */
  head(acts: tf.Tensor4D, mcDropout?: boolean): tf.Tensor2D;
  dispose(): void;
}
