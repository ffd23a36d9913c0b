/**
 * The one list of scores and what each means. Every other list of scores is derived from it:
 * the record's ScoresSchema and SCORE_NAMES (schemas.ts), the Parquet columns
 * (results/record-columns.ts), the manifest's quantile sketches (results/run-summary.ts),
 * evaluate's confidences and the report's curves (both through CONFIDENCE_SCORES and
 * confidenceValue) and the decision's secondaries (the model spec's `decision.secondary`).
 * Adding a score is one entry here (and the code that computes it).
 *
 * The derivations (score-derivations.ts) are functions of a registry, the default one by default,
 * so that a test can check that an added entry reaches every one of them
 * (test/shared/score-registry.unit.test.ts).
 *
 * The order of the entries is the records' field order and the Parquet column order: records
 * and files written must stay byte-identical, so entries are only ever appended.
 */
import { z } from 'zod';

export interface ScoreDef {
  /** the record's field and Parquet column: never renamed (written files keep it) */
  readonly name: string;
  /** 'higher': a higher value means more confident; 'lower': a lower one does (entropy) */
  readonly direction: 'higher' | 'lower';
  /** a confidence in the prediction: evaluate measures it and the report draws its curve */
  readonly confidence: boolean;
  /** computed only where the image's label is known: never a confidence (an unlabelled image has none) */
  readonly needsLabel: boolean;
  /**
   * the manifest sketches its quantiles: fixed bins over [0, 1] (run-summary.ts), so only for a
   * score in [0, 1]
   */
  readonly sketched: boolean;
  /**
   * may be the spec's decision.secondary (SIRC, engine scoring/decision.ts): a confidence, higher =
   * more confident, no label needed
   */
  readonly decisionSecondary: boolean;
  /**
   * its schema in a record: required (null where not computed) or optional (absent where not run,
   * or in older records)
   */
  readonly schema: z.ZodType<number | null | undefined, number | null | undefined>;
  /** one line: what it is */
  readonly doc: string;
}

export type ScoreRegistry = readonly ScoreDef[];

/**
 * The rules between the fields, checked once when a registry is defined: a broken entry fails at
 * load, not in a run.
 */
export function defineScoreRegistry<const R extends ScoreRegistry>(entries: R): R {
  const seen = new Set<string>();
  for (const s of entries) {
    if (seen.has(s.name)) throw new Error(`score registry: ${s.name} is listed twice`);
    seen.add(s.name);
    if (s.needsLabel && s.confidence)
      throw new Error(`score registry: ${s.name} needs a label, so it cannot be a confidence in the prediction`);
    if (s.decisionSecondary && (!s.confidence || s.direction !== 'higher')) {
      throw new Error(
        `score registry: ${s.name} can be a decision secondary only as a confidence where higher is more confident (SIRC lowers the confidence where it is low)`,
      );
    }
  }
  return entries;
}

const score = z.number().nullable();

export const SCORE_REGISTRY = defineScoreRegistry([
  {
    name: 'confidence',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: true,
    decisionSecondary: false,
    // default(null): records written before the decision score existed read as null
    schema: score.default(null),
    doc: 'The decision score in [0, 1]: `accepted` is `confidence >= threshold`; the model spec says how it is built (`decision`).',
  },
  {
    name: 'overmap',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: true,
    decisionSecondary: true,
    schema: score,
    doc: "The paper's Over-MAP: the spec's combination of the three overlaps; 0 when no object was found.",
  },
  {
    name: 'gradcam_seg',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score,
    doc: "Overlap of the predicted class's Grad-CAM map with the object mask, in the spec's overlap measure.",
  },
  {
    name: 'attention_seg',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score,
    doc: 'Overlap of the attention map with the object mask.',
  },
  {
    name: 'gradcam_attention',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score,
    doc: 'Overlap of the Grad-CAM map with the attention map.',
  },
  {
    name: 'msp',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: true,
    decisionSecondary: false,
    schema: score,
    doc: 'Max softmax probability.',
  },
  {
    name: 'entropy',
    direction: 'lower',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: false,
    schema: score,
    doc: 'Softmax entropy in nats (higher = less certain).',
  },
  {
    name: 'margin',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: false,
    schema: score,
    doc: 'Top-1 minus top-2 probability.',
  },
  {
    name: 'mc_dropout',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: false,
    schema: score.optional(),
    doc: 'MC-dropout confidence of the head (where the spec asks for mcDropoutSamples).',
  },
  {
    name: 'label_gradcam_seg',
    direction: 'higher',
    confidence: false,
    needsLabel: true,
    sketched: false,
    decisionSecondary: false,
    schema: score.optional(),
    doc: "Grad-CAM of the given label's class against the mask, where a label is known.",
  },
  {
    name: 'gradcam_seg_rank',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score.optional(),
    doc: 'Relevance rank accuracy: share of the top-|mask| Grad-CAM pixels inside the mask (scoring/localisation.ts; 0 when no object was found).',
  },
  {
    name: 'gradcam_seg_auc',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score.optional(),
    doc: 'Pixel AUROC of the Grad-CAM map as a classifier of the mask (0.5 = chance).',
  },
  {
    name: 'gradcam_seg_pointing',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score.optional(),
    doc: "Pointing game: 1 if the Grad-CAM map's maximum lies on the mask, else 0.",
  },
  {
    name: 'gradcam_seg_localisation',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score.optional(),
    doc: "Size-weighted attribution localisation: mass inside the mask ÷ the mask's share of the image (1 = chance).",
  },
  {
    // Not a confidence on its own: it enters gradcam_contrast with a minus sign (hence 'lower'), and
    // evaluate never measured it alone.
    name: 'runner_up_seg',
    direction: 'lower',
    confidence: false,
    needsLabel: false,
    sketched: false,
    decisionSecondary: false,
    schema: score.optional(),
    doc: "Grad-CAM of the runner-up (second most probable) class against the mask, in the spec's overlap measure.",
  },
  {
    name: 'gradcam_contrast',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: false,
    decisionSecondary: true,
    schema: score.optional(),
    doc: "gradcam_seg − runner_up_seg: evidence of the prediction on the object beyond the runner-up's, in [−1, 1].",
  },
  {
    name: 'maxlogit_pnorm',
    direction: 'higher',
    confidence: true,
    needsLabel: false,
    sketched: true,
    decisionSecondary: false,
    schema: score.optional(),
    doc: "MaxLogit-pNorm (Cattelan & Silva 2024): the centred logits' max over their p-norm (the spec's `pnorm`), in [0, 1].",
  },
  {
    name: 'label_quality',
    direction: 'higher',
    confidence: false,
    needsLabel: true,
    sketched: false,
    decisionSecondary: false,
    schema: score.optional(),
    doc: "Trust in the *given* label: the model's probability of the label's class (self-confidence); null without a label.",
  },
]);
export type DefaultScoreRegistry = typeof SCORE_REGISTRY;

type Entry<R extends ScoreRegistry> = R[number];
export type ScoreNameOf<R extends ScoreRegistry> = Entry<R>['name'];
/** The record's scores object of a registry: name -> schema, in registry order. */
export type ScoresShapeOf<R extends ScoreRegistry> = { [E in Entry<R> as E['name']]: E['schema'] };
export type ConfidenceScoreOf<R extends ScoreRegistry> = Extract<Entry<R>, { confidence: true }>['name'];
export type SketchedScoreOf<R extends ScoreRegistry> = Extract<Entry<R>, { sketched: true }>['name'];
export type DecisionSecondaryOf<R extends ScoreRegistry> = Extract<Entry<R>, { decisionSecondary: true }>['name'];
/** A record's score values, any of them absent (the widest a record's `scores` can be read as). */
export type ScoresOf<R extends ScoreRegistry> = { readonly [K in ScoreNameOf<R>]?: number | null };
