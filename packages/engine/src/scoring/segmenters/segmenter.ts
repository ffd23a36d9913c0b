/**
 * One interface for every way of finding the object (the spec's `segmenter.type`): a
 * learned segmenter, a saliency prior, a detector run in the worker, or boxes computed
 * elsewhere. `load-segmenter.ts` validates the spec's part and builds one.
 */
import type * as tf from '../../backend/tf';
import type { HostOutputs } from '../forward/classifier-forward';
import type { ScoreInput } from '../scorer';

export interface MaskInput {
  /** RGB 0..255 at the segmenter's input size (the classifier's where it has none of its own) */
  segRaw: tf.Tensor4D;
  /** RGB 0..255 at the classifier's input size */
  raw: tf.Tensor4D;
  keys: (string | undefined)[];
  /** what run() returned, where the segmenter has one */
  ran?: HostOutputs | null;
}

export interface Segmenter {
  /** the input size it needs when it reads images at its own size, else null */
  readonly inputSize: [number, number] | null;
  /** A model run outside TF.js (ONNX Runtime), awaited before the scorer's tidy scope. */
  run?(inputs: ScoreInput[]): Promise<HostOutputs>;
  /** Binary object masks [B, h, w] as host arrays from what run() returned, where no tensor is needed. */
  hostMasks?(ran: HostOutputs): { data: Float32Array; h: number; w: number };
  /**
   * Binary object masks [B, h, w] as a tensor, for segmenters without host masks; called inside the
   * scorer's tf.tidy.
   */
  masks?(input: MaskInput): tf.Tensor3D;
  dispose(): void;
}
