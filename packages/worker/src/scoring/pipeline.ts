/**
 * The Over-MAP pipeline for one batch: one classifier pass yields logits, the Grad-CAM
 * layer's activations and the attention maps; Grad-CAM of each image's predicted class
 * (and of its label, where given) through the head; the segmentation mask; the three
 * overlaps and their combination; the softmax baselines and, if asked, MC dropout over
 * the head. Every tensor step runs inside tf.tidy; only plain arrays leave.
 */
import { ModelSpecError, openStore } from '@overmap/shared';
import * as tf from '../backend/tf';
import '../model/channel-pool-layer';
import type { LoadedSpec, ModelSpec } from '../model/model-spec';
import { objectStoreIO } from '../model/object-store-io';
import { baselinesOf } from './baseline-values';
import { type ClassifierGraph, applyHead, buildClassifierGraph } from './classifier-graph';
import { gradCam, normalizeMax, resizeMaps } from './grad-cam';
import { overlap, overmapScore } from './overlap';
import { binarize, frequencyTunedSaliency, saliencyMask } from './segment';

/** One decoded image: RGB bytes at the classifier's input size (and the segmenter's, if it differs). */
export interface ScoreInput {
  rgb: Uint8Array;
  /** the image's key, for segmenters that look up per-image data (detector boxes) */
  key?: string;
  segRgb?: Uint8Array;
  /** class index of the given label, if known */
  label?: number | null;
}

export interface ImageScore {
  index: number;
  top: { index: number; p: number }[];
  noMask: boolean;
  maskFraction: number;
  gradcam_seg: number;
  attention_seg: number;
  gradcam_attention: number;
  overmap: number;
  label_gradcam_seg: number | null;
  msp: number;
  entropy: number;
  margin: number;
  mc_dropout: number | null;
  /** maps at mask resolution, for overlays, when asked for */
  maps?: { gradcam: Float32Array; attention: Float32Array | null; mask: Float32Array; size: [number, number] };
}

export interface Scorer {
  /** Images per synchronous scoreBatch call that keep the event loop free (see load()). */
  readonly microBatch?: number;
  readonly spec: ModelSpec;
  readonly hash: string;
  readonly inputSize: [number, number];
  readonly segInputSize: [number, number] | null;
  scoreBatch(inputs: ScoreInput[], options?: { keepMaps?: boolean }): ImageScore[];
  dispose(): void;
}

function normalize(rgb: tf.Tensor4D, n: ModelSpec['classifier']['normalization']): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(tf.mul(rgb, n.scale), tf.tensor1d(n.mean)), tf.tensor1d(n.std)) as tf.Tensor4D);
}

/** Binarised detector boxes: 1 inside any box (coordinates in [0, 1]), per image, [B*h*w]. */
export function boxMasks(perImage: number[][][], h: number, w: number): Float32Array {
  const out = new Float32Array(perImage.length * h * w);
  perImage.forEach((boxes, i) => {
    for (const [x0, y0, x1, y1] of boxes) {
      const ys = Math.max(0, Math.floor(y0! * h)), ye = Math.min(h, Math.ceil(y1! * h));
      const xs = Math.max(0, Math.floor(x0! * w)), xe = Math.min(w, Math.ceil(x1! * w));
      for (let y = ys; y < ye; y++) out.fill(1, i * h * w + y * w + xs, i * h * w + y * w + Math.max(xs, xe));
    }
  });
  return out;
}

/** Detector outputs -> per image, boxes [x0, y0, x1, y1] (normalised) scoring at least minScore. */
export function detectorBoxes(
  boxes: ArrayLike<number>, scores: ArrayLike<number>, batch: number, k: number, format: 'yxyx' | 'xyxy', minScore: number,
): number[][][] {
  return Array.from({ length: batch }, (_, i) => {
    const out: number[][] = [];
    for (let j = 0; j < k; j++) {
      if (!(scores[i * k + j]! >= minScore)) continue; // NaN scores never pass
      const [a, b, c, d] = [0, 1, 2, 3].map((q) => boxes[(i * k + j) * 4 + q]!) as [number, number, number, number];
      const [x0, y0, x1, y1] = format === 'yxyx' ? [b, a, d, c] : [a, b, c, d];
      out.push([Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]);
    }
    return out;
  });
}

/** A detector's boxes and scores tensors from its outputs, checked against the spec. */
function detectorOutputs(outs: tf.Tensor | tf.Tensor[], spec: Extract<ModelSpec['segmenter'], { type: 'detector' }>, b: number): { boxes: tf.Tensor; scores: tf.Tensor; k: number } {
  const list = Array.isArray(outs) ? outs : [outs];
  const boxes = list[spec.boxesOutput], scores = list[spec.scoresOutput];
  if (!boxes || !scores) throw new ModelSpecError(`the detector has ${list.length} output(s): the spec's boxesOutput ${spec.boxesOutput} / scoresOutput ${spec.scoresOutput} do not exist`);
  const k = boxes.shape[1] ?? 0;
  if (boxes.rank !== 3 || boxes.shape[0] !== b || boxes.shape[2] !== 4) throw new ModelSpecError(`the detector's output ${spec.boxesOutput} is [${boxes.shape.join(',')}]: boxes must be [batch, K, 4]`);
  if (scores.shape[0] !== b || scores.shape[1] !== k || scores.size !== b * k) throw new ModelSpecError(`the detector's output ${spec.scoresOutput} is [${scores.shape.join(',')}]: scores must be [batch, ${k}] (one per box)`);
  return { boxes, scores, k };
}

async function loadBoxes(loaded: LoadedSpec, source: string, minScore: number): Promise<Map<string, number[][]>> {
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || source.startsWith('/')
    ? await openStoreFor(source)
    : await loaded.store.getIfExists(source);
  if (!raw) throw new ModelSpecError(`segmenter boxes file ${source} named in ${loaded.uri} not found`);
  const map = new Map<string, number[][]>();
  raw.toString('utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: { key?: unknown; boxes?: unknown };
    try { o = JSON.parse(line); } catch { throw new ModelSpecError(`boxes file ${source} line ${i + 1} is not JSON`); }
    if (typeof o.key !== 'string' || !Array.isArray(o.boxes) || !o.boxes.every((b) => Array.isArray(b) && b.length >= 4 && b.every((v) => typeof v === 'number'))) {
      throw new ModelSpecError(`boxes file ${source} line ${i + 1}: write {"key": "...", "boxes": [[x0, y0, x1, y1, score?], ...]} with coordinates in [0, 1]`);
    }
    map.set(o.key, (o.boxes as number[][]).filter((b) => (b[4] ?? 1) >= minScore));
  });
  return map;
}

async function openStoreFor(uri: string): Promise<Buffer | undefined> {
  const slash = uri.lastIndexOf('/');
  return openStore(uri.slice(0, slash + 1), {}, 'boxes URI').getIfExists(uri.slice(slash + 1));
}

interface BatchTensors {
  probs: tf.Tensor2D; topV: tf.Tensor2D; topI: tf.Tensor2D;
  gradcamSeg: tf.Tensor; attentionSeg: tf.Tensor; gradcamAtt: tf.Tensor; maskFraction: tf.Tensor;
  labelSeg: tf.Tensor | null; mc: tf.Tensor | null;
  maps: { cam: tf.Tensor3D; att: tf.Tensor3D | null; mask: tf.Tensor3D } | null;
}

/** Longest the worker may hold the event loop in one scoring call (BullMQ renews locks on it). */
export const MAX_STALL_MS = 250;

export class OverMapScorer implements Scorer {
  /** Set by load() from a timed warm-up: images per call that stay under MAX_STALL_MS. */
  microBatch = 16;

  private constructor(
    readonly spec: ModelSpec,
    readonly hash: string,
    private readonly classifier: tf.LayersModel,
    private readonly graph: ClassifierGraph,
    /** the learned segmenter or the detector, whichever the spec names */
    private readonly segmenter: tf.LayersModel | tf.GraphModel | null,
    private readonly boxes: Map<string, number[][]> | null = null,
  ) {}

  get inputSize(): [number, number] {
    return this.spec.classifier.inputSize;
  }

  get segInputSize(): [number, number] | null {
    if (!this.segmenter) return null;
    const s = this.segmenter.inputs[0]!.shape!;
    return [s[1] as number, s[2] as number];
  }

  /** Validate spec, then load, then warm up once. */
  static async load(loaded: LoadedSpec): Promise<OverMapScorer> {
    const { spec } = loaded;
    const loadModel = async (file: string, role: string) => {
      try {
        return await tf.loadLayersModel(objectStoreIO(loaded.store, file));
      } catch (e) {
        throw new ModelSpecError(`cannot load the ${role} ${file} named in ${loaded.uri}: ${(e as Error).message}`, { cause: e });
      }
    };
    const classifier = await loadModel(spec.classifier.model, 'classifier');
    const inShape = classifier.inputs[0]!.shape;
    if (inShape[1] !== spec.classifier.inputSize[0] || inShape[2] !== spec.classifier.inputSize[1] || inShape[3] !== 3) {
      throw new ModelSpecError(`the classifier takes [${inShape.slice(1).join(',')}] but the spec says inputSize ${spec.classifier.inputSize.join('x')} with 3 channels`);
    }
    const graph = buildClassifierGraph(classifier, spec.gradcamLayer, spec.attentionLayers, spec.classes.length);
    let segmenter: tf.LayersModel | tf.GraphModel | null = null;
    if (spec.segmenter.type === 'model') {
      segmenter = await loadModel(spec.segmenter.model, 'segmenter');
      const s = segmenter.outputs[0]!.shape;
      if (s.length !== 4 || s[3] !== 1) throw new ModelSpecError(`the segmenter outputs [${s.join(',')}]: it must output one mask channel [batch, h, w, 1]`);
    } else if (spec.segmenter.type === 'detector') {
      const file = spec.segmenter.model;
      try {
        segmenter = spec.segmenter.format === 'graph'
          ? await tf.loadGraphModel(objectStoreIO(loaded.store, file))
          : await tf.loadLayersModel(objectStoreIO(loaded.store, file));
      } catch (e) {
        throw new ModelSpecError(`cannot load the detector ${file} (format ${spec.segmenter.format}) named in ${loaded.uri}: ${(e as Error).message}`, { cause: e });
      }
      const s = segmenter.inputs[0]!.shape;
      if (!s || s.length !== 4 || !(s[1]! > 0) || !(s[2]! > 0) || s[3] !== 3) {
        throw new ModelSpecError(`the detector ${file} takes [${s?.slice(1).join(',')}]: it needs a fixed-size RGB input [batch, h, w, 3]`);
      }
    }
    const boxes = spec.segmenter.type === 'boxes' ? await loadBoxes(loaded, spec.segmenter.source, spec.segmenter.minScore) : null;
    const scorer = new OverMapScorer(spec, loaded.hash, classifier, graph, segmenter, boxes);
    try {
      scorer.calibrate();
    } catch (e) {
      if (spec.segmenter.type === 'detector' && /executeAsync|dynamic op/i.test((e as Error).message)) {
        throw new ModelSpecError(`the detector ${spec.segmenter.model} needs executeAsync (control flow or NMS in the graph): export it without NMS, raw boxes and scores as outputs`, { cause: e });
      }
      throw e;
    }
    return scorer;
  }

  scoreBatch(inputs: ScoreInput[], options: { keepMaps?: boolean } = {}): ImageScore[] {
    const spec = this.spec;
    const b = inputs.length;
    const [h, w] = this.inputSize;
    const segSize = this.segInputSize;
    const rgb = new Float32Array(b * h * w * 3);
    inputs.forEach((x, i) => rgb.set(x.rgb, i * h * w * 3));
    let segRgb: Float32Array | null = null;
    if (segSize && (segSize[0] !== h || segSize[1] !== w)) {
      segRgb = new Float32Array(b * segSize[0] * segSize[1] * 3);
      inputs.forEach((x, i) => {
        if (!x.segRgb) throw new Error('segRgb missing: the segmenter input size differs from the classifier');
        segRgb!.set(x.segRgb, i * segSize[0] * segSize[1] * 3);
      });
    }
    const labels = inputs.map((x) => x.label ?? -1);
    const anyLabel = labels.some((l) => l >= 0);

    // tidy keeps every tensor reachable from the returned object (nulls are skipped).
    const out = tf.tidy((() => {
      const raw = tf.tensor4d(rgb, [b, h, w, 3]);
      const x = normalize(raw, spec.classifier.normalization);
      // predict() returns a bare tensor, not an array, when there is one output (no attention layers).
      const out = this.graph.features.predict(x);
      const feats = Array.isArray(out) ? out : [out];
      const acts = feats[0] as tf.Tensor4D;
      const head = (a: tf.Tensor4D) => applyHead(this.graph, a);
      const scores = head(acts);
      const probs = spec.classifier.output === 'logits' ? tf.softmax(scores) : scores;
      const pred = tf.argMax(probs, 1) as tf.Tensor1D;

      // Segmentation mask [B, S, S].
      let mask: tf.Tensor3D;
      const sraw = () => (segRgb ? tf.tensor4d(segRgb, [b, segSize![0], segSize![1], 3]) : raw);
      if (this.segmenter && spec.segmenter.type === 'model') {
        let p = (this.segmenter.predict(normalize(sraw(), spec.segmenter.normalization)) as tf.Tensor4D).squeeze([3]) as tf.Tensor3D;
        if (spec.segmenter.output === 'logits') p = tf.sigmoid(p);
        mask = binarize(p, spec.segmenter.threshold);
      } else if (this.segmenter && spec.segmenter.type === 'detector') {
        const d = detectorOutputs(this.segmenter.predict(normalize(sraw(), spec.segmenter.normalization)) as tf.Tensor | tf.Tensor[], spec.segmenter, b);
        const perImage = detectorBoxes(d.boxes.dataSync(), d.scores.dataSync(), b, d.k, spec.segmenter.boxFormat, spec.segmenter.minScore);
        mask = tf.tensor3d(boxMasks(perImage, h, w), [b, h, w]);
      } else if (this.boxes) {
        mask = tf.tensor3d(boxMasks(inputs.map((x) => (x.key ? this.boxes!.get(x.key) : undefined) ?? []), h, w), [b, h, w]);
      } else {
        const blur = spec.segmenter.type === 'saliency' ? spec.segmenter.blur : 5;
        mask = saliencyMask(frequencyTunedSaliency(tf.div(raw, 255) as tf.Tensor4D, blur));
      }
      const size: [number, number] = [mask.shape[1], mask.shape[2]];

      const cam = resizeMaps(gradCam(head, acts, pred, this.graph.numClasses), size);
      const att = this.graph.attentionCount > 0
        ? resizeMaps(normalizeMax(tf.addN(feats.slice(1).map((a) => resizeMaps(tf.squeeze(a, [3]) as tf.Tensor3D, [acts.shape[1], acts.shape[2]]))) as tf.Tensor3D), size)
        : null;
      const { measure, binarize: t } = spec.overlap;
      const gradcamSeg = overlap(cam, mask, measure, t);
      const attentionSeg = att ? overlap(att, mask, measure, t) : tf.zeros([b]);
      const gradcamAtt = att ? overlap(cam, binarize(att, t), measure, t) : tf.zeros([b]);
      const maskFraction = tf.mean(mask, [1, 2]);
      let labelSeg: tf.Tensor | null = null;
      if (anyLabel) {
        const targets = tf.tensor1d(labels.map((l) => Math.max(0, l)), 'int32');
        labelSeg = overlap(resizeMaps(gradCam(head, acts, targets, this.graph.numClasses), size), mask, measure, t);
      }
      let mc: tf.Tensor | null = null;
      if (spec.mcDropoutSamples > 0) {
        // MC dropout over the head (Gal & Ghahramani 2016): exact for networks whose only dropout is in the head.
        let sum: tf.Tensor = tf.zeros(probs.shape);
        for (let s = 0; s < spec.mcDropoutSamples; s++) {
          const o = applyHead(this.graph, acts, true);
          sum = tf.add(sum, spec.classifier.output === 'logits' ? tf.softmax(o) : o);
        }
        mc = tf.sum(tf.mul(tf.div(sum, spec.mcDropoutSamples), tf.oneHot(pred, this.graph.numClasses)), 1);
      }
      const k = Math.min(3, this.graph.numClasses);
      const top = tf.topk(probs, k);
      return {
        probs, topV: top.values, topI: top.indices, gradcamSeg, attentionSeg, gradcamAtt, maskFraction, labelSeg, mc,
        maps: options.keepMaps ? { cam, att, mask } : null,
      };
    }) as unknown as () => tf.TensorContainer) as unknown as BatchTensors;

    try {
      const topV = out.topV.dataSync(), topI = out.topI.dataSync();
      const k = out.topV.shape[1]!;
      const gs = out.gradcamSeg.dataSync(), as = out.attentionSeg.dataSync(), ga = out.gradcamAtt.dataSync();
      const mf = out.maskFraction.dataSync();
      const ls = out.labelSeg?.dataSync();
      const mc = out.mc?.dataSync();
      const base = baselinesOf(out.probs.dataSync(), b, this.graph.numClasses);
      const maps = out.maps ? { cam: out.maps.cam.dataSync(), att: out.maps.att?.dataSync() ?? null, mask: out.maps.mask.dataSync(), size: [out.maps.mask.shape[1], out.maps.mask.shape[2]] as [number, number] } : null;
      const weights = spec.combine.weights;
      return inputs.map((_, i) => {
        const noMask = mf[i]! < spec.minMaskFraction;
        // No object found: "estimation not available", the mask overlaps are 0 (paper, Contribution).
        const c = {
          gradcam_seg: noMask ? 0 : gs[i]!,
          attention_seg: noMask ? 0 : as[i]!,
          gradcam_attention: ga[i]!,
        };
        const px = maps ? maps.size[0] * maps.size[1] : 0;
        return {
          index: topI[i * k]!,
          top: Array.from({ length: k }, (_, j) => ({ index: topI[i * k + j]!, p: topV[i * k + j]! })),
          noMask,
          maskFraction: mf[i]!,
          ...c,
          overmap: overmapScore(c, { noMask, hasAttention: this.graph.attentionCount > 0, rule: spec.combine.rule, weights }),
          label_gradcam_seg: ls && labels[i]! >= 0 ? (noMask ? 0 : ls[i]!) : null,
          msp: base.msp[i]!, entropy: base.entropy[i]!, margin: base.margin[i]!,
          mc_dropout: mc ? mc[i]! : null,
          ...(maps ? {
            maps: {
              gradcam: Float32Array.from(maps.cam.subarray(i * px, (i + 1) * px)),
              attention: maps.att ? Float32Array.from(maps.att.subarray(i * px, (i + 1) * px)) : null,
              mask: Float32Array.from(maps.mask.subarray(i * px, (i + 1) * px)),
              size: maps.size,
            },
          } : {}),
        };
      });
    } finally {
      tf.dispose(out as unknown as tf.TensorContainer);
    }
  }

  /** Warms up once (kernels compiled, weights packed), then sizes microBatch from a timed call. */
  calibrate(): void {
    const [h, w] = this.inputSize;
    const seg = this.segInputSize;
    const blank = { rgb: new Uint8Array(h * w * 3), segRgb: seg ? new Uint8Array(seg[0] * seg[1] * 3) : undefined };
    this.scoreBatch([blank]);
    const t0 = performance.now();
    this.scoreBatch([blank, blank]);
    const msPerImage = (performance.now() - t0) / 2;
    this.microBatch = Math.max(1, Math.min(64, Math.floor(MAX_STALL_MS / Math.max(msPerImage, 1e-3))));
  }

  /** The loaded parts, for benchmarks that time each stage. */
  get parts(): { classifier: tf.LayersModel; graph: ClassifierGraph; segmenter: tf.LayersModel | tf.GraphModel | null } {
    return { classifier: this.classifier, graph: this.graph, segmenter: this.segmenter };
  }

  /** Builds a scorer from models already in memory (benchmarks, tests). */
  static fromModels(spec: ModelSpec, hash: string, classifier: tf.LayersModel, segmenter: tf.LayersModel | null): OverMapScorer {
    return new OverMapScorer(spec, hash, classifier, buildClassifierGraph(classifier, spec.gradcamLayer, spec.attentionLayers, spec.classes.length), segmenter);
  }

  dispose(): void {
    this.classifier.dispose();
    this.segmenter?.dispose();
  }
}
