/**
 * Trains the reference models on generated cluttered Fashion-MNIST scenes: the CBAM
 * classifier on labels with a known fraction flipped (the misleading annotations Over-MAP
 * is meant to weed out), and the segmenter on the ground-truth masks. The scene sets are in
 * scene-sets.ts, the guided-attention loss in guided-attention.ts, the measures in model-metrics.ts.
 */
import { createHash } from 'node:crypto';
import { FsObjectStore } from '@overmap/shared';
import { tf } from '@overmap/engine';
import { objectStoreIO } from '@overmap/engine';
import { buildCbamClassifier, buildSegmenter } from './architectures';
import { type SceneSet, batchImages, batchMasks } from './scene-sets';
import { classifierLoss, withAttentionOutput } from './guided-attention';
import { classifierStats, segmenterIoU } from './model-metrics';

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
  epoch: number;
  loss: number;
  imagesPerSecond: number;
  val: number;
  learningRate: number;
  /** Classifier: mean guidance loss over the epoch (when guided) and the attention mass inside the mask on validation. */
  guidanceLoss?: number;
  valAttentionMass?: number;
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
 * Trains with Adam and a cosine learning-rate decay, measures validation after every epoch and
 * leaves the model holding the weights (trainable and batch-norm statistics) of the best
 * validation epoch, not the last: with batch norm's moving statistics on a few thousand steps,
 * validation accuracy moves several points from one epoch to the next.
 */
export async function trainModel(
  model: tf.LayersModel,
  train: SceneSet,
  val: SceneSet,
  kind: 'classifier' | 'segmenter',
  o: TrainOptions,
): Promise<TrainResult> {
  const optimizer = tf.train.adam(o.learningRate);
  const stats: EpochStats[] = [];
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const guidance = kind === 'classifier' ? (o.guidance ?? 0) : 0;
  const training = guidance > 0 ? withAttentionOutput(model) : undefined;
  let best: { epoch: number; val: number; weights: tf.Tensor[] } | undefined;
  let step = 0;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const lr = cosineLearningRate(epoch, o.epochs, o.learningRate, o.finalLearningRate ?? o.learningRate);
    // tfjs's Adam reads its (protected) learningRate on every step; there is no public setter.
    const setRate = (r: number) => {
      (optimizer as unknown as { learningRate: number }).learningRate = r;
    };
    setRate(lr);
    const order = shuffled(train.n, o.rng);
    let lossSum = 0,
      guidanceSum = 0,
      batches = 0;
    const t0 = performance.now();
    let lastProgress = t0;
    for (let i = 0; i + o.batchSize <= train.n; i += o.batchSize) {
      const idx = order.slice(i, i + o.batchSize);
      setRate(warmedUp(lr, step++, o.warmupSteps ?? 0)); // the epoch's rate once the warm-up is over
      let g: tf.Scalar | undefined;
      const loss = tf.tidy(() => {
        const x = batchImages(train, idx);
        const y =
          kind === 'classifier'
            ? tf.oneHot(
                tf.tensor1d(
                  idx.map((j) => train.labels[j]!),
                  'int32',
                ),
                10,
              )
            : batchMasks(train, idx);
        const masks = guidance > 0 ? batchMasks(train, idx) : undefined;
        return optimizer.minimize(
          () => {
            if (kind === 'segmenter') return tf.losses.logLoss(y, model.apply(x, { training: true }) as tf.Tensor); // the segmenter outputs probabilities
            const l = classifierLoss(model, x, y, guidance, training, masks);
            if (l.guidance) g = tf.keep(l.guidance.clone());
            return l.total;
          },
          true,
          trainable,
        ) as tf.Scalar;
      });
      lossSum += loss.dataSync()[0]!;
      loss.dispose();
      if (g) {
        guidanceSum += g.dataSync()[0]!;
        g.dispose();
      }
      batches++;
      const now = performance.now();
      if (now - lastProgress > 30_000) {
        // Progress within an epoch: an epoch of the classifier takes minutes on wasm.
        lastProgress = now;
        const done = batches * o.batchSize,
          rate = done / ((now - t0) / 1000);
        o.log(
          `${kind} epoch ${epoch}/${o.epochs}: ${done}/${train.n} images, loss ${(lossSum / batches).toFixed(4)}, ${rate.toFixed(0)} images/s, epoch ends in ~${Math.round((train.n - done) / rate)} s`,
          { kind, epoch, done, progress: true },
        );
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cs = kind === 'classifier' ? classifierStats(model, val) : undefined;
    const valMetric = cs ? cs.accuracy : segmenterIoU(model, val);
    const s: EpochStats = {
      epoch,
      loss: lossSum / batches,
      imagesPerSecond: (batches * o.batchSize) / seconds,
      val: valMetric,
      learningRate: lr,
    };
    if (guidance > 0) s.guidanceLoss = guidanceSum / batches;
    if (cs) s.valAttentionMass = cs.attentionMass;
    stats.push(s);
    if (!best || valMetric > best.val) {
      best?.weights.forEach((w) => w.dispose());
      best = { epoch, val: valMetric, weights: model.getWeights().map((w) => w.clone()) };
    }
    if (best.epoch === epoch && o.onBest) await o.onBest(epoch, stats);
    o.log(
      `${kind} epoch ${epoch}/${o.epochs}: loss ${s.loss.toFixed(4)}, lr ${lr.toExponential(2)}, ${s.imagesPerSecond.toFixed(0)} images/s, val ${kind === 'classifier' ? 'accuracy' : 'IoU'} ${valMetric.toFixed(4)}${cs ? `, attention mass in mask ${cs.attentionMass.toFixed(3)} (mask ${cs.maskFraction.toFixed(3)})` : ''}${s.guidanceLoss !== undefined ? `, guidance loss ${s.guidanceLoss.toFixed(4)}` : ''}${best.epoch === epoch ? ' (best so far)' : ''}`,
      { kind, ...s },
    );
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
  return createHash('sha256')
    .update(await store.get('model.json'))
    .update(weights)
    .digest('hex');
}

export { buildCbamClassifier, buildSegmenter };
