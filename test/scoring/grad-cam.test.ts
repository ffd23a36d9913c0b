import { tf } from '@overmap/engine';
import { initBackend } from '@overmap/engine';
import { applyHead, buildClassifierGraph } from '@overmap/engine/testing';
import { gradCam } from '@overmap/engine/testing';

beforeAll(async () => {
  await initBackend('wasm');
});

function convGapDense(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const f = tf.layers
    .conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'feat' })
    .apply(input) as tf.SymbolicTensor;
  const g = tf.layers.globalAveragePooling2d({}).apply(f) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, name: 'out' }).apply(g) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('Grad-CAM', () => {
  it('equals CAM, ReLU(Σ_k w_ck A_k) normalised, for conv → GAP → dense (Zhou et al. 2016)', () => {
    const model = convGapDense();
    const graph = buildClassifierGraph(model, 'feat', [], 4);
    const x = tf.randomUniform([5, 8, 8, 3], 0, 1, 'float32', 7);
    const acts = graph.features.predict(x) as tf.Tensor4D;
    const targets = tf.tensor1d([0, 1, 2, 3, 1], 'int32');
    const got = gradCam((a) => applyHead(graph, a), acts, targets, 4).arraySync();
    const w = (model.getLayer('out').getWeights()[0] as tf.Tensor2D).arraySync(); // [K, C]
    const A = acts.arraySync();
    const t = [0, 1, 2, 3, 1];
    for (let b = 0; b < 5; b++) {
      const cam = A[b]!.map((row) =>
        row.map((a) =>
          Math.max(
            0,
            a.reduce((s, v, k) => s + v * w[k]![t[b]!]!, 0),
          ),
        ),
      );
      const max = Math.max(...cam.flat());
      cam.flat().forEach((v, i) => expect(got[b]!.flat()[i]!).toBeCloseTo(max > 0 ? v / max : 0, 5));
    }
  });

  it('uses gradients that match finite differences through a nonlinear head', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const f = tf.layers
      .conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'feat' })
      .apply(input) as tf.SymbolicTensor;
    let h = tf.layers.flatten({}).apply(f) as tf.SymbolicTensor;
    h = tf.layers.dense({ units: 5, activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3 }).apply(h) as tf.SymbolicTensor;
    const graph = buildClassifierGraph(tf.model({ inputs: input, outputs: out }), 'feat', [], 3);
    const a = tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 3);
    const target = 2;
    const score = (t: tf.Tensor) => (applyHead(graph, t).arraySync() as number[][])[0]![target]!;
    const grad = tf
      .grad((t: tf.Tensor) => tf.sum(tf.slice(applyHead(graph, t), [0, target], [1, 1])))(a)
      .dataSync();
    const base = a.dataSync();
    const eps = 1e-2;
    for (let i = 0; i < base.length; i += 5) {
      const plus = Float32Array.from(base);
      plus[i]! += eps;
      const minus = Float32Array.from(base);
      minus[i]! -= eps;
      const fd = (score(tf.tensor(plus, a.shape)) - score(tf.tensor(minus, a.shape))) / (2 * eps);
      expect(Math.abs(grad[i]! - fd)).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
    }
  });

  it('refuses a head that is not a chain, naming the layer', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const f = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'feat' }).apply(input) as tf.SymbolicTensor;
    const g1 = tf.layers.globalAveragePooling2d({}).apply(f) as tf.SymbolicTensor;
    const g2 = tf.layers.globalMaxPooling2d({}).apply(f) as tf.SymbolicTensor;
    const out = tf.layers
      .dense({ units: 2 })
      .apply(tf.layers.add().apply([g1, g2]) as tf.SymbolicTensor) as tf.SymbolicTensor;
    expect(() => buildClassifierGraph(tf.model({ inputs: input, outputs: out }), 'feat', [], 2)).toThrow(
      /"feat" feeds 2 layers/,
    );
  });
});
