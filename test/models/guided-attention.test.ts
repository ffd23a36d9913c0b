/**
 * The guided-attention loss: with λ = 0 the training step is the unguided one, weight for
 * weight; with λ > 0 a step moves the spatial attention towards the object mask on a fixed
 * batch, where an unguided step from the same weights does not; and the model that is saved
 * stays the single-output inference graph the worker loads.
 */
import { tf } from '@overmap/engine';
import { initBackend } from '@overmap/engine';
import {
  ATTENTION_LAYER, GRADCAM_LAYER, attentionGuidanceLoss, batchImages, batchMasks, buildCbamClassifier, classifierLoss,
  generateScenes, loadFashionMnist, poolMasks, withAttentionOutput,
} from '@overmap/reference';

beforeAll(async () => { await initBackend('wasm'); });

const N = 8;
function fixedBatch() {
  const set = generateScenes(loadFashionMnist(), 'guidance-test', 'train', N, 0, 'varied');
  const idx = Array.from({ length: N }, (_, i) => i);
  return {
    x: batchImages(set, idx),
    y: tf.oneHot(tf.tensor1d(Array.from(set.labels), 'int32'), 10),
    masks: batchMasks(set, idx),
  };
}

/** A classifier without dropout (a deterministic training forward), with the weights of `from` if given. */
function classifier(from?: tf.LayersModel): tf.LayersModel {
  const m = buildCbamClassifier(10, 0);
  if (from) m.setWeights(from.getWeights());
  return m;
}

function step(model: tf.LayersModel, lossFn: () => tf.Scalar, opt: tf.Optimizer = tf.train.adam(1e-2)): void {
  tf.tidy(() => { opt.minimize(lossFn, false, model.trainableWeights.map((w) => w.read() as tf.Variable)); });
  opt.dispose();
}

function guidanceLossNow(model: tf.LayersModel, x: tf.Tensor, masks: tf.Tensor): number {
  return tf.tidy(() => {
    const [, att] = withAttentionOutput(model).apply(x, { training: true }) as tf.Tensor[];
    return attentionGuidanceLoss(att!, masks).dataSync()[0]!;
  });
}

describe('guided attention', () => {
  it('pools the mask to the attention resolution as the fraction of each cell on the object', () => {
    const m = tf.tensor4d([1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [1, 4, 4, 1]);
    expect(Array.from(poolMasks(m, 2).dataSync())).toEqual([0.75, 0, 1, 1]);
  });

  it('is the binary cross-entropy against the pooled mask, lowest when the attention is the mask', () => {
    const masks = tf.tensor4d([1, 1, 0, 0, 1, 1, 0, 0], [1, 2, 4, 1]); // pooled to 1x2: [1, 0]
    const good = tf.tensor4d([0.99, 0.01], [1, 1, 2, 1]), bad = tf.tensor4d([0.01, 0.99], [1, 1, 2, 1]);
    const lg = attentionGuidanceLoss(good, masks).dataSync()[0]!, lb = attentionGuidanceLoss(bad, masks).dataSync()[0]!;
    expect(lg).toBeCloseTo(-Math.log(0.99), 5);
    expect(lb).toBeCloseTo(-Math.log(0.01), 4);
  });

  it('with λ = 0 the loss and the step are exactly the unguided ones', () => {
    const { x, y, masks } = fixedBatch();
    const a = classifier(), b = classifier(a);
    const plain = () => tf.losses.softmaxCrossEntropy(y, a.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
    const l0 = classifierLoss(b, x, y, 0, withAttentionOutput(b), masks);
    expect(l0.guidance).toBeUndefined();
    expect(l0.total.dataSync()[0]).toBe(plain().dataSync()[0]);
    step(a, plain);
    step(b, () => classifierLoss(b, x, y, 0, withAttentionOutput(b), masks).total);
    const wa = a.getWeights(), wb = b.getWeights();
    expect(wa.length).toBe(wb.length);
    const bytes = (t: tf.Tensor) => Buffer.from(t.dataSync().buffer);
    wa.forEach((w, i) => expect(Buffer.compare(bytes(w), bytes(wb[i]!))).toBe(0));
  });

  // Plain gradient descent with a small step: to first order the guided step changes the guidance
  // loss by −lr(∇G·∇CE + λ|∇G|²), the unguided one by −lr(∇G·∇CE), whatever the random initialisation.
  it('with λ > 0 one step lowers the attention-vs-mask loss on a fixed batch, more than an unguided step', () => {
    const { x, y, masks } = fixedBatch();
    const guided = classifier(), unguided = classifier(guided);
    const before = guidanceLossNow(guided, x, masks);
    const training = withAttentionOutput(guided);
    const lambda = 10;
    const g = classifierLoss(guided, x, y, lambda, training, masks);
    expect(g.guidance!.dataSync()[0]).toBeCloseTo(before, 5);
    expect(g.total.dataSync()[0]).toBeGreaterThan(lambda * g.guidance!.dataSync()[0]!); // cross-entropy + λ·guidance
    step(guided, () => classifierLoss(guided, x, y, lambda, training, masks).total, tf.train.sgd(1e-3));
    step(unguided, () => classifierLoss(unguided, x, y, 0).total, tf.train.sgd(1e-3));
    const afterGuided = guidanceLossNow(guided, x, masks), afterUnguided = guidanceLossNow(unguided, x, masks);
    expect(afterGuided).toBeLessThan(before);
    expect(afterGuided).toBeLessThan(afterUnguided);
  });

  it('trains through a second output but saves the same single-output graph', () => {
    const m = classifier();
    const both = withAttentionOutput(m);
    expect(both.outputs).toHaveLength(2);
    expect(m.outputs).toHaveLength(1);
    expect(m.getLayer(ATTENTION_LAYER).getWeights()[0]).toBe(both.getLayer(ATTENTION_LAYER).getWeights()[0]);
    expect(() => m.getLayer(GRADCAM_LAYER)).not.toThrow();
    const json = m.toJSON(null, false) as unknown as { config: { output_layers: unknown[] } };
    expect(json.config.output_layers).toHaveLength(1);
  });
});
