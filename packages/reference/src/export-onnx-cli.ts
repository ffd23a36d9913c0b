/**
 * `npm run export:onnx [-- <spec.json>]`: converts the TF.js Layers classifier and learned
 * segmenter a spec names (default: the bundled reference spec, models/reference/overmap-model.json)
 * to ONNX, writes them to `onnx/` next to the spec, and writes `<spec>-onnx.json`: the same
 * spec pointing at the ONNX files. Re-run it whenever the Layers weights change; the
 * agreement test (test/models/onnx-agreement.test.ts) fails until the committed files match.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { initBackend, loadSpec, referenceSpecUri } from '@overmap/engine';
import { loadConfig } from '@overmap/shared';
import { exportSpecToOnnx } from './export-onnx';

async function main(): Promise<void> {
  // The conversion reads the Layers weights through TF.js: any TF.js backend will do.
  const backend = loadConfig().OVERMAP_BACKEND;
  await initBackend(backend === 'onnx' ? undefined : backend);
  const specPath = path.resolve(process.argv[2] ?? referenceSpecUri('layers'));
  const out = await exportSpecToOnnx(await loadSpec(specPath));
  const dir = path.dirname(specPath);
  for (const [file, bytes] of Object.entries(out.files)) {
    await fs.mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await fs.writeFile(path.join(dir, file), bytes);
    console.log(JSON.stringify({ wrote: path.join(dir, file), bytes: bytes.length }));
  }
  const specOut = specPath.replace(/\.json$/, '-onnx.json');
  await fs.writeFile(specOut, out.specJson);
  console.log(JSON.stringify({ wrote: specOut }));
}

main().catch((e) => {
  console.error(e instanceof Error ? (process.env.OVERMAP_DEBUG ? e.stack : e.message) : e);
  process.exit(1);
});
