/**
 * What the ONNX segmenter and the ONNX detector both read at load: ONNX Runtime, the model's
 * bytes and graph, its one fixed-size image input, and the `where` their errors name.
 */
import { type OrtModule, requireOnnxRuntime } from '../../backend/onnx-runtime';
import type { LoadedSpec } from '../../model/model-spec';
import { type OnnxGraph, fixedImageInput, readOnnxGraph } from '../../model/onnx-graph';

export interface OnnxImageModel {
  ort: OrtModule;
  bytes: Uint8Array;
  graph: OnnxGraph;
  where: string;
  input: { name: string; size: [number, number] };
}

export async function readOnnxImageModel(
  loaded: LoadedSpec,
  model: string,
  layout: 'nchw' | 'nhwc',
  kind: 'segmenter' | 'detector',
): Promise<OnnxImageModel> {
  const ort = requireOnnxRuntime(`the ${kind} ${model}`);
  const bytes = await loaded.store.get(model);
  const graph = readOnnxGraph(bytes, model, loaded.uri);
  const where = `the ONNX ${kind} ${model} (${loaded.uri})`;
  return { ort, bytes, graph, where, input: fixedImageInput(graph, layout, where) };
}
