/**
 * One converter per TF.js Layers layer type that the reference architectures use
 * (architectures.ts), each writing the ONNX nodes of one application (node) of a layer in NCHW.
 * Any other layer type is an error that names it. Used by to-onnx.ts.
 */
import { tf } from '@overmap/engine';
import { type GraphBuilder, attr } from './onnx-graph';

/** One application of one layer: its input tensors (`x` the first) and its output's name. */
interface LayerNode {
  g: GraphBuilder;
  layer: tf.layers.Layer;
  name: string;
  cls: string;
  cfg: Record<string, unknown>;
  inputs: string[];
  x: string;
  out: string;
}

type Converter = (n: LayerNode) => void;

/** Keras kernel [kh, kw, in, out] → ONNX Conv weight [out, in, kh, kw]. */
function convWeight(k: tf.Tensor): Float32Array {
  return tf.tidy(() => tf.transpose(k, [3, 2, 0, 1]).dataSync() as Float32Array);
}

function weightsByName(layer: tf.layers.Layer): Map<string, tf.Tensor> {
  const values = layer.getWeights();
  // Weight names end in the variable's role (…/kernel, …/bias, …/gamma, …/moving_mean).
  return new Map(layer.weights.map((w, i) => [w.originalName.split('/').pop()!, values[i]!]));
}

function activation(g: GraphBuilder, kind: string, x: string, out: string, layerName: string): string {
  switch (kind) {
    case 'linear':
      return g.node('Identity', [x], out);
    case 'relu':
      return g.node('Relu', [x], out);
    case 'sigmoid':
      return g.node('Sigmoid', [x], out);
    case 'tanh':
      return g.node('Tanh', [x], out);
    case 'softmax':
      return g.node('Softmax', [x], out, [attr('axis', -1)]);
    default:
      throw new Error(`layer ${layerName}: activation "${kind}" is not supported by the ONNX converter`);
  }
}

function conv2d({ g, layer, name, cfg, x, out }: LayerNode): void {
  if (cfg.data_format && cfg.data_format !== 'channels_last')
    throw new Error(`layer ${name}: only channels_last Conv2D is supported`);
  const ws = weightsByName(layer);
  const k = ws.get('kernel')!;
  const [kh, kw] = k.shape as number[];
  const win = g.floats(`${name}.weight`, [k.shape[3]!, k.shape[2]!, kh!, kw!], convWeight(k));
  const ins = [x, win];
  if (ws.has('bias')) ins.push(g.floats(`${name}.bias`, [k.shape[3]!], ws.get('bias')!.dataSync() as Float32Array));
  const strides = cfg.strides as number[];
  const dil = cfg.dilation_rate as number[] | number;
  const pad = cfg.padding === 'same' ? 'SAME_UPPER' : cfg.padding === 'valid' ? 'VALID' : null;
  if (!pad) throw new Error(`layer ${name}: padding ${String(cfg.padding)} is not supported`);
  const attrs = [
    attr('kernel_shape', [kh!, kw!]),
    attr('strides', strides),
    attr('auto_pad', pad),
    attr('dilations', Array.isArray(dil) ? dil : [dil, dil]),
  ];
  const act = (cfg.activation as string) ?? 'linear';
  const conv = g.node('Conv', ins, act === 'linear' ? out : `${out}.pre`, attrs);
  if (act !== 'linear') activation(g, act, conv, out, name);
}

function dense({ g, layer, name, cfg, x, out }: LayerNode): void {
  const ws = weightsByName(layer);
  const k = ws.get('kernel')!;
  const units = k.shape[1]!;
  const b = ws.get('bias')?.dataSync() as Float32Array | undefined;
  const ins = [
    x,
    g.floats(`${name}.weight`, k.shape as number[], k.dataSync() as Float32Array),
    g.floats(`${name}.bias`, [units], b ?? new Float32Array(units)),
  ];
  const act = (cfg.activation as string) ?? 'linear';
  const gemm = g.node('Gemm', ins, act === 'linear' ? out : `${out}.pre`);
  if (act !== 'linear') activation(g, act, gemm, out, name);
}

function batchNormalization({ g, layer, name, cfg, x, out }: LayerNode): void {
  const axis = cfg.axis as number;
  if (axis !== -1 && axis !== 3)
    throw new Error(`layer ${name}: batch normalization over axis ${axis} is not supported (only channels)`);
  const ws = weightsByName(layer);
  const mean = ws.get('moving_mean')!.dataSync() as Float32Array;
  const c = mean.length;
  const gamma = (ws.get('gamma')?.dataSync() as Float32Array | undefined) ?? new Float32Array(c).fill(1);
  const beta = (ws.get('beta')?.dataSync() as Float32Array | undefined) ?? new Float32Array(c);
  g.node(
    'BatchNormalization',
    [
      x,
      g.floats(`${name}.gamma`, [c], gamma),
      g.floats(`${name}.beta`, [c], beta),
      g.floats(`${name}.mean`, [c], mean),
      g.floats(`${name}.var`, [c], ws.get('moving_variance')!.dataSync() as Float32Array),
    ],
    out,
    [attr('epsilon', cfg.epsilon as number)],
  );
}

function reLU({ g, name, cfg, x, out }: LayerNode): void {
  if (cfg.max_value != null || (cfg.negative_slope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0)
    throw new Error(`layer ${name}: ReLU with maxValue/negativeSlope/threshold is not supported`);
  g.node('Relu', [x], out);
}

function activationLayer({ g, name, cfg, x, out }: LayerNode): void {
  activation(g, cfg.activation as string, x, out, name);
}

function maxPooling2d({ g, cfg, x, out }: LayerNode): void {
  const pool = cfg.pool_size as number[];
  const strides = (cfg.strides as number[] | null) ?? pool;
  g.node('MaxPool', [x], out, [
    attr('kernel_shape', pool),
    attr('strides', strides),
    attr('auto_pad', cfg.padding === 'same' ? 'SAME_UPPER' : 'VALID'),
  ]);
}

function globalPooling2d({ g, cls, x, out }: LayerNode): void {
  g.node(
    'Flatten',
    [g.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x], `${out}.pool`)],
    out,
    [attr('axis', 1)],
  );
}

function dropout({ g, name, cfg, x, out }: LayerNode): void {
  // Kept as a Dropout node (identity at inference) so that the worker can read its rate for MC dropout.
  g.node('Dropout', [x, g.floats(`${name}.ratio`, [], new Float32Array([cfg.rate as number]))], out);
}

function elementwise({ g, cls, inputs, out }: LayerNode): void {
  const op = cls === 'Add' ? 'Add' : 'Mul';
  let acc = inputs[0]!;
  inputs.slice(1).forEach((b, i) => {
    acc = g.node(op, [acc, b], i === inputs.length - 2 ? out : `${out}.${i}`);
  });
}

function reshape({ g, layer, name, cfg, x, out }: LayerNode): void {
  // Keras [B, C] → [B, 1, 1, C] (NHWC) is [B, C, 1, 1] in NCHW; other reshapes would need layout-aware rewriting.
  // A flat [B, N] reshaped to [B, ...t] with t of rank 1 or 2 (no image axes) is row-major in both.
  const t = cfg.target_shape as number[];
  const flatIn = (layer.input as tf.SymbolicTensor).shape.length === 2;
  if (t.length === 3 && t[0] === 1 && t[1] === 1)
    g.node('Reshape', [x, g.ints(`${name}.shape`, [0, t[2]!, 1, 1])], out);
  else if (flatIn && t.length <= 2) g.node('Reshape', [x, g.ints(`${name}.shape`, [0, ...t])], out);
  else
    throw new Error(
      `layer ${name}: Reshape to [${t.join(',')}] is not supported (only [1, 1, C], or a flat input to rank 1 or 2)`,
    );
}

function channelPool({ g, x, out }: LayerNode): void {
  g.node(
    'Concat',
    [
      g.node('ReduceMean', [x], `${out}.mean`, [attr('axes', [1]), attr('keepdims', 1)]),
      g.node('ReduceMax', [x], `${out}.max`, [attr('axes', [1]), attr('keepdims', 1)]),
    ],
    out,
    [attr('axis', 1)],
  );
}

function upSampling2d({ g, name, cfg, x, out }: LayerNode): void {
  if ((cfg.interpolation ?? 'nearest') !== 'nearest')
    throw new Error(`layer ${name}: only nearest upsampling is supported`);
  const s = cfg.size as number[];
  // asymmetric + floor: output pixel i reads input pixel floor(i / s), as Keras's repeat does.
  g.node('Resize', [x, '', g.floats(`${name}.scales`, [4], new Float32Array([1, 1, s[0]!, s[1]!]))], out, [
    attr('mode', 'nearest'),
    attr('coordinate_transformation_mode', 'asymmetric'),
    attr('nearest_mode', 'floor'),
  ]);
}

/** The converter of each supported Layers class name. */
const CONVERTERS = new Map<string, Converter>([
  ['Conv2D', conv2d],
  ['Dense', dense],
  ['BatchNormalization', batchNormalization],
  ['ReLU', reLU],
  ['Activation', activationLayer],
  ['MaxPooling2D', maxPooling2d],
  ['GlobalAveragePooling2D', globalPooling2d],
  ['GlobalMaxPooling2D', globalPooling2d],
  ['Dropout', dropout],
  ['Add', elementwise],
  ['Multiply', elementwise],
  ['Reshape', reshape],
  ['ChannelPool', channelPool],
  ['UpSampling2D', upSampling2d],
]);

/** One application (node) of one layer: ONNX nodes from `inputs` to `out`. */
export function convertLayer(
  g: GraphBuilder,
  layer: tf.layers.Layer,
  cls: string,
  cfg: Record<string, unknown>,
  inputs: string[],
  out: string,
): void {
  const name = layer.name;
  const convert = CONVERTERS.get(cls);
  if (!convert)
    throw new Error(
      `layer ${name}: ${cls} is not supported by the ONNX converter (supported: the reference models' layer types)`,
    );
  convert({ g, layer, name, cls, cfg, inputs, x: inputs[0]!, out });
}
