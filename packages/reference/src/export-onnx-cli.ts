/**
 * `npm run export:onnx [-- <spec.json>]`: converts the TF.js Layers classifier and learned
 * segmenter a spec names (default: the bundled reference spec) to ONNX, writes them to
 * `onnx/` next to the spec, and writes `<spec>-onnx.json`: the same spec pointing at the
 * ONNX files. Re-run it whenever the Layers weights change; the agreement test compares
 * the committed pair.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { initBackend, loadLayersModel, loadSpec, referenceSpecUri } from '@overmap/worker';
import { layersToOnnx } from './to-onnx';

async function main(): Promise<void> {
  await initBackend(process.env.OVERMAP_BACKEND === 'onnx' ? undefined : process.env.OVERMAP_BACKEND);
  const specPath = path.resolve(process.argv[2] ?? referenceSpecUri('layers'));
  const loaded = await loadSpec(specPath);
  const { spec } = loaded;
  if ((spec.classifier.format ?? 'layers') !== 'layers') throw new Error(`${specPath}: its classifier is already ${spec.classifier.format}`);
  const dir = path.dirname(specPath);
  await fs.mkdir(path.join(dir, 'onnx'), { recursive: true });
  const raw = JSON.parse(loaded.raw.toString('utf8')) as Record<string, any>;
  const write = async (file: string, bytes: Uint8Array) => {
    await fs.writeFile(path.join(dir, file), bytes);
    console.log(JSON.stringify({ wrote: path.join(dir, file), bytes: bytes.length }));
  };

  const classifier = await loadLayersModel(loaded, spec.classifier.model, 'classifier');
  await write('onnx/classifier.onnx', layersToOnnx(classifier, [spec.gradcamLayer, ...spec.attentionLayers]));
  raw.classifier = { ...raw.classifier, model: 'onnx/classifier.onnx', format: 'onnx' };
  if (spec.segmenter.type === 'model') {
    const seg = await loadLayersModel(loaded, spec.segmenter.model, 'segmenter');
    await write('onnx/segmenter.onnx', layersToOnnx(seg));
    raw.segmenter = { ...raw.segmenter, model: 'onnx/segmenter.onnx', format: 'onnx' };
  }
  raw.name = `${String(raw.name ?? spec.name)}-onnx`;
  const out = specPath.replace(/\.json$/, '-onnx.json');
  await fs.writeFile(out, `${JSON.stringify(raw, null, 2)}\n`);
  console.log(JSON.stringify({ wrote: out }));
}

main().catch((e) => {
  console.error(e instanceof Error ? (process.env.OVERMAP_DEBUG ? e.stack : e.message) : e);
  process.exit(1);
});
