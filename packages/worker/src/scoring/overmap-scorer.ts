/**
 * The Over-MAP scorer for one batch: one classifier pass (TF.js Layers or ONNX Runtime,
 * forward/) yields the Grad-CAM layer's activations and the attention maps, the head gives
 * the logits; Grad-CAM of each image's predicted class (and of its
 * label, where given) through the head; the segmenter's object mask; the three overlaps and
 * their combination; the softmax baselines and, if asked, MC dropout over the head; the
 * threshold-free Grad-CAM/mask measures (localisation.ts) on the read-back maps; Grad-CAM of
 * the runner-up class (one more head gradient) against the mask; the decision score
 * (decision.ts). Every tensor step runs inside tf.tidy; only plain arrays leave.
 */
import { ModelSpecError } from '@overmap/shared';
import * as tf from '../backend/tf';
import type { LoadedSpec, ModelSpec } from '../model/model-spec';
import { baselinesOf } from './baseline-values';
import type { ClassifierForward, HostOutputs } from './forward/classifier-forward';
import { LayersForward } from './forward/layers-forward';
import { loadClassifierForward } from './forward/load-forward';
import { gradCam, normalizeMax, resizeMaps } from './grad-cam';
import { decisionScore } from './decision';
import { type LocalisationMeasure, LOCALISATION_MEASURES, localisation, localisationScores } from './localisation';
import { binarize, overlap, overmapScore } from './overlap';
import type { ImageScore, ScoreInput, Scorer } from './scorer';
import { loadSegmenter } from './segmenters/load-segmenter';
import type { Segmenter } from './segmenters/segmenter';

/** What one batch's tidy scope keeps: per-image vectors and, if asked, the maps. */
interface BatchTensors {
  probs: tf.Tensor2D; topV: tf.Tensor2D; topI: tf.Tensor2D; maskFraction: tf.Tensor1D; mc: tf.Tensor1D | null;
  /** the overlaps, computed as tensors (mass, iou, dice); null when the measure is computed on the read-back maps */
  gradcamSeg: tf.Tensor1D | null; attentionSeg: tf.Tensor1D | null; gradcamAtt: tf.Tensor1D | null;
  runnerUpSeg: tf.Tensor1D | null; labelSeg: tf.Tensor1D | null;
  /** always read back: the threshold-free Grad-CAM/mask measures are computed on them */
  cam: tf.Tensor3D; mask: tf.Tensor3D;
  /** the attention map, kept for the maps or for a map-side measure */
  att: tf.Tensor3D | null;
  /** for a map-side measure (rank, auc, pointing, localisation): the other maps it compares */
  attBin: tf.Tensor3D | null; runnerUp: tf.Tensor3D | null; labelCam: tf.Tensor3D | null;
  keepMaps: boolean;
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
    const scorer = new OverMapScorer(spec, loaded.hash, await loadClassifierForward(loaded), await loadSegmenter(loaded));
    try {
      await scorer.scoreBatch([blankInput(scorer)]);
    } catch (e) {
      if (spec.segmenter.type === 'detector' && /executeAsync|dynamic op/i.test((e as Error).message)) {
        throw new ModelSpecError(`the detector ${spec.segmenter.model} needs executeAsync (control flow or NMS in the graph): export it without NMS, raw boxes and scores as outputs`, { cause: e });
      }
      throw e;
    }
    return scorer;
  }

  /** Builds a scorer from models already in memory (tests, benchmarks): no warm-up. */
  static async fromModels(loaded: Pick<LoadedSpec, 'spec' | 'hash' | 'uri' | 'store'>, classifier: tf.LayersModel): Promise<OverMapScorer> {
    const { spec } = loaded;
    return new OverMapScorer(spec, loaded.hash, new LayersForward(classifier, spec), await loadSegmenter(loaded as LoadedSpec));
  }

  async scoreBatch(inputs: ScoreInput[], options: { keepMaps?: boolean } = {}): Promise<ImageScore[]> {
    const labels = inputs.map((x) => x.label ?? -1);
    // Models run outside TF.js (ONNX Runtime) first; everything after runs in one tidy scope.
    const ran = await this.forward.run(inputs);
    const segRan = this.segmenter.run ? await this.segmenter.run(inputs) : null;
    const out = tf.tidy(() => this.batchTensors(inputs, labels, !!options.keepMaps, ran, segRan) as unknown as tf.TensorContainer) as unknown as BatchTensors;
    try {
      return this.readBack(out, labels);
    } finally {
      tf.dispose(out as unknown as tf.TensorContainer);
    }
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

  /** Every tensor of the batch (called inside tf.tidy: what it returns is kept). */
  private batchTensors(inputs: ScoreInput[], labels: number[], keepMaps: boolean, ran: HostOutputs | null, segRan: HostOutputs | null): BatchTensors {
    const spec = this.spec;
    const { raw, segRaw } = this.inputTensors(inputs);
    const { acts, attention } = this.forward.features(raw, ran);
    const head = (a: tf.Tensor4D) => this.forward.head(a);
    const logits = head(acts);
    const probs = spec.classifier.output === 'logits' ? tf.softmax(logits) : logits;
    const pred = tf.argMax(probs, 1) as tf.Tensor1D;

    const mask = this.segmenter.masks({ raw, segRaw, keys: inputs.map((x) => x.key), ran: segRan });
    const size: [number, number] = [mask.shape[1], mask.shape[2]];
    const cam = resizeMaps(gradCam(head, acts, pred, this.forward.numClasses), size);
    // Several attention layers are summed at the Grad-CAM layer's resolution, then scaled to max 1.
    const att = this.forward.attentionCount > 0
      ? resizeMaps(normalizeMax(tf.addN(attention.map((a) => resizeMaps(tf.squeeze(a, [3]) as tf.Tensor3D, [acts.shape[1], acts.shape[2]]))) as tf.Tensor3D), size)
      : null;
    const { measure, binarize: t } = spec.overlap;
    const mapSide = isMapSide(measure);
    const zeros = () => tf.zeros([inputs.length]) as tf.Tensor1D;
    const n = this.forward.numClasses;
    const k = Math.min(3, n);
    const top = tf.topk(probs, k);
    // The runner-up class's Grad-CAM: one more gradient through the head.
    const second = tf.squeeze(tf.slice(top.indices, [0, 1], [-1, 1]), [1]) as tf.Tensor1D;
    const runnerUp = resizeMaps(gradCam(head, acts, second, n), size);
    let labelCam: tf.Tensor3D | null = null;
    if (labels.some((l) => l >= 0)) {
      const targets = tf.tensor1d(labels.map((l) => Math.max(0, l)), 'int32');
      labelCam = resizeMaps(gradCam(head, acts, targets, n), size);
    }
    const attBin = att ? binarize(att, t) : null;
    const ov = (m: tf.Tensor3D, against: tf.Tensor3D = mask) => overlap(m, against, measure as 'mass' | 'iou' | 'dice', t);
    return {
      probs: probs as tf.Tensor2D, topV: top.values as tf.Tensor2D, topI: top.indices as tf.Tensor2D,
      maskFraction: tf.mean(mask, [1, 2]) as tf.Tensor1D,
      mc: spec.mcDropoutSamples > 0 ? this.mcDropout(acts, pred, probs.shape) : null,
      gradcamSeg: mapSide ? null : ov(cam),
      attentionSeg: mapSide ? null : att ? ov(att) : zeros(),
      gradcamAtt: mapSide ? null : attBin ? ov(cam, attBin) : zeros(),
      runnerUpSeg: mapSide ? null : ov(runnerUp),
      labelSeg: mapSide || !labelCam ? null : ov(labelCam),
      cam, mask,
      att: mapSide || keepMaps ? att : null,
      attBin: mapSide ? attBin : null, runnerUp: mapSide ? runnerUp : null, labelCam: mapSide ? labelCam : null,
      keepMaps,
    };
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

  private readBack(out: BatchTensors, labels: number[]): ImageScore[] {
    const spec = this.spec;
    const b = labels.length;
    const topV = out.topV.dataSync(), topI = out.topI.dataSync();
    const k = out.topV.shape[1];
    const mf = out.maskFraction.dataSync();
    const mc = out.mc?.dataSync();
    const base = baselinesOf(out.probs.dataSync(), b, this.forward.numClasses);
    const size: [number, number] = [out.mask.shape[1], out.mask.shape[2]];
    const px = size[0] * size[1];
    const cam = out.cam.dataSync(), mask = out.mask.dataSync();
    const att = out.att?.dataSync(), attBin = out.attBin?.dataSync(), runnerUp = out.runnerUp?.dataSync(), labelCam = out.labelCam?.dataSync();
    const at = (a: ArrayLike<number> & { subarray(s: number, e: number): ArrayLike<number> }, i: number) => a.subarray(i * px, (i + 1) * px);
    // Each overlap from its tensor, or (map-side measures) from the read-back maps.
    const measure = spec.overlap.measure;
    const onMaps = (m: typeof cam | undefined, against: typeof cam | undefined, i: number) =>
      m && against ? localisation(at(m, i), at(against, i), measure as LocalisationMeasure) : 0;
    const tensorSide = {
      gs: out.gradcamSeg?.dataSync(), as: out.attentionSeg?.dataSync(), ga: out.gradcamAtt?.dataSync(),
      ru: out.runnerUpSeg?.dataSync(), ls: out.labelSeg?.dataSync(),
    };
    const mapSide = isMapSide(measure);
    const keepMaps = out.keepMaps;
    return labels.map((label, i) => {
      const noMask = mf[i]! < spec.minMaskFraction;
      const o = mapSide
        ? {
          gs: onMaps(cam, mask, i), as: onMaps(att, mask, i), ga: onMaps(cam, attBin, i),
          ru: onMaps(runnerUp, mask, i), ls: labelCam ? onMaps(labelCam, mask, i) : undefined,
        }
        : { gs: tensorSide.gs![i]!, as: tensorSide.as![i]!, ga: tensorSide.ga![i]!, ru: tensorSide.ru![i]!, ls: tensorSide.ls?.[i] };
      // No object found: "estimation not available", the mask overlaps are 0 (paper, Contribution).
      const c = { gradcam_seg: noMask ? 0 : o.gs, attention_seg: noMask ? 0 : o.as, gradcam_attention: o.ga };
      const overmap = overmapScore(c, { noMask, hasAttention: this.forward.attentionCount > 0, rule: spec.combine.rule, weights: spec.combine.weights });
      const loc = noMask ? { rank: 0, auc: 0, pointing: 0, localisation: 0 } : localisationScores(at(cam, i), at(mask, i));
      const runnerUpSeg = noMask ? 0 : o.ru;
      const scores: ImageScore['scores'] = {
        confidence: null,
        overmap, ...c,
        msp: base.msp[i]!, entropy: base.entropy[i]!, margin: base.margin[i]!,
        ...(mc ? { mc_dropout: mc[i]! } : {}),
        ...(o.ls !== undefined && label >= 0 ? { label_gradcam_seg: noMask ? 0 : o.ls } : {}),
        gradcam_seg_rank: loc.rank, gradcam_seg_auc: loc.auc, gradcam_seg_pointing: loc.pointing, gradcam_seg_localisation: loc.localisation,
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
        ...(keepMaps ? {
          maps: { gradcam: Float32Array.from(at(cam, i)), attention: att ? Float32Array.from(at(att, i)) : null, mask: Float32Array.from(at(mask, i)), size },
        } : {}),
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
