/**
 * docs/models.md, run as written: its export snippet (PyTorch → ONNX, torchvision's ResNet-50)
 * executed with Debian's PyTorch, with the two changes the page itself names for a machine like
 * this one (no weight download: `weights=None`, seeded; PyTorch < 2.5: no `dynamo=` argument);
 * the exported graph's outputs are the ones recorded in test/fixtures/models-md-export.json, ONNX
 * Runtime in Node gives PyTorch's logits and Grad-CAM activations on the same input, and the page's
 * spec (its classes filled in to ResNet-50's 1000) scores images through `overmap run`, with what
 * the page says of a plain ResNet: attention_seg and gradcam_attention 0, overmap = gradcam_seg.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { cliEnv, readParts, runCli } from '../helpers/fleet';
import { ROOT, testRedis, tmpDir } from '../helpers/services';

const run = promisify(execFile);
let dir: string;

/** The page's first ```lang block. */
function block(page: string, lang: string): string {
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(page);
  if (!m) throw new Error(`docs/models.md has no \`\`\`${lang} block`);
  return m[1]!;
}

/** Appended to the page's snippet: PyTorch's outputs on a seeded input, for the comparison in Node. */
const RECORD = `
import json
x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    logits, features = WithFeatures(model)(x)
x.numpy().astype("<f4").tofile("input.bin")
logits.numpy().astype("<f4").tofile("logits.bin")
features.numpy().astype("<f4").tofile("features.bin")
`;

beforeAll(async () => {
  dir = await tmpDir('models-md-');
});

afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('docs/models.md, run as written', () => {
  it("exports with the page's snippet; ONNX Runtime gives PyTorch's outputs; the page's spec scores a run", async () => {
    const page = await fs.readFile(path.join(ROOT, 'docs/models.md'), 'utf8');
    const snippet = block(page, 'python');
    // The page's own notes: the weights are downloaded (not here), and dynamo= is for PyTorch >= 2.5.
    expect(snippet).toContain('weights="IMAGENET1K_V2"');
    expect(snippet).toMatch(/^\s*dynamo=False,\s*$/m);
    const script =
      'import torch\ntorch.manual_seed(0)\n' +
      snippet.replace('weights="IMAGENET1K_V2"', 'weights=None').replace(/^\s*dynamo=False,\s*$/m, '') +
      RECORD;
    await fs.writeFile(path.join(dir, 'snippet.py'), script);
    // Debian's Python, which has torch and torchvision (npm test's prerequisites install them).
    await run(process.env.OVERMAP_PYTHON ?? '/usr/bin/python3', ['snippet.py'], { cwd: dir, maxBuffer: 16 * 2 ** 20 });

    const session = await ort.InferenceSession.create(path.join(dir, 'classifier.onnx'));
    const fixture = JSON.parse(await fs.readFile(path.join(ROOT, 'test/fixtures/models-md-export.json'), 'utf8')) as {
      inputNames: string[];
      outputNames: string[];
      shapes: Record<string, number[]>;
    };
    expect([session.inputNames, session.outputNames]).toEqual([fixture.inputNames, fixture.outputNames]);
    const floats = async (f: string) => {
      const b = await fs.readFile(path.join(dir, f));
      return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
    };
    const out = await session.run({ image: new ort.Tensor('float32', await floats('input.bin'), [2, 3, 224, 224]) });
    for (const name of ['logits', 'features']) {
      expect([name, out[name]!.dims]).toEqual([name, fixture.shapes[name]]);
      const got = out[name]!.data as Float32Array;
      const want = await floats(`${name}.bin`);
      let worst = 0,
        scale = 1;
      want.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(got[i]! - v));
        scale = Math.max(scale, Math.abs(v));
      });
      expect(worst / scale).toBeLessThan(1e-4);
    }
    await session.release();

    // The page's spec, beside the exported file, with ResNet-50's 1000 classes where it writes "…".
    const spec = JSON.parse(block(page, 'json')) as { classes: string[] };
    expect(spec.classes).toContain('...');
    spec.classes = Array.from({ length: 1000 }, (_, i) => `class-${i}`);
    await fs.writeFile(path.join(dir, 'overmap-model.json'), JSON.stringify(spec));
    const images = path.join(dir, 'images');
    await fs.mkdir(images);
    const samples = path.join(ROOT, 'samples/fashion-scenes/bag');
    for (const f of (await fs.readdir(samples)).sort().slice(0, 3))
      await fs.copyFile(path.join(samples, f), path.join(images, f));
    const env = cliEnv((await testRedis()).url, 'tmodelsmd', { OVERMAP_BACKEND: 'onnx' });
    const out2 = path.join(dir, 'run');
    const r = await runCli(['run', images, '--out', out2, '--model', path.join(dir, 'overmap-model.json')], env);
    expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);
    const { records } = await readParts(out2);
    expect(records).toHaveLength(3);
    for (const rec of records) {
      expect(rec.status).toBe('ok');
      expect(spec.classes).toContain(rec.prediction!.class);
      expect([rec.scores.attention_seg, rec.scores.gradcam_attention]).toEqual([0, 0]);
      expect(rec.scores.overmap).toBeCloseTo(rec.scores.gradcam_seg!, 6);
    }
  });
});
