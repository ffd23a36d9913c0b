/**
 * Reading an ONNX file's graph (onnx-proto): its inputs and outputs with their shapes, the
 * node that produces a tensor, and float weights (initializers or Constant nodes). The
 * worker uses it to validate a spec against the model and to read the classifier's head.
 */
import { ModelSpecError } from '@overmap/shared/core';
import { onnx } from 'onnx-proto';

/** A dimension: a number, or a symbolic/unknown one (the batch). */
export type Dim = number | null;
export interface ValueShape {
  name: string;
  shape: Dim[] | null;
}

export interface OnnxGraph {
  file: string;
  inputs: ValueShape[];
  outputs: ValueShape[];
  /** the node whose output is `tensor`, if any */
  producer(tensor: string): onnx.INodeProto | undefined;
  /** a float tensor held in the file (initializer or Constant), if `name` is one */
  floats(name: string): { dims: number[]; data: Float32Array } | null;
  /** an int64 tensor held in the file (axes, shapes), if `name` is one */
  ints(name: string): number[] | null;
}

const toNumber = (v: number | { toNumber(): number } | null | undefined): number =>
  typeof v === 'number' ? v : v ? v.toNumber() : 0;

function shapeOf(v: onnx.IValueInfoProto): ValueShape {
  const dims = v.type?.tensorType?.shape?.dim;
  return {
    name: v.name ?? '',
    shape: dims
      ? dims.map((d) => (d.dimValue != null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : null))
      : null,
  };
}

function tensorFloats(t: onnx.ITensorProto): { dims: number[]; data: Float32Array } {
  const dims = (t.dims ?? []).map(toNumber);
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`tensor ${t.name} is not float32`);
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData); // aligned copy: rawData may sit at any offset of the file's buffer
    return { dims, data: new Float32Array(copy.buffer, 0, copy.length / 4) };
  }
  if (t.externalData && t.externalData.length > 0)
    throw new Error(
      `tensor ${t.name} is stored as external data, which the worker does not read: export the model as one file`,
    );
  return { dims, data: Float32Array.from(t.floatData ?? []) };
}

export function readOnnxGraph(bytes: Uint8Array, file: string, specUri: string): OnnxGraph {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelSpecError(`${file} named in ${specUri} is not an ONNX model (${(e as Error).message})`, {
      cause: e,
    });
  }
  const g = model.graph;
  if (!g) throw new ModelSpecError(`${file} named in ${specUri} has no graph`);
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const byOutput = new Map<string, onnx.INodeProto>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) byOutput.set(o, n);
  const initNames = new Set(inits.keys());
  const stored = (name: string) =>
    inits.get(name) ??
    (byOutput.get(name)?.opType === 'Constant'
      ? (byOutput.get(name)!.attribute?.find((a) => a.name === 'value')?.t ?? undefined)
      : undefined);
  return {
    file,
    // Older exporters list initializers among the inputs too: the image input is the one that is not a weight.
    inputs: (g.input ?? []).filter((v) => !initNames.has(v.name ?? '')).map(shapeOf),
    outputs: (g.output ?? []).map(shapeOf),
    producer: (t) => byOutput.get(t),
    floats: (name) => {
      const t = stored(name);
      return t ? tensorFloats(t) : null;
    },
    ints: (name) => {
      const t = stored(name);
      if (!t || t.dataType !== onnx.TensorProto.DataType.INT64) return null;
      if (t.rawData && t.rawData.length > 0)
        return Array.from(new BigInt64Array(new Uint8Array(t.rawData).buffer), Number);
      return (t.int64Data ?? []).map(toNumber);
    },
  };
}

/** An attribute's value (int, float, ints), or `fallback`. */
export function attribute(node: onnx.INodeProto, name: string, fallback: number | number[]): number | number[] {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return fallback;
  if (a.ints && a.ints.length > 0) return a.ints.map(toNumber);
  if (a.type === onnx.AttributeProto.AttributeType.FLOAT) return a.f ?? 0;
  return toNumber(a.i);
}

/** The output `name` of the graph, or an error that lists the outputs there are. */
export function outputOrError(graph: OnnxGraph, name: string, role: string, specUri: string): ValueShape {
  const o = graph.outputs.find((x) => x.name === name);
  if (!o) {
    throw new ModelSpecError(
      `${role} output "${name}" not found in ${graph.file} (named in ${specUri}); its outputs are: ${graph.outputs.map((x) => x.name).join(', ')}`,
    );
  }
  return o;
}

/**
 * The one image input of a model that reads images at its own fixed size (a segmenter, a
 * detector): its name and [height, width], or a ModelSpecError naming what is wrong.
 */
export function fixedImageInput(
  graph: OnnxGraph,
  layout: 'nchw' | 'nhwc',
  where: string,
): { name: string; size: [number, number] } {
  const input = graph.inputs[0];
  if (graph.inputs.length !== 1 || !input)
    throw new ModelSpecError(`${where} has ${graph.inputs.length} inputs: it needs exactly one (the image)`);
  const s = input.shape;
  const size = s && s.length === 4 ? (layout === 'nchw' ? [s[2], s[3]] : [s[1], s[2]]) : [null, null];
  if (size[0] == null || size[1] == null)
    throw new ModelSpecError(
      `${where}: its input "${input.name}" needs a fixed height and width (found [${(s ?? []).map((d) => d ?? 'N').join(',')}])`,
    );
  return { name: input.name, size: size as [number, number] };
}
