/**
 * Converts the project's own TF.js Layers models to ONNX (opset 13, NCHW, float32), so
 * that ONNX Runtime can run them. Only the layer types the reference architectures use
 * (architectures.ts) are supported; any other layer is an error that names it. Layers are
 * read from the model's functional config (so shared layers, applied twice like CBAM's
 * MLP, become one node per application); weights from the loaded layers.
 *
 * The ONNX graph takes NCHW input (PyTorch's and ONNX Runtime's convention) and every
 * 4-D tensor is NCHW; `extraOutputs` names layers whose outputs become graph outputs
 * (the Grad-CAM layer's activations, the attention maps), each named as its layer.
 */
import { onnx } from 'onnx-proto';
import { tf } from '@overmap/engine';

type Inbound = [string, number, number, unknown];
interface LayerConfig {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: Inbound[][];
}

const OPSET = 13;
const F32 = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

/** The tensor name of a layer's output at one of its nodes (its first application keeps the layer's name). */
const tensorName = (layer: string, node: number) => (node === 0 ? layer : `${layer}__${node}`);

function attr(name: string, v: number | number[] | string): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  return Number.isInteger(v) ? { name, type: A.INT, i: v } : { name, type: A.FLOAT, f: v };
}

class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private n = 0;

  node(op: string, inputs: string[], output: string, attrs: onnx.IAttributeProto[] = []): string {
    this.nodes.push({ opType: op, input: inputs, output: [output], name: `${op}_${this.n++}`, attribute: attrs });
    return output;
  }

  floats(name: string, dims: number[], data: Float32Array): string {
    // A shared layer (applied twice) names its weights once.
    if (this.initializers.some((t) => t.name === name)) return name;
    this.initializers.push({
      name,
      dims,
      dataType: F32,
      rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
    });
    return name;
  }

  ints(name: string, data: number[]): string {
    this.initializers.push({ name, dims: [data.length], dataType: I64, int64Data: data });
    return name;
  }
}

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

/** One application (node) of one layer: ONNX nodes from `inputs` to `out`. */
function convertLayer(
  g: GraphBuilder,
  layer: tf.layers.Layer,
  cls: string,
  cfg: Record<string, unknown>,
  inputs: string[],
  out: string,
): void {
  const name = layer.name;
  const x = inputs[0]!;
  const w = () => weightsByName(layer);
  switch (cls) {
    case 'Conv2D': {
      if (cfg.data_format && cfg.data_format !== 'channels_last')
        throw new Error(`layer ${name}: only channels_last Conv2D is supported`);
      const ws = w();
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
      return;
    }
    case 'Dense': {
      const ws = w();
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
      return;
    }
    case 'BatchNormalization': {
      const axis = cfg.axis as number;
      if (axis !== -1 && axis !== 3)
        throw new Error(`layer ${name}: batch normalization over axis ${axis} is not supported (only channels)`);
      const ws = w();
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
      return;
    }
    case 'ReLU': {
      if (cfg.max_value != null || (cfg.negative_slope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0)
        throw new Error(`layer ${name}: ReLU with maxValue/negativeSlope/threshold is not supported`);
      g.node('Relu', [x], out);
      return;
    }
    case 'Activation':
      activation(g, cfg.activation as string, x, out, name);
      return;
    case 'MaxPooling2D': {
      const pool = cfg.pool_size as number[];
      const strides = (cfg.strides as number[] | null) ?? pool;
      g.node('MaxPool', [x], out, [
        attr('kernel_shape', pool),
        attr('strides', strides),
        attr('auto_pad', cfg.padding === 'same' ? 'SAME_UPPER' : 'VALID'),
      ]);
      return;
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      g.node(
        'Flatten',
        [g.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x], `${out}.pool`)],
        out,
        [attr('axis', 1)],
      );
      return;
    case 'Dropout':
      // Kept as a Dropout node (identity at inference) so that the worker can read its rate for MC dropout.
      g.node('Dropout', [x, g.floats(`${name}.ratio`, [], new Float32Array([cfg.rate as number]))], out);
      return;
    case 'Add':
    case 'Multiply': {
      const op = cls === 'Add' ? 'Add' : 'Mul';
      let acc = inputs[0]!;
      inputs.slice(1).forEach((b, i) => {
        acc = g.node(op, [acc, b], i === inputs.length - 2 ? out : `${out}.${i}`);
      });
      return;
    }
    case 'Reshape': {
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
      return;
    }
    case 'ChannelPool':
      g.node(
        'Concat',
        [
          g.node('ReduceMean', [x], `${out}.mean`, [attr('axes', [1]), attr('keepdims', 1)]),
          g.node('ReduceMax', [x], `${out}.max`, [attr('axes', [1]), attr('keepdims', 1)]),
        ],
        out,
        [attr('axis', 1)],
      );
      return;
    case 'UpSampling2D': {
      if ((cfg.interpolation ?? 'nearest') !== 'nearest')
        throw new Error(`layer ${name}: only nearest upsampling is supported`);
      const s = cfg.size as number[];
      // asymmetric + floor: output pixel i reads input pixel floor(i / s), as Keras's repeat does.
      g.node('Resize', [x, '', g.floats(`${name}.scales`, [4], new Float32Array([1, 1, s[0]!, s[1]!]))], out, [
        attr('mode', 'nearest'),
        attr('coordinate_transformation_mode', 'asymmetric'),
        attr('nearest_mode', 'floor'),
      ]);
      return;
    }
    default:
      throw new Error(
        `layer ${name}: ${cls} is not supported by the ONNX converter (supported: the reference models' layer types)`,
      );
  }
}

/** Keras shape [null, h, w, c] → ONNX value info [N, c, h, w] (NCHW), other ranks as they are. */
function valueInfo(name: string, shape: (number | null)[]): onnx.IValueInfoProto {
  const s = shape.length === 4 ? [shape[0], shape[3], shape[1], shape[2]] : shape;
  return {
    name,
    type: {
      tensorType: { elemType: F32, shape: { dim: s.map((d) => (d == null ? { dimParam: 'N' } : { dimValue: d })) } },
    },
  };
}

/** The ONNX model (serialised) of a single-input Layers model: its outputs in order, then `extraOutputs` (layer names) as further outputs. */
export function layersToOnnx(model: tf.LayersModel, extraOutputs: string[] = []): Uint8Array {
  const topo = (
    model.toJSON(null, false) as unknown as {
      config: { layers: LayerConfig[]; input_layers: Inbound[]; output_layers: Inbound[] };
    }
  ).config;
  if (topo.input_layers.length !== 1) throw new Error('only models with one input can be converted');
  const g = new GraphBuilder();
  const done = new Set<string>();
  const inputLayer = topo.input_layers[0]![0];
  done.add(tensorName(inputLayer, 0));
  // Nodes in dependency order: a shared layer's second application may wait for layers listed after it.
  const pending = topo.layers.flatMap((l) => l.inbound_nodes.map((ins, k) => ({ l, ins, k })));
  while (pending.length > 0) {
    const i = pending.findIndex(({ ins }) => ins.every(([n, k]) => done.has(tensorName(n, k))));
    if (i < 0)
      throw new Error(
        `cannot order the layers: ${pending.map((p) => p.l.name).join(', ')} wait for inputs that never come`,
      );
    const { l, ins, k } = pending.splice(i, 1)[0]!;
    const out = tensorName(l.name, k);
    convertLayer(
      g,
      model.getLayer(l.name),
      l.class_name,
      l.config,
      ins.map(([n, nk]) => tensorName(n, nk)),
      out,
    );
    done.add(out);
  }
  const outputs = [...topo.output_layers.map(([n, k]) => tensorName(n, k)), ...extraOutputs];
  for (const o of extraOutputs) if (!done.has(o)) throw new Error(`extra output ${o}: no such layer in ${model.name}`);
  const shapeOf = (n: string) => model.getLayer(n).outputShape as (number | null)[];
  const inShape = model.inputs[0]!.shape;
  const graph: onnx.IGraphProto = {
    name: model.name,
    node: g.nodes,
    initializer: g.initializers,
    input: [valueInfo(inputLayer, inShape)],
    output: outputs.map((o) => valueInfo(o, shapeOf(o))),
  };
  const m: onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'overmap-fleet to-onnx',
    graph,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();
}
