/**
 * Trains the reference models on generated cluttered Fashion-MNIST scenes: the CBAM
 * classifier on labels with a known fraction flipped (the misleading annotations Over-MAP
 * is meant to weed out), and the segmenter on the ground-truth masks.
 */
import { createHash } from 'node:crypto';
import { FsObjectStore } from '@overmap/shared';
import { tf } from '@overmap/worker';
import { objectStoreIO } from '@overmap/worker';
import { ATTENTION_LAYER, buildCbamClassifier, buildSegmenter } from './architectures';
import { type ItemBank, type Split, SCENE_SIZE, makeScene, noisyLabel } from './fashion-scenes';
import { type VariedSplit, makeVariedScene } from './varied-scenes';

/** `classic`: `makeScene` (the first reference model's scenes); `varied`: `makeVariedScene`. */
export type SceneGenerator = 'classic' | 'varied';

export interface SceneSet {
  images: Uint8Array; // n*64*64*3
  masks: Uint8Array; // n*64*64
  labels: Int32Array; // training labels (noisy for train)
  trueLabels: Int32Array;
  flipped: Uint8Array;
  n: number;
}

const PX = SCENE_SIZE * SCENE_SIZE;

export function generateScenes(
  bank: ItemBank, seed: string, split: Split | VariedSplit, n: number, noise = 0, generator: SceneGenerator = 'classic', skip?: [number, number],
): SceneSet {
  if (generator === 'classic' && split === 'shifted') throw new Error('generateScenes: the shifted split belongs to the varied generator');
  // Scene indices [0, n) without [skip[0], skip[1]) (a fold model never sees the half it scores).
  const indices = Array.from({ length: n }, (_, i) => i).filter((i) => !skip || i < skip[0] || i >= skip[1]);
  const m = indices.length;
  const set: SceneSet = {
    images: new Uint8Array(m * PX * 3), masks: new Uint8Array(m * PX), labels: new Int32Array(m),
    trueLabels: new Int32Array(m), flipped: new Uint8Array(m), n: m,
  };
  indices.forEach((i, j) => {
    const s = generator === 'varied' ? makeVariedScene(bank, { seed, split }, i) : makeScene(bank, { seed, split: split as Split }, i);
    set.images.set(s.image, j * PX * 3);
    set.masks.set(s.mask, j * PX);
    set.trueLabels[j] = s.label;
    const l = noise > 0 ? noisyLabel(seed, i, s.label, noise) : { label: s.label, flipped: false };
    set.labels[j] = l.label;
    set.flipped[j] = l.flipped ? 1 : 0;
  });
  return set;
}

export function batchImages(set: SceneSet, idx: number[]): tf.Tensor4D {
  const buf = new Float32Array(idx.length * PX * 3);
  idx.forEach((j, b) => {
    const src = set.images.subarray(j * PX * 3, (j + 1) * PX * 3);
    for (let k = 0; k < src.length; k++) buf[b * PX * 3 + k] = src[k]! / 255;
  });
  return tf.tensor4d(buf, [idx.length, SCENE_SIZE, SCENE_SIZE, 3]);
}

export function batchMasks(set: SceneSet, idx: number[]): tf.Tensor4D {
  const buf = new Float32Array(idx.length * PX);
  idx.forEach((j, b) => buf.set(set.masks.subarray(j * PX, (j + 1) * PX), b * PX));
  return tf.tensor4d(buf, [idx.length, SCENE_SIZE, SCENE_SIZE, 1]);
}

function shuffled(n: number, rng: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Peak learning rate; decays along a cosine to `finalLearningRate` over the run. */
  learningRate: number;
  finalLearningRate?: number;
  /**
   * Linear warm-up: the first `warmupSteps` steps ramp the learning rate from 1/20 of the epoch's
   * rate up to it (0 or absent: none). From scratch on varied scenes, Adam at 1e-3 without it
   * left the classifier at chance (every prediction one class) after a whole epoch.
   */
  warmupSteps?: number;
  log: (msg: string, data?: Record<string, unknown>) => void;
  rng: () => number;
  /**
   * Classifier only: weight λ of the guided-attention loss (`attentionGuidanceLoss`) added to the
   * cross-entropy; 0 or absent: unguided, the same step as before (the attention is not even read).
   */
  guidance?: number;
  /**
   * Called (and awaited) after every epoch that is the best so far on validation, while the model
   * holds that epoch's weights: e.g. to save a checkpoint, so an interrupted run leaves its best model.
   */
  onBest?: (epoch: number, stats: EpochStats[]) => Promise<void>;
}

export interface EpochStats {
  epoch: number; loss: number; imagesPerSecond: number; val: number; learningRate: number;
  /** Classifier: mean guidance loss over the epoch (when guided) and the attention mass inside the mask on validation. */
  guidanceLoss?: number; valAttentionMass?: number;
}

export interface TrainResult {
  epochs: EpochStats[];
  /** The epoch whose weights the model holds at the end: the best on validation. */
  bestEpoch: number;
}

/** The rate at `step` (0-based, counted over the run) of a linear warm-up from rate/20 to `rate` over `warmupSteps` steps. */
export function warmedUp(rate: number, step: number, warmupSteps: number): number {
  if (!(warmupSteps > 0) || step >= warmupSteps) return rate;
  return rate * (0.05 + (0.95 * step) / warmupSteps);
}

/** Cosine decay from `peak` (epoch 1) to `final` (last epoch). */
export function cosineLearningRate(epoch: number, epochs: number, peak: number, final: number): number {
  if (epochs <= 1) return peak;
  return final + 0.5 * (peak - final) * (1 + Math.cos((Math.PI * (epoch - 1)) / (epochs - 1)));
}

/**
 * The guided-attention loss: binary cross-entropy between the spatial attention map
 * ([B, h, w, 1], a sigmoid) and the object mask ([B, H, W, 1], 0/1) average-pooled to h x w
 * (the fraction of each attention cell that lies on the object), averaged over cells.
 */
export function attentionGuidanceLoss(attention: tf.Tensor, masks: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const target = poolMasks(masks, attention.shape[1]!);
    const a = attention.clipByValue(1e-6, 1 - 1e-6);
    return target.mul(a.log()).add(tf.scalar(1).sub(target).mul(tf.scalar(1).sub(a).log())).mean().neg() as tf.Scalar;
  });
}

/** The masks [B, H, W, 1] average-pooled to [B, side, side, 1]. */
export function poolMasks(masks: tf.Tensor, side: number): tf.Tensor4D {
  const f = masks.shape[1]! / side;
  if (!Number.isInteger(f) || f < 1) throw new Error(`poolMasks: mask side ${masks.shape[1]} is not a multiple of the attention side ${side}`);
  return (f === 1 ? masks.clone() : tf.avgPool(masks as tf.Tensor4D, f, f, 'valid')) as tf.Tensor4D;
}

/** The classifier with a second output: its spatial attention map (same layers, same weights). */
export function withAttentionOutput(model: tf.LayersModel): tf.LayersModel {
  return tf.model({ inputs: model.inputs, outputs: [model.outputs[0]!, model.getLayer(ATTENTION_LAYER).output as tf.SymbolicTensor] });
}

/**
 * The classifier's training loss on a batch: softmax cross-entropy, plus λ·`attentionGuidanceLoss`
 * when `guidance` λ > 0 (then `training` must be the model `withAttentionOutput`; `masks` the batch's
 * object masks). With λ = 0 this is exactly the unguided loss. Returns the total and, guided, the
 * guidance term.
 */
export function classifierLoss(
  model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, guidance = 0, training?: tf.LayersModel, masks?: tf.Tensor,
): { total: tf.Scalar; guidance?: tf.Scalar } {
  if (!(guidance > 0)) return { total: tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar };
  if (!training || !masks) throw new Error('classifierLoss: guidance needs the model with its attention output and the masks');
  const [logits, attention] = training.apply(x, { training: true }) as tf.Tensor[];
  const g = attentionGuidanceLoss(attention!, masks);
  return { total: tf.losses.softmaxCrossEntropy(y, logits!).add(g.mul(guidance)) as tf.Scalar, guidance: g };
}

/**
 * Accuracy (true labels) and where the spatial attention lies: `attentionMass`, the mean over
 * scenes of the attention's mass inside the object mask (Σ a·m / Σ a at the attention's
 * resolution, m the mask's pooled fraction: the same as the upsampled map's mass inside the
 * full-resolution mask), beside `maskFraction`, the mean share of the image the mask covers
 * (what a uniform attention would get).
 */
export function classifierStats(model: tf.LayersModel, set: SceneSet, batchSize = 250): { accuracy: number; attentionMass: number; maskFraction: number } {
  const both = withAttentionOutput(model);
  let correct = 0, mass = 0, frac = 0;
  for (let i = 0; i < set.n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.n - i) }, (_, k) => i + k);
    const [pred, m, f] = tf.tidy(() => {
      const [logits, att] = both.predict(batchImages(set, idx)) as tf.Tensor[];
      const masks = batchMasks(set, idx);
      const pooled = poolMasks(masks, att!.shape[1]!);
      const inside = att!.mul(pooled).sum([1, 2, 3]).div(att!.sum([1, 2, 3]).maximum(1e-9));
      return [logits!.argMax(-1).dataSync(), inside.dataSync(), masks.mean([1, 2, 3]).dataSync()];
    });
    idx.forEach((j, b) => {
      if (pred[b] === set.trueLabels[j]) correct++;
      mass += m[b]!;
      frac += f[b]!;
    });
  }
  return { accuracy: correct / set.n, attentionMass: mass / set.n, maskFraction: frac / set.n };
}

/** Mean accuracy against the true labels (classifier) on a scene set. */
export function classifierAccuracy(model: tf.LayersModel, set: SceneSet, batchSize = 256): number {
  let correct = 0;
  for (let i = 0; i < set.n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.n - i) }, (_, k) => i + k);
    const pred = tf.tidy(() => (model.predict(batchImages(set, idx)) as tf.Tensor).argMax(-1).dataSync());
    idx.forEach((j, b) => { if (pred[b] === set.trueLabels[j]) correct++; });
  }
  return correct / set.n;
}

/** Mean IoU of the segmenter's mask (p > 0.5) against the ground truth. */
export function segmenterIoU(model: tf.LayersModel, set: SceneSet, batchSize = 256): number {
  let total = 0;
  for (let i = 0; i < set.n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, set.n - i) }, (_, k) => i + k);
    const ious = tf.tidy(() => {
      const p = (model.predict(batchImages(set, idx)) as tf.Tensor).greater(0.5).toFloat();
      const m = batchMasks(set, idx);
      const inter = p.mul(m).sum([1, 2, 3]);
      const union = p.add(m).sub(p.mul(m)).sum([1, 2, 3]);
      return inter.div(union.maximum(1)).dataSync();
    });
    ious.forEach((v) => { total += v; });
  }
  return total / set.n;
}

/**
 * Trains with Adam and a cosine learning-rate decay, measures validation after every epoch and
 * leaves the model holding the weights (trainable and batch-norm statistics) of the best
 * validation epoch, not the last: with batch norm's moving statistics on a few thousand steps,
 * validation accuracy moves several points from one epoch to the next.
 */
export async function trainModel(
  model: tf.LayersModel, train: SceneSet, val: SceneSet, kind: 'classifier' | 'segmenter', o: TrainOptions,
): Promise<TrainResult> {
  const optimizer = tf.train.adam(o.learningRate);
  const stats: EpochStats[] = [];
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const guidance = kind === 'classifier' ? o.guidance ?? 0 : 0;
  const training = guidance > 0 ? withAttentionOutput(model) : undefined;
  let best: { epoch: number; val: number; weights: tf.Tensor[] } | undefined;
  let step = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const lr = cosineLearningRate(epoch, o.epochs, o.learningRate, o.finalLearningRate ?? o.learningRate);
    // tfjs's Adam reads its (protected) learningRate on every step; there is no public setter.
    const setRate = (r: number) => { (optimizer as unknown as { learningRate: number }).learningRate = r; };
    setRate(lr);
    const order = shuffled(train.n, o.rng);
    let lossSum = 0, guidanceSum = 0, batches = 0;
    const t0 = performance.now();
    let lastProgress = t0;
    for (let i = 0; i + o.batchSize <= train.n; i += o.batchSize) {
      const idx = order.slice(i, i + o.batchSize);
      setRate(warmedUp(lr, step++, o.warmupSteps ?? 0)); // the epoch's rate once the warm-up is over
      let g: tf.Scalar | undefined;
      const loss = tf.tidy(() => {
        const x = batchImages(train, idx);
        const y = kind === 'classifier'
          ? tf.oneHot(tf.tensor1d(idx.map((j) => train.labels[j]!), 'int32'), 10)
          : batchMasks(train, idx);
        const masks = guidance > 0 ? batchMasks(train, idx) : undefined;
        return optimizer.minimize(() => {
          if (kind === 'segmenter') return tf.losses.logLoss(y, model.apply(x, { training: true }) as tf.Tensor); // the segmenter outputs probabilities
          const l = classifierLoss(model, x, y, guidance, training, masks);
          if (l.guidance) g = tf.keep(l.guidance.clone());
          return l.total;
        }, true, trainable) as tf.Scalar;
      });
      lossSum += loss.dataSync()[0]!;
      loss.dispose();
      if (g) { guidanceSum += g.dataSync()[0]!; g.dispose(); }
      batches++;
      const now = performance.now();
      if (now - lastProgress > 30_000) {
        // Progress within an epoch: an epoch of the classifier takes minutes on wasm.
        lastProgress = now;
        const done = batches * o.batchSize, rate = done / ((now - t0) / 1000);
        o.log(`${kind} epoch ${epoch}/${o.epochs}: ${done}/${train.n} images, loss ${(lossSum / batches).toFixed(4)}, ${rate.toFixed(0)} images/s, epoch ends in ~${Math.round((train.n - done) / rate)} s`, { kind, epoch, done, progress: true });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cs = kind === 'classifier' ? classifierStats(model, val) : undefined;
    const valMetric = cs ? cs.accuracy : segmenterIoU(model, val);
    const s: EpochStats = { epoch, loss: lossSum / batches, imagesPerSecond: (batches * o.batchSize) / seconds, val: valMetric, learningRate: lr };
    if (guidance > 0) s.guidanceLoss = guidanceSum / batches;
    if (cs) s.valAttentionMass = cs.attentionMass;
    stats.push(s);
    if (!best || valMetric > best.val) {
      best?.weights.forEach((w) => w.dispose());
      best = { epoch, val: valMetric, weights: model.getWeights().map((w) => w.clone()) };
    }
    if (best.epoch === epoch && o.onBest) await o.onBest(epoch, stats);
    o.log(`${kind} epoch ${epoch}/${o.epochs}: loss ${s.loss.toFixed(4)}, lr ${lr.toExponential(2)}, ${s.imagesPerSecond.toFixed(0)} images/s, val ${kind === 'classifier' ? 'accuracy' : 'IoU'} ${valMetric.toFixed(4)}${cs ? `, attention mass in mask ${cs.attentionMass.toFixed(3)} (mask ${cs.maskFraction.toFixed(3)})` : ''}${s.guidanceLoss !== undefined ? `, guidance loss ${s.guidanceLoss.toFixed(4)}` : ''}${best.epoch === epoch ? ' (best so far)' : ''}`, { kind, ...s });
  }
  optimizer.dispose();
  if (!best) throw new Error('trainModel: epochs must be at least 1');
  model.setWeights(best.weights);
  best.weights.forEach((w) => w.dispose());
  o.log(`${kind}: keeping epoch ${best.epoch} (val ${best.val.toFixed(4)})`, { kind, bestEpoch: best.epoch });
  return { epochs: stats, bestEpoch: best.epoch };
}

export async function saveModel(model: tf.LayersModel, dir: string): Promise<string> {
  const store = new FsObjectStore(dir);
  await model.save(objectStoreIO(store, 'model.json'));
  const weights = await store.get('weights.bin');
  return createHash('sha256').update(await store.get('model.json')).update(weights).digest('hex');
}

export { buildCbamClassifier, buildSegmenter };
