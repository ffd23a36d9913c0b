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
 */
import { ModelSpecError } from '@overmap/shared/core';
import * as tf from '../backend/tf';
import type { LoadedSpec, ModelSpec } from '../model/model-spec';
import { baselinesOf } from './baseline-values';
import type { ClassifierForward, HostOutputs } from './forward/classifier-forward';
import { LayersForward } from './forward/layers-forward';
import { loadClassifierForward } from './forward/load-forward';
import { gradCam, normalizeMax, resizeMaps } from './grad-cam';
import { decisionScore } from './decision';
import { attentionMap, denseGradCams, denseScores, poolActivations } from './dense-head';
import { type LocalisationMeasure, LOCALISATION_MEASURES, localisation, localisationScores } from './localisation';
import { binarizeMap, meanPerMap, resizeBilinear, softmaxRows, topKRows } from './maps';
import { overlap, overmapScore } from './overlap';
import type { ImageScore, ScoreInput, Scorer } from './scorer';
import { loadSegmenter } from './segmenters/load-segmenter';
import type { Segmenter } from './segmenters/segmenter';

/** One batch's results as host arrays, whichever path computed them; maps at the mask's resolution [B, H, W]. */
interface MapBatch {
  probs: Float32Array;
  topV: Float32Array;
  topI: Int32Array;
  k: number;
  mc: Float32Array | null;
  cam: Float32Array;
  mask: Float32Array;
  runnerUp: Float32Array;
  labelCam: Float32Array | null;
  att: Float32Array | null;
  size: [number, number];
}

const isMapSide = (m: string): m is LocalisationMeasure => (LOCALISATION_MEASURES as readonly string[]).includes(m);

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
      await scorer.scoreBatch([blankInput(scorer)]);
    } catch (e) {
      if (spec.segmenter.type === 'detector' && /executeAsync|dynamic op/i.test((e as Error).message)) {
        throw new ModelSpecError(
          `the detector ${spec.segmenter.model} needs executeAsync (control flow or NMS in the graph): export it without NMS, raw boxes and scores as outputs`,
          { cause: e },
        );
      }
      throw e;
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
    const batch =
      this.forward.host && ran
        ? this.hostBatch(inputs, labels, ran, segRan, this.forward.host)
        : this.tensorBatch(inputs, labels, ran, segRan);
    return this.scoresOf(batch, labels, !!options.keepMaps);
  }

  private inputTensors(inputs: ScoreInput[]): { raw: tf.Tensor4D; segRaw: tf.Tensor4D } {
    const b = inputs.length;
    const [h, w] = this.inputSize;
    const rgb = new Float32Array(b * h * w * 3);
    inputs.forEach((x, i) => rgb.set(x.rgb, i * h * w * 3));
    const raw = tf.tensor4d(rgb, [b, h, w, 3]);
    const seg = this.segInputSize;
    if (!seg || (seg[0] === h && seg[1] === w)) return { raw, segRaw: raw };
    const segRgb = new Float32Array(b * seg[0] * seg[1] * 3);
    inputs.forEach((x, i) => {
      if (!x.segRgb) throw new Error('segRgb missing: the segmenter input size differs from the classifier');
      segRgb.set(x.segRgb, i * seg[0] * seg[1] * 3);
    });
    return { raw, segRaw: tf.tensor4d(segRgb, [b, seg[0], seg[1], 3]) };
  }

  /** The TF.js path: the head, Grad-CAM through tf.grad, resizes, in one tidy scope; the maps read back. */
  private tensorBatch(
    inputs: ScoreInput[],
    labels: number[],
    ran: HostOutputs | null,
    segRan: HostOutputs | null,
  ): MapBatch {
    const spec = this.spec;
    const n = this.forward.numClasses;
    const k = Math.min(3, n);
    type Kept = Record<'probs' | 'topV' | 'topI' | 'cam' | 'mask' | 'runnerUp', tf.Tensor> &
      Record<'labelCam' | 'att' | 'mc', tf.Tensor | null>;
    const t = tf.tidy(() => {
      const { raw, segRaw } = this.inputTensors(inputs);
      const { acts, attention } = this.forward.features(raw, ran);
      const head = (a: tf.Tensor4D) => this.forward.head(a);
      const logits = head(acts);
      const probs = spec.classifier.output === 'logits' ? tf.softmax(logits) : logits;
      const pred = tf.argMax(probs, 1) as tf.Tensor1D;
      const mask = this.maskTensor(inputs, raw, segRaw, segRan);
      const size: [number, number] = [mask.shape[1], mask.shape[2]];
      const cam = resizeMaps(gradCam(head, acts, pred, n), size);
      // Several attention layers are summed at the Grad-CAM layer's resolution, then scaled to max 1.
      const att =
        this.forward.attentionCount > 0
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
      const mc = spec.mcDropoutSamples > 0 ? this.mcDropout(acts, pred, probs.shape) : null;
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

  /** The host path (a pool → dense head read from an ONNX graph): plain JS from the forward pass's outputs on. */
  private hostBatch(
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
    const m = this.segmenter.hostMasks && segRan ? this.segmenter.hostMasks(segRan) : this.tensorMasks(inputs, segRan);
    const size: [number, number] = [m.h, m.w];
    const pooled = poolActivations(f);
    // Both head kinds end in class probabilities: softmax of the dense scores (spec.classifier.output is validated against the head).
    const probs = softmaxRows(denseScores(pooled, head, b), b, n);
    const top = topKRows(probs, b, n, k);
    const column = (j: number) => Int32Array.from({ length: b }, (_, i) => top.indices[i * k + j]!);
    const hasLabels = labels.some((l) => l >= 0);
    const targetSets = [column(0), column(1), ...(hasLabels ? [labels.map((l) => Math.max(0, l))] : [])];
    const [cam, runnerUp, labelCam] = denseGradCams(f, head, targetSets, probs).map((x) =>
      resizeBilinear(x, b, f.h, f.w, m.h, m.w),
    );
    let mc: Float32Array | null = null;
    if (this.spec.mcDropoutSamples > 0) {
      // MC dropout over the head (its Dropout node's rate): the mean probability of the predicted class.
      const s = this.spec.mcDropoutSamples;
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
      att: this.forward.attentionCount > 0 ? resizeBilinear(attentionMap(f), b, f.h, f.w, m.h, m.w) : null,
      size,
    };
  }

  /** The masks as a tensor (inside a tidy scope): from a segmenter's host masks where it has them, else its TF.js masks. */
  private maskTensor(
    inputs: ScoreInput[],
    raw: tf.Tensor4D,
    segRaw: tf.Tensor4D,
    segRan: HostOutputs | null,
  ): tf.Tensor3D {
    const seg = this.segmenter;
    if (seg.hostMasks && segRan) {
      const m = seg.hostMasks(segRan);
      return tf.tensor3d(m.data, [m.data.length / (m.h * m.w), m.h, m.w]);
    }
    if (!seg.masks) throw new Error('the segmenter has neither host masks (run first) nor TF.js masks');
    return seg.masks({ raw, segRaw, keys: inputs.map((x) => x.key), ran: segRan });
  }

  /** A TF.js segmenter's masks, read back (the host path with a segmenter that runs in TF.js). */
  private tensorMasks(inputs: ScoreInput[], segRan: HostOutputs | null): { data: Float32Array; h: number; w: number } {
    const mask = tf.tidy(() => {
      const { raw, segRaw } = this.inputTensors(inputs);
      return this.maskTensor(inputs, raw, segRaw, segRan);
    });
    try {
      return { data: mask.dataSync() as Float32Array, h: mask.shape[1], w: mask.shape[2] };
    } finally {
      mask.dispose();
    }
  }

  /** MC dropout over the head (Gal & Ghahramani 2016): exact for networks whose only dropout is in the head. */
  private mcDropout(acts: tf.Tensor4D, pred: tf.Tensor1D, shape: number[]): tf.Tensor1D {
    const n = this.spec.mcDropoutSamples;
    let sum: tf.Tensor = tf.zeros(shape);
    for (let s = 0; s < n; s++) {
      const o = this.forward.head(acts, true);
      sum = tf.add(sum, this.spec.classifier.output === 'logits' ? tf.softmax(o) : o);
    }
    return tf.sum(tf.mul(tf.div(sum, n), tf.oneHot(pred, this.forward.numClasses)), 1) as tf.Tensor1D;
  }

  /** The record scores from the batch's arrays: every overlap and measure computed here, on the maps. */
  private scoresOf(out: MapBatch, labels: number[], keepMaps: boolean): ImageScore[] {
    const spec = this.spec;
    const b = labels.length;
    const { k, topV, topI, size } = out;
    const base = baselinesOf(out.probs, b, this.forward.numClasses);
    const px = size[0] * size[1];
    const mf = meanPerMap(out.mask, b);
    const { measure, binarize: t } = spec.overlap;
    const attBin = out.att ? binarizeMap(out.att, t) : null;
    const at = (a: Float32Array, i: number) => a.subarray(i * px, (i + 1) * px);
    // One map against another by the spec's measure: thresholded (mass, iou, dice) or threshold-free.
    const ov = (m: Float32Array | null, against: Float32Array | null, i: number) => {
      if (!m || !against) return 0;
      return isMapSide(measure)
        ? localisation(at(m, i), at(against, i), measure)
        : overlap(at(m, i), at(against, i), measure, t);
    };
    return labels.map((label, i) => {
      const noMask = mf[i]! < spec.minMaskFraction;
      // No object found: "estimation not available", the mask overlaps are 0 (paper, Contribution).
      const loc = noMask
        ? { rank: 0, auc: 0, pointing: 0, localisation: 0 }
        : localisationScores(at(out.cam, i), at(out.mask, i));
      const camSeg = isMapSide(measure) ? loc[measure] : ov(out.cam, out.mask, i);
      const c = {
        gradcam_seg: noMask ? 0 : camSeg,
        attention_seg: noMask ? 0 : ov(out.att, out.mask, i),
        gradcam_attention: ov(out.cam, attBin, i),
      };
      const overmap = overmapScore(c, {
        noMask,
        hasAttention: this.forward.attentionCount > 0,
        rule: spec.combine.rule,
        weights: spec.combine.weights,
      });
      const runnerUpSeg = noMask ? 0 : ov(out.runnerUp, out.mask, i);
      const scores: ImageScore['scores'] = {
        confidence: null,
        overmap,
        ...c,
        msp: base.msp[i]!,
        entropy: base.entropy[i]!,
        margin: base.margin[i]!,
        ...(out.mc ? { mc_dropout: out.mc[i]! } : {}),
        ...(out.labelCam && label >= 0 ? { label_gradcam_seg: noMask ? 0 : ov(out.labelCam, out.mask, i) } : {}),
        gradcam_seg_rank: loc.rank,
        gradcam_seg_auc: loc.auc,
        gradcam_seg_pointing: loc.pointing,
        gradcam_seg_localisation: loc.localisation,
        runner_up_seg: runnerUpSeg,
        gradcam_contrast: c.gradcam_seg - runnerUpSeg,
      };
      // The decision score: the spec's `decision` rule over the scores above (Over-MAP itself by default).
      scores.confidence = decisionScore(scores, spec.decision);
      return {
        index: topI[i * k]!,
        top: Array.from({ length: k }, (_, j) => ({ index: topI[i * k + j]!, p: topV[i * k + j]! })),
        noMask,
        maskFraction: mf[i]!,
        scores,
        ...(keepMaps
          ? {
              maps: {
                gradcam: at(out.cam, i).slice(),
                attention: out.att ? at(out.att, i).slice() : null,
                mask: at(out.mask, i).slice(),
                size,
              },
            }
          : {}),
      };
    });
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
