/**
 * The model spec: a JSON file (file://, s3:// or https://) that says which classifier to
 * run, how to feed it, where Grad-CAM and attention are read, which segmenter gives the
 * object mask, and how the overlaps combine into `scores.overmap`. Paths inside it are
 * relative to the spec's own location. Its content hash (spec + every model file) goes
 * into run.json and every record's run. Every object in it is strict: a field the schema does
 * not know (a misspelling such as "normalisation") is an error naming the nearest known field,
 * never a field silently dropped for its default.
 */
import { createHash } from 'node:crypto';
import * as posix from 'node:path/posix';
import * as path from 'node:path';
import { z } from 'zod';
import {
  DecisionSecondarySchema,
  ModelSpecError,
  type ObjectStore,
  isAbsoluteUri,
  openObject,
} from '@overmap/shared/core';
import { prefersOnnx } from '../backend/select-backend';
import { checkClassifierTopology } from './model-topology';
import { unknownFieldsMessage } from './unknown-fields';

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
    /** ONNX: the output holding the mask [batch, 1, h, w] (nchw) or [batch, h, w, 1] (default: the first output) */
    maskOutput: z.string().optional(),
    layout: Layout,
    /** 'probability' (sigmoid output in [0,1]) or 'logits' */
    output: z.enum(['probability', 'logits']).default('probability'),
    threshold: z.number().min(0).max(1).default(0.5),
    normalization: Normalization.default({ scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] }),
  }),
  z.strictObject({ type: z.literal('saliency'), blur: z.number().int().min(1).default(5) }),
  z.strictObject({
    /** An object detector run in the worker (TF.js or ONNX); its boxes above minScore are binarised into the mask. */
    type: z.literal('detector'),
    model: z.string(),
    /** 'layers' (tf.loadLayersModel), 'graph' (tfjs-converter output, run synchronously) or 'onnx' (ONNX Runtime); export it without NMS */
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
  decision: z
    .strictObject({
      rule: z.enum(['overmap', 'softmax', 'sirc']).default('overmap'),
      primary: z.enum(['msp', 'margin']).default('msp'),
      secondary: DecisionSecondarySchema.default('overmap'),
      a: z.number().default(0),
      b: z.number().positive().default(1),
    })
    .default({ rule: 'overmap', primary: 'msp', secondary: 'overmap', a: 0, b: 1 }),
  /** MC-dropout passes of the head (0 = off). */
  mcDropoutSamples: z.number().int().min(0).max(1000).default(0),
  /** Free text for people (how the spec was chosen, say): kept in the hashed bytes, never read. */
  notes: z.string().optional(),
});
export type ModelSpec = z.infer<typeof ModelSpecSchema>;
export type Normalization = z.infer<typeof Normalization>;

export interface ReadSpec {
  spec: ModelSpec;
  uri: string;
  /** the spec file's bytes */
  raw: Buffer;
  /** the store holding the spec: files named in the spec are keys in it */
  store: ObjectStore;
}

export interface LoadedSpec extends ReadSpec {
  /** sha256 over the spec and every model file it names */
  hash: string;
}

/**
 * A store that answers the first read of each prefetched key from memory, then forgets it:
 * the hash pass has already read every model file, so loading the models does not read them
 * again (a large model's weights over S3 are read once per process).
 */
function withPrefetched(store: ObjectStore, prefetched: Map<string, Buffer>): ObjectStore {
  const take = (key: string) => {
    const b = prefetched.get(key);
    prefetched.delete(key);
    return b;
  };
  // Explicit delegation: the stores are class instances, whose methods a spread would not copy.
  return {
    uri: store.uri,
    get: async (key, options) => take(key) ?? store.get(key, options),
    getIfExists: async (key) => take(key) ?? store.getIfExists(key),
    put: (key, body, options) => store.put(key, body, options),
    exists: (key) => store.exists(key),
    listPage: (prefix, options) => store.listPage(prefix, options),
    check: () => store.check(),
  };
}

/**
 * Where the bundled reference model lives in this checkout: its ONNX conversion where ONNX
 * Runtime is the chosen backend (OVERMAP_BACKEND=onnx, or unset and installed), else the
 * TF.js Layers original.
 */
export function referenceSpecUri(format: 'layers' | 'onnx' = prefersOnnx() ? 'onnx' : 'layers'): string {
  return path.resolve(
    __dirname,
    `../../../../models/reference/${format === 'onnx' ? 'overmap-model-onnx.json' : 'overmap-model.json'}`,
  );
}

async function fetchHttps(uri: string): Promise<Buffer> {
  const r = await fetch(uri);
  if (!r.ok) throw new ModelSpecError(`cannot fetch model spec ${uri}: HTTP ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** A read-only store over an https:// base (for specs and weights served over HTTP). */
function httpsStore(base: string): ObjectStore {
  const url = (key: string) => new URL(key, base).toString();
  const unsupported = async (): Promise<never> => {
    throw new ModelSpecError('https model locations are read-only');
  };
  return {
    uri: base,
    get: (key) => fetchHttps(url(key)),
    getIfExists: async (key) => {
      const r = await fetch(url(key));
      return r.ok ? Buffer.from(await r.arrayBuffer()) : undefined;
    },
    put: unsupported,
    exists: async (key) => (await fetch(url(key), { method: 'HEAD' })).ok,
    listPage: unsupported,
    check: async () => undefined,
  };
}

/** Reads and validates a spec without touching the model files it names (for its class names, say). */
export async function readSpec(uri: string): Promise<ReadSpec> {
  let store: ObjectStore;
  let key: string;
  if (/^https?:\/\//i.test(uri)) {
    const u = new URL(uri);
    key = posix.basename(u.pathname);
    store = httpsStore(new URL('.', u).toString());
  } else {
    ({ store, key } = openObject(uri, 'model spec URI'));
  }
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (e) {
    throw new ModelSpecError(`cannot read model spec ${uri} (${(e as Error).message}): check the --model URI`, {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new ModelSpecError(`model spec ${uri} is not valid JSON (${(e as Error).message})`);
  }
  const r = ModelSpecSchema.safeParse(json);
  if (!r.success) {
    // A misspelt field usually also leaves a required one missing: name the misspelling first.
    const unknown = unknownFieldsMessage(ModelSpecSchema, r.error.issues, json, uri);
    if (unknown) throw new ModelSpecError(unknown);
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelSpecError(`model spec ${uri} is invalid: ${issues}`);
  }
  const spec = r.data;
  const segNorm =
    spec.segmenter.type === 'model' || spec.segmenter.type === 'detector'
      ? ([['segmenter.normalization', spec.segmenter.normalization]] as const)
      : [];
  for (const [name, n] of [['classifier.normalization', spec.classifier.normalization], ...segNorm] as const) {
    if (n.mean.length !== 3 || n.std.length !== 3)
      throw new ModelSpecError(`model spec ${uri}: ${name} needs 3 means and 3 stds`);
  }
  return { spec, uri, raw, store };
}

/** Reads and validates a spec and hashes it with every model file it names. */
export async function loadSpec(uri: string): Promise<LoadedSpec> {
  const { spec, raw, store } = await readSpec(uri);
  const prefetched = new Map<string, Buffer>();
  const hash = createHash('sha256').update(raw);
  const seg = spec.segmenter;
  const files: [string, string][] = [
    [spec.classifier.model, spec.classifier.format],
    ...(seg.type === 'model'
      ? ([[seg.model, seg.format]] as [string, string][])
      : seg.type === 'detector'
        ? ([[seg.model, seg.format]] as [string, string][])
        : []),
  ];
  for (const [f, format] of files) {
    const mj = await store.getIfExists(f);
    if (!mj) throw new ModelSpecError(`model spec ${uri}: model file ${f} not found next to the spec`);
    hash.update(mj);
    prefetched.set(f, mj);
    // An ONNX file is the whole model (weights inside; external-data files are not supported).
    if (format === 'onnx') continue;
    let modelJson: { weightsManifest?: { paths: string[] }[] };
    try {
      modelJson = JSON.parse(mj.toString('utf8'));
    } catch (e) {
      throw new ModelSpecError(`model spec ${uri}: model file ${f} is not valid JSON (${(e as Error).message})`);
    }
    if (f === spec.classifier.model) checkClassifierTopology(spec, modelJson, f);
    const manifest = modelJson.weightsManifest ?? [];
    for (const g of manifest) {
      for (const p of g.paths) {
        const key = posix.normalize(posix.join(posix.dirname(f), p));
        const w = await store.getIfExists(key);
        if (!w) throw new ModelSpecError(`model spec ${uri}: weights file ${p} of ${f} not found`);
        hash.update(w);
        prefetched.set(key, w);
      }
    }
  }
  if (spec.segmenter.type === 'boxes' && !isAbsoluteUri(spec.segmenter.source)) {
    // Boxes are part of what decides the scores: a changed boxes file is a changed model.
    const b = await store.getIfExists(spec.segmenter.source);
    if (!b)
      throw new ModelSpecError(`model spec ${uri}: boxes file ${spec.segmenter.source} not found next to the spec`);
    hash.update(b);
    prefetched.set(spec.segmenter.source, b);
  }
  return { spec, uri, raw, hash: hash.digest('hex'), store: withPrefetched(store, prefetched) };
}
