/**
 * The TF.js path of a batch: the head, Grad-CAM through tf.grad and the resizes in one tidy
 * scope, the maps read back; and the masks of a segmenter that runs in TF.js, for either path.
 */
import * as tf from '../backend/tf';
import type { ModelSpec } from '../model/model-spec';
import type { MapBatch } from './batch-scores';
import type { ClassifierForward, HostOutputs } from './forward/classifier-forward';
import { gradCam, normalizeMax, resizeMaps } from './grad-cam';
import type { ScoreInput } from './scorer';
import type { Segmenter } from './segmenters/segmenter';

/** The scorer's models. */
export interface ScorerModels {
  spec: ModelSpec;
  forward: ClassifierForward;
  segmenter: Segmenter;
}

/** The batch as input tensors: the classifier's, and the segmenter's where its size differs. */
function inputTensors(m: ScorerModels, inputs: ScoreInput[]): { raw: tf.Tensor4D; segRaw: tf.Tensor4D } {
  const b = inputs.length;
  const [h, w] = m.spec.classifier.inputSize;
  const rgb = new Float32Array(b * h * w * 3);
  inputs.forEach((x, i) => rgb.set(x.rgb, i * h * w * 3));
  const raw = tf.tensor4d(rgb, [b, h, w, 3]);
  const seg = m.segmenter.inputSize;
  if (!seg || (seg[0] === h && seg[1] === w)) return { raw, segRaw: raw };
  const segRgb = new Float32Array(b * seg[0] * seg[1] * 3);
  inputs.forEach((x, i) => {
    if (!x.segRgb) throw new Error('segRgb missing: the segmenter input size differs from the classifier');
    segRgb.set(x.segRgb, i * seg[0] * seg[1] * 3);
  });
  return { raw, segRaw: tf.tensor4d(segRgb, [b, seg[0], seg[1], 3]) };
}

/** The TF.js path: the head, Grad-CAM through tf.grad, resizes, in one tidy scope; the maps read back. */
export function tensorBatch(
  m: ScorerModels,
  inputs: ScoreInput[],
  labels: number[],
  ran: HostOutputs | null,
  segRan: HostOutputs | null,
): MapBatch {
  const { spec, forward } = m;
  const n = forward.numClasses;
  const k = Math.min(3, n);
  type Kept = Record<'probs' | 'topV' | 'topI' | 'cam' | 'mask' | 'runnerUp', tf.Tensor> &
    Record<'labelCam' | 'att' | 'mc', tf.Tensor | null>;
  const t = tf.tidy(() => {
    const { raw, segRaw } = inputTensors(m, inputs);
    const { acts, attention } = forward.features(raw, ran);
    const head = (a: tf.Tensor4D) => forward.head(a);
    const logits = head(acts);
    const probs = spec.classifier.output === 'logits' ? tf.softmax(logits) : logits;
    const pred = tf.argMax(probs, 1) as tf.Tensor1D;
    const mask = maskTensor(m, inputs, raw, segRaw, segRan);
    const size: [number, number] = [mask.shape[1], mask.shape[2]];
    const cam = resizeMaps(gradCam(head, acts, pred, n), size);
    // Several attention layers are summed at the Grad-CAM layer's resolution, then scaled to max 1.
    const att =
      forward.attentionCount > 0
        ? resizeMaps(
            normalizeMax(
              tf.addN(
                attention.map((a) => resizeMaps(tf.squeeze(a, [3]) as tf.Tensor3D, [acts.shape[1], acts.shape[2]])),
              ) as tf.Tensor3D,
            ),
            size,
          )
        : null;
    const top = tf.topk(probs, k);
    // The runner-up class's Grad-CAM: one more gradient through the head.
    const second = tf.squeeze(tf.slice(top.indices, [0, 1], [-1, 1]), [1]) as tf.Tensor1D;
    const runnerUp = resizeMaps(gradCam(head, acts, second, n), size);
    const labelCam = labels.some((l) => l >= 0)
      ? resizeMaps(
          gradCam(
            head,
            acts,
            tf.tensor1d(
              labels.map((l) => Math.max(0, l)),
              'int32',
            ),
            n,
          ),
          size,
        )
      : null;
    const mc = spec.mcDropoutSamples > 0 ? mcDropout(m, acts, pred, probs.shape) : null;
    const kept: Kept = { probs, topV: top.values, topI: top.indices, cam, mask, runnerUp, labelCam, att, mc };
    return kept as unknown as tf.TensorContainer;
  }) as unknown as Kept;
  try {
    const read = (x: tf.Tensor | null) => (x ? (x.dataSync() as Float32Array) : null);
    return {
      probs: read(t.probs)!,
      topV: read(t.topV)!,
      topI: Int32Array.from(t.topI.dataSync()),
      k,
      mc: read(t.mc),
      cam: read(t.cam)!,
      mask: read(t.mask)!,
      runnerUp: read(t.runnerUp)!,
      labelCam: read(t.labelCam),
      att: read(t.att),
      size: [t.mask.shape[1]!, t.mask.shape[2]!],
    };
  } finally {
    tf.dispose(Object.values(t).filter((x): x is tf.Tensor => x !== null));
  }
}

/** The masks as a tensor (inside a tidy scope): a segmenter's host masks where it has them, else its TF.js masks. */
function maskTensor(
  m: ScorerModels,
  inputs: ScoreInput[],
  raw: tf.Tensor4D,
  segRaw: tf.Tensor4D,
  segRan: HostOutputs | null,
): tf.Tensor3D {
  const seg = m.segmenter;
  if (seg.hostMasks && segRan) {
    const h = seg.hostMasks(segRan);
    return tf.tensor3d(h.data, [h.data.length / (h.h * h.w), h.h, h.w]);
  }
  if (!seg.masks) throw new Error('the segmenter has neither host masks (run first) nor TF.js masks');
  return seg.masks({ raw, segRaw, keys: inputs.map((x) => x.key), ran: segRan });
}

/** A TF.js segmenter's masks, read back (the host path with a segmenter that runs in TF.js). */
export function tensorMasks(
  m: ScorerModels,
  inputs: ScoreInput[],
  segRan: HostOutputs | null,
): { data: Float32Array; h: number; w: number } {
  const mask = tf.tidy(() => {
    const { raw, segRaw } = inputTensors(m, inputs);
    return maskTensor(m, inputs, raw, segRaw, segRan);
  });
  try {
    return { data: mask.dataSync() as Float32Array, h: mask.shape[1], w: mask.shape[2] };
  } finally {
    mask.dispose();
  }
}

/** MC dropout over the head (Gal & Ghahramani 2016): exact for networks whose only dropout is in the head. */
function mcDropout(m: ScorerModels, acts: tf.Tensor4D, pred: tf.Tensor1D, shape: number[]): tf.Tensor1D {
  const n = m.spec.mcDropoutSamples;
  let sum: tf.Tensor = tf.zeros(shape);
  for (let s = 0; s < n; s++) {
    const o = m.forward.head(acts, true);
    sum = tf.add(sum, m.spec.classifier.output === 'logits' ? tf.softmax(o) : o);
  }
  return tf.sum(tf.mul(tf.div(sum, n), tf.oneHot(pred, m.forward.numClasses)), 1) as tf.Tensor1D;
}
