/**
 * Models the benchmarks share: FLOPs of a Layers classifier (convolutions and dense layers,
 * 2 per multiply-add) and a ResNet-50-shaped classifier with random weights (224x224, 1000
 * classes, its last block's output named last_conv for Grad-CAM).
 */
'use strict';
const { tf } = require('@overmap/engine');

function flopsOf(model) {
  let f = 0;
  for (const l of model.layers) {
    const cls = l.getClassName();
    const out = l.outputShape;
    if (cls === 'Conv2D') {
      const k = l.getWeights()[0].shape;
      f += 2 * out[1] * out[2] * k[0] * k[1] * k[2] * k[3];
    }
    if (cls === 'Dense') {
      const k = l.getWeights()[0].shape;
      f += 2 * k[0] * k[1];
    }
  }
  return f;
}

function resnet50(classes = 1000) {
  const input = tf.input({ shape: [224, 224, 3] });
  const cbr = (x, f, k, s, relu = true, name) => {
    let y = tf.layers.conv2d({ filters: f, kernelSize: k, strides: s, padding: 'same', useBias: false, name }).apply(x);
    y = tf.layers.batchNormalization({}).apply(y);
    return relu ? tf.layers.reLU({}).apply(y) : y;
  };
  let x = cbr(input, 64, 7, 2);
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
  const stages = [
    [64, 3, 1],
    [128, 4, 2],
    [256, 6, 2],
    [512, 3, 2],
  ];
  let last;
  stages.forEach(([f, n, s], si) => {
    for (let b = 0; b < n; b++) {
      const stride = b === 0 ? s : 1;
      let y = cbr(x, f, 1, stride);
      y = cbr(y, f, 3, 1);
      y = cbr(y, f * 4, 1, 1, false);
      const sc = b === 0 ? cbr(x, f * 4, 1, stride, false) : x;
      x = tf.layers
        .reLU({ name: si === 3 && b === n - 1 ? 'last_conv' : undefined })
        .apply(tf.layers.add().apply([y, sc]));
      last = x;
    }
  });
  const g = tf.layers.globalAveragePooling2d({}).apply(last);
  const out = tf.layers.dense({ units: classes, name: 'logits' }).apply(g);
  return tf.model({ inputs: input, outputs: out });
}

module.exports = { flopsOf, resnet50 };
