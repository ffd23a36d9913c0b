/**
 * The model spec's schema (model-spec.ts reads, validates and hashes the spec with it). Every
 * object in it is strict: a field the schema does not know is an error, never a field silently
 * dropped for its default.
 */
import { z } from 'zod';
import { DEFAULT_DECISION, DEFAULT_ROUTING, DecisionSchema, RoutingSchema } from '@overmap/shared/core';

const Normalization = z.strictObject({
  /** x' = (x * scale - mean) / std, per channel, x in 0..255 */
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: z.array(z.number()).default([0, 0, 0]),
  std: z.array(z.number().positive()).default([1, 1, 1]),
});

/** How a model file is run: a TF.js Layers model.json, or an ONNX file run by ONNX Runtime. */
const Format = z.enum(['layers', 'onnx']).default('layers');
/** The axis order an ONNX model's image input takes: 'nchw' (PyTorch's, the default) or 'nhwc'. */
const Layout = z.enum(['nchw', 'nhwc']).default('nchw');

const Segmenter = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('model'),
    model: z.string(),
    format: Format,
    /** ONNX: the output holding the mask [batch, C, h, w] (nchw) or [batch, h, w, C] (default: the first output) */
    maskOutput: z.string().optional(),
    layout: Layout,
    /**
     * 'probability' (a sigmoid output in [0,1]) or 'logits' (sigmoid applied here), read from channel
     * `maskChannel`; or 'softmax' (ONNX: C ≥ 2 per-class logits, as semantic segmenters output): the
     * object's probability is 1 − softmax's probability of `backgroundChannel`
     */
    output: z.enum(['probability', 'logits', 'softmax']).default('probability'),
    /** ONNX: the channel holding the object's probability or logit (output probability / logits) */
    maskChannel: z.number().int().min(0).default(0),
    /** ONNX: the background class's channel (output softmax) */
    backgroundChannel: z.number().int().min(0).default(0),
    threshold: z.number().min(0).max(1).default(0.5),
    normalization: Normalization.default({ scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] }),
  }),
  z.strictObject({ type: z.literal('saliency'), blur: z.number().int().min(1).default(5) }),
  z.strictObject({
    /** An object detector run in the worker (TF.js or ONNX); its boxes above minScore are binarised into the mask. */
    type: z.literal('detector'),
    model: z.string(),
    /**
     * 'layers' (tf.loadLayersModel), 'graph' (tfjs-converter output, run synchronously) or 'onnx'
     * (ONNX Runtime); export it without NMS
     */
    format: z.enum(['layers', 'graph', 'onnx']).default('layers'),
    /** ONNX: the image input's axis order */
    layout: Layout,
    /** which outputs (by position) hold the boxes [batch, K, 4] and the scores [batch, K] (or [batch, K, 1]) */
    boxesOutput: z.number().int().min(0).default(0),
    scoresOutput: z.number().int().min(0).default(1),
    /** box corners, normalised to [0, 1]: 'yxyx' (TensorFlow's convention) or 'xyxy' */
    boxFormat: z.enum(['yxyx', 'xyxy']).default('yxyx'),
    minScore: z.number().min(0).max(1).default(0.5),
    normalization: Normalization.default({ scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] }),
  }),
  z.strictObject({
    type: z.literal('boxes'),
    /** JSONL, one line per image: {"key": ..., "boxes": [[x0, y0, x1, y1, score?], ...]}, coordinates in [0, 1];
     *  a path relative to the spec or an absolute URI. Boxes are binarised into the mask. */
    source: z.string(),
    minScore: z.number().min(0).max(1).default(0),
  }),
]);

// The decision's schema and default are @overmap/shared's (decision-score.ts), beside the rule itself.
export { DecisionSchema, DEFAULT_DECISION, type Decision } from '@overmap/shared/core';

export const ModelSpecSchema = z.strictObject({
  name: z.string().default('model'),
  classes: z.array(z.string().min(1)).min(2),
  classifier: z.strictObject({
    model: z.string(),
    inputSize: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    channels: z.literal(3).default(3),
    normalization: Normalization.default({ scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] }),
    /** 'logits' (softmax applied here) or 'probabilities' */
    output: z.enum(['logits', 'probabilities']).default('logits'),
    format: Format,
    /** ONNX: the output holding the class scores [batch, classes] (default: the first output) */
    logitsOutput: z.string().optional(),
    layout: Layout,
  }),
  /** Layers: the layer whose activations Grad-CAM reads; ONNX: the output that holds them ([batch, C, h, w] in nchw) */
  gradcamLayer: z.string(),
  /** Layers: spatial attention layers [batch, h, w, 1]; ONNX: outputs holding them ([batch, 1, h, w] in nchw) */
  attentionLayers: z.array(z.string()).default([]),
  segmenter: Segmenter,
  overlap: z
    .strictObject({
      /** mass: share of a map's mass inside the mask; iou / dice: of the maps binarised at `binarize` of their max;
       *  threshold-free (scoring/localisation.ts): rank (relevance rank accuracy), auc (pixel AUROC of the map
       *  against the mask), pointing (pointing game), localisation (size-weighted attribution localisation).
       *  `binarize` still binarises the attention map where it serves as the mask of Grad-CAM/attention. */
      measure: z.enum(['mass', 'iou', 'dice', 'rank', 'auc', 'pointing', 'localisation']).default('mass'),
      binarize: z.number().min(0).max(1).default(0.5),
    })
    .default({ measure: 'mass', binarize: 0.5 }),
  combine: z
    .strictObject({
      rule: z.enum(['mean', 'weighted', 'min', 'product']).default('mean'),
      weights: z
        .strictObject({
          gradcam_seg: z.number().min(0),
          attention_seg: z.number().min(0),
          gradcam_attention: z.number().min(0),
        })
        .default({ gradcam_seg: 1, attention_seg: 1, gradcam_attention: 1 }),
    })
    .default({ rule: 'mean', weights: { gradcam_seg: 1, attention_seg: 1, gradcam_attention: 1 } }),
  /** A mask smaller than this fraction of the image is "no object": status no_mask. */
  minMaskFraction: z.number().min(0).max(1).default(0.01),
  /** `accepted` = scores.confidence >= threshold. */
  threshold: z.number().min(0).max(1).default(0.5),
  /**
   * How scores.confidence (the decision score) is built (scoring/decision.ts): `overmap` (the
   * default: confidence = scores.overmap, as before this section existed), `softmax` (the primary
   * alone), or `sirc`: primary ^ (1 + exp(−b·(secondary − a))), the softmax as primary score and
   * an Over-MAP term as secondary that lowers only the images where it is below about a.
   */
  decision: DecisionSchema.default(() => ({ ...DEFAULT_DECISION })),
  /**
   * p of scores.maxlogit_pnorm (MaxLogit-pNorm: the centred logits' max over their p-norm); Cattelan
   * & Silva choose it on a labelled hold-out, and `overmap audit` measures it on the user's own sample
   */
  pnorm: z.number().min(1).max(64).default(2),
  /** The parameters of the records' `issue` rule (@overmap/shared issue-routing.ts). */
  routing: RoutingSchema.default(() => ({ ...DEFAULT_ROUTING })),
  /** MC-dropout passes of the head (0 = off). */
  mcDropoutSamples: z.number().int().min(0).max(1000).default(0),
  /** Free text for people (how the spec was chosen, say): kept in the hashed bytes, never read. */
  notes: z.string().optional(),
});
export type ModelSpec = z.infer<typeof ModelSpecSchema>;
export type Normalization = z.infer<typeof Normalization>;
