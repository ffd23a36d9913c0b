/**
 * ONNX segmenters as users export them: an output whose dims are all symbolic ([N, C, H, W]
 * declared as names), several channels, per-class logits. A 1×1 convolution built here gives
 * two channels, background logit −8·(m − ½) and object logit 8·(m − ½), m the pixel's mean
 * intensity in [0, 1]; so the object's probability is sigmoid(16·(m − ½)) by softmax over the
 * channels and sigmoid(8·(m − ½)) by the object channel's logit: both exceed ½ exactly where
 * m > ½. A bad channel is refused in one line on the first real output.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { loadSpec } from '@overmap/engine';
import { OnnxModelSegmenter } from '@overmap/engine/testing';
import { ROOT, tmpDir } from '../helpers/services';

const SIZE = 16;

function segmenterOnnx(): Uint8Array {
  const F32 = onnx.TensorProto.DataType.FLOAT;
  const w = new Float32Array([-8 / 3, -8 / 3, -8 / 3, 8 / 3, 8 / 3, 8 / 3]);
  const b = new Float32Array([4, -4]);
  const raw = (a: Float32Array) => new Uint8Array(a.buffer.slice(0));
  const sym = (names: (string | number)[]) => ({
    elemType: F32,
    shape: { dim: names.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'two-channel-segmenter',
      node: [{ opType: 'Conv', input: ['image', 'W', 'B'], output: ['mask'], name: 'conv' }],
      initializer: [
        { name: 'W', dims: [2, 3, 1, 1], dataType: F32, rawData: raw(w) },
        { name: 'B', dims: [2], dataType: F32, rawData: raw(b) },
      ],
      input: [{ name: 'image', type: { tensorType: sym(['N', 3, SIZE, SIZE]) } }],
      output: [{ name: 'mask', type: { tensorType: sym(['N', 'C', 'H', 'W']) } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

let dir: string;
beforeAll(async () => {
  dir = await tmpDir();
  await fs.cp(path.join(ROOT, 'models/reference/onnx'), path.join(dir, 'onnx'), { recursive: true });
  await fs.writeFile(path.join(dir, 'seg.onnx'), segmenterOnnx());
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

async function segmenter(patch: Record<string, unknown>): Promise<OnnxModelSegmenter> {
  const base = JSON.parse(await fs.readFile(path.join(ROOT, 'models/reference/overmap-model-onnx.json'), 'utf8'));
  const spec = { ...base, segmenter: { type: 'model', model: 'seg.onnx', format: 'onnx', ...patch } };
  const file = path.join(dir, `spec-${JSON.stringify(patch).replace(/\W+/g, '-')}.json`);
  await fs.writeFile(file, JSON.stringify(spec));
  const loaded = await loadSpec(file);
  if (loaded.spec.segmenter.type !== 'model') throw new Error('not a model segmenter');
  return OnnxModelSegmenter.load(loaded, loaded.spec.segmenter);
}

/** An image whose left half is bright (m = 0.8), right half dark (m = 0.2); the second image mirrored. */
function halves(): Uint8Array[] {
  return [false, true].map((mirror) => {
    const px = new Uint8Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++)
        px.fill(x < SIZE / 2 !== mirror ? 204 : 51, (y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3);
    return px;
  });
}
const expected = (mirror: boolean) =>
  Array.from({ length: SIZE * SIZE }, (_, i) => (i % SIZE < SIZE / 2 !== mirror ? 1 : 0));

describe('an ONNX segmenter with symbolic output dims and two channels', () => {
  it.each([
    ['per-class logits (softmax, background channel 0)', { output: 'softmax' }],
    ["the object channel's logit (maskChannel 1)", { output: 'logits', maskChannel: 1 }],
  ])('%s: the mask is the bright half, per image', async (_name, patch) => {
    const s = await segmenter(patch);
    const masks = s.hostMasks(await s.run(halves().map((rgb) => ({ rgb }))));
    expect([masks.h, masks.w]).toEqual([SIZE, SIZE]);
    expect(Array.from(masks.data.subarray(0, SIZE * SIZE))).toEqual(expected(false));
    expect(Array.from(masks.data.subarray(SIZE * SIZE))).toEqual(expected(true));
    s.dispose();
  });

  it('refuses a channel the output does not have, on its first output, in one line', async () => {
    const s = await segmenter({ output: 'logits', maskChannel: 2 });
    const ran = await s.run(halves().map((rgb) => ({ rgb })));
    expect(() => s.hostMasks(ran)).toThrow(/has 2 channels, so segmenter.maskChannel 2 does not exist/);
    s.dispose();
  });
});
