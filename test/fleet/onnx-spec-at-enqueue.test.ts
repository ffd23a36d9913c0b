/**
 * A user's ONNX spec mistakes are found by `overmap enqueue`, before run.json or any job: the
 * bundled ONNX model with one field of its spec wrong, each refused in one line that names the
 * spec (exit 2), with nothing written under --out. The right spec is then accepted.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cliEnv, makeImages, runCli } from '../helpers/fleet';
import { ROOT, testRedis, tmpDir } from '../helpers/services';

let dir: string, data: string, redisUrl: string;
const base = JSON.parse(readFileSync(path.join(ROOT, 'models/reference/overmap-model-onnx.json'), 'utf8')) as Record<
  string,
  unknown
>;

beforeAll(async () => {
  dir = await tmpDir();
  redisUrl = (await testRedis()).url;
  data = path.join(dir, 'data');
  await makeImages(data, 4);
  await fs.cp(path.join(ROOT, 'models/reference/onnx'), path.join(dir, 'onnx'), { recursive: true });
});
afterAll(async () => {
  await (await testRedis()).stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const classifier = (patch: Record<string, unknown>) => ({
  classifier: { ...(base.classifier as object), ...patch },
});

const MISTAKES: [string, Record<string, unknown>, RegExp][] = [
  ['11 classes', {}, /class count must equal the output units/],
  ['a Grad-CAM output that is not there', { gradcamLayer: 'layer4' }, /output "layer4" not found .*its outputs are/],
  [
    'the layout swapped',
    classifier({ layout: 'nhwc' }),
    /takes input .* but the spec says inputSize 64x64 with 3 channels, layout nhwc/,
  ],
  ['the wrong input size', classifier({ inputSize: [96, 96] }), /but the spec says inputSize 96x96/],
  ['an attention output that is not spatial', { attentionLayers: ['gradcam_conv'] }, /must be a spatial mask/],
];

describe('an ONNX spec with a mistake', () => {
  it.each(MISTAKES.map(([name, patch, message]) => ({ name, patch, message })))(
    '$name: refused at enqueue in one line naming the spec, nothing written',
    async ({ name, patch, message }) => {
      const file = path.join(dir, `${name.replace(/\W+/g, '-')}.json`);
      const spec = { ...base, ...patch };
      if (name === '11 classes') spec.classes = [...(base.classes as string[]), 'extra'];
      await fs.writeFile(file, JSON.stringify(spec));
      const out = path.join(dir, `out-${path.basename(file, '.json')}`);
      const r = await runCli(['enqueue', data, '--out', out, '--model', file], cliEnv(redisUrl, 'tonnxspec'));
      expect([r.code, r.stderr.trim().split('\n').length]).toEqual([2, 1]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(file);
      await expect(fs.access(out)).rejects.toThrow();
    },
  );

  it('the same spec without the mistake is accepted', async () => {
    const file = path.join(dir, 'right.json');
    await fs.writeFile(file, JSON.stringify(base));
    const r = await runCli(
      ['enqueue', data, '--out', path.join(dir, 'out-right'), '--model', file],
      cliEnv(redisUrl, 'tonnxspec'),
    );
    expect(r.code).toBe(0);
    await fs.access(path.join(dir, 'out-right', 'run.json'));
  });
});
