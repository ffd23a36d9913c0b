/**
 * The host path of a batch (an ONNX classifier whose head is pool → dense, read from its
 * graph): everything after the forward pass in plain JS (dense-head.ts, maps.ts: the CAM
 * identity, no gradient pass, no tensor).
 */
import type { MapBatch } from './batch-scores';
import type { ClassifierForward, HostOutputs } from './forward/classifier-forward';
import { attentionMap, denseGradCams, denseScores, poolActivations } from './dense-head';
import { resizeBilinear, softmaxRows, topKRows } from './maps';
import type { ScoreInput } from './scorer';
import { type ScorerModels, tensorMasks } from './tensor-path';

/** The host path (a pool → dense head read from an ONNX graph): plain JS from the forward pass's outputs on. */
export function hostBatch(
  models: ScorerModels,
  inputs: ScoreInput[],
  labels: number[],
  ran: HostOutputs,
  segRan: HostOutputs | null,
  host: NonNullable<ClassifierForward['host']>,
): MapBatch {
  const b = inputs.length;
  const f = host.features(ran);
  const head = host.head;
  const n = head.classes;
  const k = Math.min(3, n);
  const m =
    models.segmenter.hostMasks && segRan ? models.segmenter.hostMasks(segRan) : tensorMasks(models, inputs, segRan);
  const size: [number, number] = [m.h, m.w];
  const pooled = poolActivations(f);
  // Both head kinds end in class probabilities: softmax of the dense scores
  // (spec.classifier.output is validated against the head).
  const probs = softmaxRows(denseScores(pooled, head, b), b, n);
  const top = topKRows(probs, b, n, k);
  const column = (j: number) => Int32Array.from({ length: b }, (_, i) => top.indices[i * k + j]!);
  const hasLabels = labels.some((l) => l >= 0);
  const targetSets = [column(0), column(1), ...(hasLabels ? [labels.map((l) => Math.max(0, l))] : [])];
  const [cam, runnerUp, labelCam] = denseGradCams(f, head, targetSets, probs).map((x) =>
    resizeBilinear(x, b, f.h, f.w, m.h, m.w),
  );
  let mc: Float32Array | null = null;
  if (models.spec.mcDropoutSamples > 0) {
    // MC dropout over the head (its Dropout node's rate): the mean probability of the predicted class.
    const s = models.spec.mcDropoutSamples;
    mc = new Float32Array(b);
    for (let r = 0; r < s; r++) {
      const p = softmaxRows(denseScores(pooled, head, b, Math.random), b, n);
      for (let i = 0; i < b; i++) mc[i] = mc[i]! + p[i * n + top.indices[i * k]!]! / s;
    }
  }
  return {
    probs,
    topV: top.values,
    topI: top.indices,
    k,
    mc,
    cam: cam!,
    mask: m.data,
    runnerUp: runnerUp!,
    labelCam: labelCam ?? null,
    att: models.forward.attentionCount > 0 ? resizeBilinear(attentionMap(f), b, f.h, f.w, m.h, m.w) : null,
    size,
  };
}
