/**
 * The classifier's forward pass, as the scorer needs it: the Grad-CAM layer's activations,
 * the attention maps, and the head (activations → class scores) as a differentiable TF.js
 * function, from which the scorer takes the class scores and Grad-CAM's gradient. Two
 * implementations: a TF.js Layers model (layers-forward.ts) and an ONNX model run by ONNX
 * Runtime (onnx-forward.ts). The ONNX one also offers its outputs and its pool → dense head
 * as host arrays (`host`), and the scorer then does the rest in plain JS.
 */
import type * as tf from '../../backend/tf';
import type { HostFeatures } from '../dense-head';
import type { ScoreInput } from '../scorer';
import type { DenseHead } from './onnx-head';

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
  /**
   * Where the head is pool → dense and the forward pass runs outside TF.js (ONNX): its weights
   * and the forward pass's outputs as host arrays, so the scorer never makes a tensor (dense-head.ts).
   */
  readonly host?: { head: DenseHead; features(ran: HostOutputs): HostFeatures };
  /** The head in inference mode, differentiable; with `mcDropout` its dropout drops (MC dropout). */
  head(acts: tf.Tensor4D, mcDropout?: boolean): tf.Tensor2D;
  dispose(): void;
}
