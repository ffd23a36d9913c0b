/**
 * A Layers spec → its ONNX twin: the classifier (with the Grad-CAM layer and the attention
 * layers as extra outputs) and a learned segmenter converted by to-onnx.ts, and the spec
 * rewritten to point at them. Pure: `npm run export:onnx` writes the result, the agreement
 * test compares it with the committed files.
 */
import { type LoadedSpec, loadLayersModel } from '@overmap/engine';
import { layersToOnnx } from './to-onnx';

export interface OnnxExport {
  /** file path relative to the spec → bytes */
  files: Record<string, Uint8Array>;
  /** the ONNX spec's JSON text */
  specJson: string;
}

export async function exportSpecToOnnx(loaded: LoadedSpec): Promise<OnnxExport> {
  const { spec } = loaded;
  if (spec.classifier.format !== 'layers')
    throw new Error(`${loaded.uri}: its classifier is already ${spec.classifier.format}`);
  const raw = JSON.parse(loaded.raw.toString('utf8')) as Record<string, Record<string, unknown> | string>;
  const files: Record<string, Uint8Array> = {};
  const classifier = await loadLayersModel(loaded, spec.classifier.model, 'classifier');
  files['onnx/classifier.onnx'] = layersToOnnx(classifier, [spec.gradcamLayer, ...spec.attentionLayers]);
  classifier.dispose();
  raw.classifier = { ...(raw.classifier as Record<string, unknown>), model: 'onnx/classifier.onnx', format: 'onnx' };
  if (spec.segmenter.type === 'model') {
    const seg = await loadLayersModel(loaded, spec.segmenter.model, 'segmenter');
    files['onnx/segmenter.onnx'] = layersToOnnx(seg);
    seg.dispose();
    raw.segmenter = { ...(raw.segmenter as Record<string, unknown>), model: 'onnx/segmenter.onnx', format: 'onnx' };
  }
  raw.name = `${String(raw.name ?? spec.name)}-onnx`;
  return { files, specJson: `${JSON.stringify(raw, null, 2)}\n` };
}
