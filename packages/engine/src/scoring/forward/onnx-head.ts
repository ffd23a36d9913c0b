/**
 * The head of an ONNX classifier, read from its graph: the path from the Grad-CAM output
 * to the class scores must be global average pooling → (flatten, dropout) → dense
 * (Gemm, or MatMul + Add) → (softmax). Then ∂y_c/∂A = W[:, c] / (h·w) — the CAM identity —
 * and the worker rebuilds the head as a tiny TF.js function (mean over space, matmul, bias)
 * whose gradient is exactly that: Grad-CAM's post-processing runs unchanged on it. Any other
 * head is an error that says so (docs/models.md: export the features before such a head and
 * run the classifier as a TF.js model, or make the head pool → dense).
 */
import { ModelSpecError } from '@overmap/shared/core';
import type { onnx } from 'onnx-proto';
import { type OnnxGraph, attribute } from '../../model/onnx-graph';

export interface DenseHead {
  /** [channels, classes] */
  weight: Float32Array;
  bias: Float32Array;
  channels: number;
  classes: number;
  /** the head's dropout rate, if it has a Dropout node (MC dropout drops with it) */
  dropout: number | null;
  softmax: boolean;
}

const PASS_THROUGH = new Set(['Flatten', 'Reshape', 'Squeeze', 'Identity', 'Dropout']);

/** What reading a head needs: the graph, and the failure that names what was found instead. */
interface HeadReader {
  graph: OnnxGraph;
  fail: (found: string) => never;
  producer: (t: string, what: string) => onnx.INodeProto;
  weight: (name: string) => { dims: number[]; data: Float32Array };
}

/** Reads the head from `gradcam` to `logits`, or throws a ModelSpecError naming what was found instead. */
export function readDenseHead(
  graph: OnnxGraph,
  gradcam: string,
  logits: string,
  layout: 'nchw' | 'nhwc',
  specUri: string,
): DenseHead {
  const fail = (found: string): never => {
    throw new ModelSpecError(
      `the ONNX classifier ${graph.file} (${specUri}): the head from "${gradcam}" to "${logits}" must be global average pooling → dense for Grad-CAM's closed form; found ${found}. See docs/models.md (Grad-CAM layer and head)`,
    );
  };
  const producer = (t: string, what: string) => graph.producer(t) ?? fail(`no node producing "${t}" (${what})`);
  const weight = (name: string) => graph.floats(name) ?? fail(`"${name}" is computed, not a stored weight`);
  const r: HeadReader = { graph, fail, producer, weight };

  let node = producer(logits, 'the class scores');
  while (node.opType === 'Identity') node = producer(node.input![0]!, 'the class scores');
  let softmax = false;
  if (node.opType === 'Softmax') {
    softmax = true;
    node = producer(node.input![0]!, 'the input of Softmax');
  }
  const dense = denseLayer(r, node, logits);
  const dropout = poolingBefore(r, dense.input, gradcam, layout);
  const { weight: w, bias, channels, classes } = dense;
  return { weight: w, bias, channels, classes, dropout, softmax };
}

/** The dense layer producing the class scores: its input, and its weight as [channels, classes] and bias. */
function denseLayer(
  r: HeadReader,
  node: onnx.INodeProto,
  logits: string,
): Pick<DenseHead, 'weight' | 'bias' | 'channels' | 'classes'> & { input: string } {
  const { fail, weight } = r;
  // Dense: Gemm(x, B, C) with y = alpha·x·B' + beta·C, or Add(MatMul(x, W), b).
  let x: string,
    w: { dims: number[]; data: Float32Array },
    transB = false,
    alpha = 1,
    beta = 1,
    b: Float32Array | null = null;
  if (node.opType === 'Gemm') {
    if (attribute(node, 'transA', 0) !== 0) fail('a Gemm with transA');
    x = node.input![0]!;
    w = weight(node.input![1]!);
    transB = attribute(node, 'transB', 0) === 1;
    alpha = attribute(node, 'alpha', 1) as number;
    beta = attribute(node, 'beta', 1) as number;
    b = node.input![2] ? weight(node.input![2]).data : null;
  } else if (node.opType === 'Add') {
    const [p, q] = node.input!.map((t) => r.graph.producer(t));
    const mm =
      p?.opType === 'MatMul'
        ? { n: p, bias: node.input![1]! }
        : q?.opType === 'MatMul'
          ? { n: q, bias: node.input![0]! }
          : fail(`Add without a MatMul before "${logits}"`);
    x = mm.n.input![0]!;
    w = weight(mm.n.input![1]!);
    b = weight(mm.bias).data;
  } else if (node.opType === 'MatMul') {
    x = node.input![0]!;
    w = weight(node.input![1]!);
  } else {
    return fail(`${node.opType} producing "${logits}"`);
  }
  if (w.dims.length !== 2) fail(`a dense weight of shape [${w.dims.join(',')}]`);
  const [rows, cols] = w.dims as [number, number];
  const [channels, classes] = transB ? [cols, rows] : [rows, cols];
  const weightCK = new Float32Array(channels * classes);
  for (let c = 0; c < channels; c++)
    for (let k = 0; k < classes; k++)
      weightCK[c * classes + k] = alpha * (transB ? w.data[k * cols + c]! : w.data[c * cols + k]!);
  const bias = new Float32Array(classes);
  if (b) {
    if (b.length !== classes && b.length !== 1) fail(`a bias of ${b.length} values for ${classes} classes`);
    for (let k = 0; k < classes; k++) bias[k] = beta * b[b.length === 1 ? 0 : k]!;
  }
  return { input: x, weight: weightCK, bias, channels, classes };
}

/** Back from the dense input, through flatten/dropout, to the pooling of the Grad-CAM output; returns the dropout. */
function poolingBefore(r: HeadReader, input: string, gradcam: string, layout: 'nchw' | 'nhwc'): number | null {
  const { graph, fail, producer } = r;
  let dropout: number | null = null;
  let t = input;
  for (;;) {
    if (t === gradcam) fail(`no pooling between "${gradcam}" and the dense layer`);
    const n: onnx.INodeProto = producer(t, "the dense layer's input");
    if (n.opType === 'GlobalAveragePool' || n.opType === 'ReduceMean') {
      if (n.opType === 'ReduceMean') {
        // axes: an attribute up to opset 17, an input from opset 18
        const given = n.input![1] ? graph.ints(n.input![1]) : (attribute(n, 'axes', []) as number[]);
        const axes = (given ?? []).map((a) => (a < 0 ? a + 4 : a)).sort();
        const want = layout === 'nchw' ? '2,3' : '1,2';
        if (axes.join(',') !== want) fail(`ReduceMean over axes [${axes.join(',')}], not the spatial axes [${want}]`);
      }
      if (n.input![0] !== gradcam) fail(`average pooling of "${n.input![0]}", not of the Grad-CAM output "${gradcam}"`);
      break;
    }
    if (!PASS_THROUGH.has(n.opType ?? '')) fail(`${n.opType} between the Grad-CAM output and the dense layer`);
    if (n.opType === 'Dropout') {
      const rate = n.input![1] ? graph.floats(n.input![1])?.data[0] : (attribute(n, 'ratio', 0.5) as number);
      dropout = rate ?? 0.5;
    }
    t = n.input![0]!;
  }
  return dropout;
}
