/**
 * A batch's record scores from its maps, whichever path computed them (tensor-path.ts,
 * host-path.ts): every overlap, threshold-free measure (localisation.ts), the baselines and
 * the decision score (decision.ts), computed once, in JS.
 */
import type { ModelSpec } from '../model/model-spec';
import { baselinesOf } from './baseline-values';
import { decisionScore } from './decision';
import { type LocalisationMeasure, LOCALISATION_MEASURES, localisation, localisationScores } from './localisation';
import { binarizeMap, meanPerMap } from './maps';
import { overlap, overmapScore } from './overlap';
import type { ImageScore } from './scorer';

/** One batch's results as host arrays, whichever path computed them; maps at the mask's resolution [B, H, W]. */
export interface MapBatch {
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

/** What the scores depend on besides the maps. */
export interface ScoreContext {
  spec: ModelSpec;
  numClasses: number;
  attentionCount: number;
}

/** The record scores from the batch's arrays: every overlap and measure computed here, on the maps. */
export function batchScores(out: MapBatch, labels: number[], keepMaps: boolean, ctx: ScoreContext): ImageScore[] {
  const { spec } = ctx;
  const b = labels.length;
  const { k, topV, topI, size } = out;
  const base = baselinesOf(out.probs, b, ctx.numClasses, spec.pnorm);
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
      hasAttention: ctx.attentionCount > 0,
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
      maxlogit_pnorm: base.maxLogitPNorm[i]!,
      // Self-confidence of the given label (cleanlab's label quality); null where no label is known.
      label_quality: label >= 0 && label < ctx.numClasses ? out.probs[i * ctx.numClasses + label]! : null,
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
