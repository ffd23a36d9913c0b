/**
 * Converts the project's own TF.js Layers models to ONNX (opset 13, NCHW, float32), so
 * that ONNX Runtime can run them. Only the layer types the reference architectures use
 * (architectures.ts) are supported; any other layer is an error that names it. Layers are
 * read from the model's functional config (so shared layers, applied twice like CBAM's
 * MLP, become one node per application); weights from the loaded layers.
 *
 * The ONNX graph takes NCHW input (PyTorch's and ONNX Runtime's convention) and every
 * 4-D tensor is NCHW; `extraOutputs` names layers whose outputs become graph outputs
 * (the Grad-CAM layer's activations, the attention maps), each named as its layer. The graph
 * and its attributes are built in onnx-graph.ts, each layer type's nodes in onnx-layers.ts.
 */
import { onnx } from 'onnx-proto';
import { tf } from '@overmap/engine';
import { F32, GraphBuilder } from './onnx-graph';
import { convertLayer } from './onnx-layers';

type Inbound = [string, number, number, unknown];
interface LayerConfig {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: Inbound[][];
}

const OPSET = 13;

/**
 * The tensor name of a layer's output at one of its nodes (its first application keeps the
 * layer's name).
 */
const tensorName = (layer: string, node: number) => (node === 0 ? layer : `${layer}__${node}`);

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

/**
 * The ONNX model (serialised) of a single-input Layers model: its outputs in order, then
 * `extraOutputs` (layer names) as further outputs.
 */
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
