/**
 * The ONNX graph that to-onnx.ts builds: nodes (each named after its op and its position) and
 * initializers (a shared layer's weights named once), and the attributes of its nodes.
 */
import { onnx } from 'onnx-proto';

export const F32 = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

export function attr(name: string, v: number | number[] | string): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  return Number.isInteger(v) ? { name, type: A.INT, i: v } : { name, type: A.FLOAT, f: v };
}

export class GraphBuilder {
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
