/**
 * The training batch norm (one custom-gradient op) against tfjs-layers' BatchNormalization on
 * the same weights and inputs: outputs, gradients for x, γ and β, the moving statistics, the
 * inference path, and the saved model's layer class.
 */
import { tf } from '@overmap/engine';
import { initBackend } from '@overmap/engine';
import { TrainingBatchNorm } from '@overmap/reference';

beforeAll(async () => { await initBackend('wasm'); });

const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1e-3 + Math.abs(a[i]!)));
  return m;
};

function pair() {
  const input = tf.input({ shape: [6, 5, 7] });
  const args = { momentum: 0.9, name: 'bn' };
  const standard = tf.model({
    inputs: input, outputs: tf.layers.batchNormalization(args).apply(input) as tf.SymbolicTensor,
  });
  const fast = tf.model({ inputs: input, outputs: new TrainingBatchNorm(args).apply(input) as tf.SymbolicTensor });
  // Same non-trivial weights in both: gamma, beta, moving mean, moving variance.
  const w = [tf.randomUniform([7], 0.5, 2, 'float32', 1), tf.randomNormal([7], 0, 1, 'float32', 2), tf.randomNormal([7], 0, 1, 'float32', 3), tf.randomUniform([7], 0.5, 2, 'float32', 4)];
  standard.setWeights(w);
  fast.setWeights(w);
  return { standard, fast };
}

describe('TrainingBatchNorm', () => {
  it('matches BatchNormalization in training: output, ∂x, ∂γ, ∂β and the moving statistics', () => {
    const { standard, fast } = pair();
    const x = tf.randomNormal([4, 6, 5, 7], 3, 2, 'float32', 5);
    const r = tf.randomNormal([4, 6, 5, 7], 0, 1, 'float32', 6);
    const run = (m: tf.LayersModel) => {
      const [gamma, beta] = m.trainableWeights.map((v) => v.read() as tf.Variable);
      // γ and β are the layer's variables: differentiated with tf.variableGrads.
      const f = (xi: tf.Tensor) => tf.sum(tf.mul(m.apply(xi, { training: true }) as tf.Tensor, r)) as tf.Scalar;
      const y = (m.apply(x, { training: true }) as tf.Tensor).dataSync();
      const dx = tf.grad(f)(x).dataSync();
      const { grads } = tf.variableGrads(() => f(x), [gamma!, beta!]);
      const moving = m.getWeights().slice(2).map((t) => t.dataSync());
      return { y, dx, dGamma: grads[gamma!.name]!.dataSync(), dBeta: grads[beta!.name]!.dataSync(), moving };
    };
    const a = run(standard), b = run(fast);
    expect(rel(a.y, b.y)).toBeLessThan(1e-4);
    expect(rel(a.dx, b.dx)).toBeLessThan(1e-3);
    expect(rel(a.dGamma, b.dGamma)).toBeLessThan(1e-3);
    expect(rel(a.dBeta, b.dBeta)).toBeLessThan(1e-4);
    // Three training calls each moved the moving statistics the same way.
    expect(rel(a.moving[0]!, b.moving[0]!)).toBeLessThan(1e-4);
    expect(rel(a.moving[1]!, b.moving[1]!)).toBeLessThan(1e-4);
    // ∂x sums to zero over the normalised axes for each channel (μ and σ absorb shifts).
    for (let c = 0; c < 7; c++) {
      let s = 0, scale = 0;
      for (let i = c; i < b.dx.length; i += 7) { s += b.dx[i]!; scale += Math.abs(b.dx[i]!); }
      expect(Math.abs(s)).toBeLessThan(1e-4 * scale);
    }
  });

  it('is the standard layer at inference and saves as BatchNormalization', async () => {
    const { standard, fast } = pair();
    const x = tf.randomNormal([3, 6, 5, 7], 0, 1, 'float32', 7);
    const predict = (m: tf.LayersModel) => (m.predict(x) as tf.Tensor).dataSync();
    expect(rel(predict(standard), predict(fast))).toBeLessThan(1e-6);
    let topology: unknown;
    await fast.save(tf.io.withSaveHandler(async (artifacts) => {
      topology = artifacts.modelTopology;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const layers = (topology as { config: { layers: { class_name: string }[] } }).config.layers;
    expect(layers.map((l) => l.class_name)).toEqual(['InputLayer', 'BatchNormalization']);
  });
});
