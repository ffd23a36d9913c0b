/**
 * The shipped PyTorch reference models (models/reference-v5, the default, and models/reference-v4:
 * trained by training/, exported to ONNX) are the files recorded, run in ONNX Runtime for Node
 * exactly as they ran in PyTorch (logits within 1e-4 on the recorded scenes), and reach the
 * recorded accuracy, attention mass and mask IoU on the test splits, regenerated here by the project's generator.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CLASS_FOLDERS, type ItemBank, type Scene, loadFashionMnist, makeScene, makeVariedScene } from '@overmap/reference';
import { ROOT } from '../helpers/services';

const SEED = 'overmap-reference-v1';
const PX = 64 * 64;
/** The splits whose figures are reported (the validation splits are recorded too, for the choices). */
const TEST_SPLITS = ['test', 'varied-test', 'shifted'];

interface Recorded {
  onnx: { file: string; sha256: string };
  metrics: Record<string, { accuracy?: number; attention_mass?: number; iou?: number; box_iou?: number; n: number }>;
  pytorch_outputs: Record<string, Record<string, number[] | { sum: number; max: number }>>;
}

/** A scene of a make:scenes split, by its folder's name (`varied-test`, `test`, `shifted`, …) and index. */
function sceneOf(bank: ItemBank, set: string, index: number): Scene {
  if (set === 'shifted') return makeVariedScene(bank, { seed: SEED, split: 'shifted' }, index);
  if (set.startsWith('varied-'))
    return makeVariedScene(bank, { seed: SEED, split: set.slice('varied-'.length) as 'val' | 'test' }, index);
  return makeScene(bank, { seed: SEED, split: set as 'val' | 'test' }, index);
}

/** Scenes as the models take them: NCHW float in [0, 1] (the spec's normalisation: scale 1/255). */
function tensorOf(scenes: Scene[]): ort.Tensor {
  const x = new Float32Array(scenes.length * 3 * PX);
  scenes.forEach((s, n) => {
    for (let i = 0; i < PX; i++) for (let c = 0; c < 3; c++) x[(n * 3 + c) * PX + i] = s.image[i * 3 + c]! / 255;
  });
  return new ort.Tensor('float32', x, [scenes.length, 3, 64, 64]);
}

/**
 * The share of image i's attention [N, 1, h, w] on the object: sum(a·m) / sum(a), with the 64×64
 * mask averaged over each attention cell (training/overmap_train/losses.py, attention_mass).
 */
function attentionMass(att: ort.Tensor, i: number, mask: Uint8Array): number {
  const [h, w] = att.dims.slice(2) as [number, number];
  const a = (att.data as Float32Array).subarray(i * h * w, (i + 1) * h * w);
  const sy = 64 / h,
    sx = 64 / w;
  let on = 0,
    all = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (let yy = y * sy; yy < (y + 1) * sy; yy++)
        for (let xx = x * sx; xx < (x + 1) * sx; xx++) m += mask[yy * 64 + xx]! > 0 ? 1 : 0;
      on += a[y * w + x]! * (m / (sx * sy));
      all += a[y * w + x]!;
    }
  return on / Math.max(all, 1e-6);
}

const indexOf = (name: string) => Number(/-(\d+)\.png$/.exec(name)![1]);
let bank: ItemBank;

beforeAll(() => {
  bank = loadFashionMnist();
});

describe.each(['reference-v5', 'reference-v4'])('the %s models', (folder) => {
  const DIR = path.join(ROOT, 'models', folder);
  const read = async (f: string) => JSON.parse(await fs.readFile(path.join(DIR, f), 'utf8')) as Recorded;

  it.each(['metrics-classifier.json', 'metrics-classifier-unguided.json', 'metrics-segmenter.json', 'metrics-detector.json'])(
    '%s: the ONNX file recorded, under 25 MB',
    async (f) => {
    const rec = await read(f);
    const b = await fs.readFile(path.join(DIR, rec.onnx.file));
    expect(createHash('sha256').update(b).digest('hex')).toBe(rec.onnx.sha256);
    expect(b.length).toBeLessThan(25 * 1024 * 1024);
    },
  );

  it.each(['metrics-classifier.json', 'metrics-classifier-unguided.json'])(
    "%s: ONNX Runtime gives PyTorch's logits (1e-4) on the recorded scenes",
    async (file) => {
    const rec = await read(file);
    const session = await ort.InferenceSession.create(path.join(DIR, rec.onnx.file));
    let checked = 0;
    for (const [set, outputs] of Object.entries(rec.pytorch_outputs)) {
      const names = Object.keys(outputs);
      const scenes = names.map((n) => sceneOf(bank, set, indexOf(n)));
      scenes.forEach((s, i) => expect(CLASS_FOLDERS[s.label]).toBe(names[i]!.split('/')[0]));
      const logits = (await session.run({ image: tensorOf(scenes) })).logits!.data as Float32Array;
      names.forEach((n, i) => {
        const want = outputs[n] as number[];
        want.forEach((v, k) => expect(Math.abs(logits[i * 10 + k]! - v)).toBeLessThan(1e-4));
        checked++;
      });
    }
    expect(checked).toBeGreaterThanOrEqual(32);
    await session.release();
    },
  );

  it.each(['metrics-classifier.json', 'metrics-classifier-unguided.json'])(
    '%s: the recorded accuracy and attention mass on the test splits, regenerated here',
    async (file) => {
    const rec = await read(file);
    const session = await ort.InferenceSession.create(path.join(DIR, rec.onnx.file));
    expect(Object.keys(rec.metrics)).toEqual(expect.arrayContaining(TEST_SPLITS));
    for (const set of TEST_SPLITS) {
      const m = rec.metrics[set]!;
      let correct = 0,
        mass = 0;
      for (let start = 0; start < m.n; start += 250) {
        const scenes = Array.from({ length: Math.min(250, m.n - start) }, (_, i) => sceneOf(bank, set, start + i));
        const out = await session.run({ image: tensorOf(scenes) });
        const logits = out.logits!.data as Float32Array;
        scenes.forEach((s, i) => {
          const row = logits.subarray(i * 10, i * 10 + 10);
          if (row.indexOf(Math.max(...row)) === s.label) correct++;
          mass += attentionMass(out.spatial_attention!, i, s.mask);
        });
      }
      // One scene either way: a near-tie may fall otherwise in another runtime.
      expect([set, Math.abs(correct / m.n - m.accuracy!) <= 1 / m.n]).toEqual([set, true]);
      expect([set, Math.abs(mass / m.n - m.attention_mass!) < 1e-3]).toEqual([set, true]);
    }
    await session.release();
    },
  );

  it('segmenter: ONNX Runtime gives the recorded masks and IoU', async () => {
    const rec = await read('metrics-segmenter.json');
    const session = await ort.InferenceSession.create(path.join(DIR, rec.onnx.file));
    for (const [set, outputs] of Object.entries(rec.pytorch_outputs)) {
      const names = Object.keys(outputs);
      const p = (await session.run({ image: tensorOf(names.map((n) => sceneOf(bank, set, indexOf(n)))) }))
        .probability!.data as Float32Array;
      names.forEach((n, i) => {
        const want = outputs[n] as { sum: number; max: number };
        const q = p.subarray(i * PX, (i + 1) * PX);
        expect(Math.abs(q.reduce((a, b) => a + b, 0) - want.sum)).toBeLessThan(0.01);
        expect(Math.abs(Math.max(...q) - want.max)).toBeLessThan(1e-4);
      });
    }
    for (const set of ['varied-test', 'shifted']) {
      const m = rec.metrics[set]!;
      const scenes = Array.from({ length: Math.min(m.n, 500) }, (_, i) => sceneOf(bank, set, i));
      const p = (await session.run({ image: tensorOf(scenes) })).probability!.data as Float32Array;
      let iou = 0;
      scenes.forEach((s, n) => {
        let inter = 0,
          union = 0;
        for (let i = 0; i < PX; i++) {
          const a = p[n * PX + i]! >= 0.5,
            b = s.mask[i]! > 0;
          inter += Number(a && b);
          union += Number(a || b);
        }
        iou += union > 0 ? inter / union : 1;
      });
      // The first 500 scenes of the recorded set: close to the whole set's figure, not equal.
      expect([set, Math.abs(iou / scenes.length - m.iou!) < 0.05]).toEqual([set, true]);
    }
    await session.release();
  });

  it("detector: ONNX Runtime gives PyTorch's boxes and scores (1e-4) and the recorded box IoU", async () => {
    const rec = await read('metrics-detector.json');
    const session = await ort.InferenceSession.create(path.join(DIR, rec.onnx.file));
    let checked = 0;
    for (const [set, outputs] of Object.entries(rec.pytorch_outputs)) {
      const names = Object.keys(outputs);
      const o = await session.run({ image: tensorOf(names.map((n) => sceneOf(bank, set, indexOf(n)))) });
      const boxes = o.boxes!.data as Float32Array,
        scores = o.scores!.data as Float32Array;
      names.forEach((n, i) => {
        const want = outputs[n] as number[]; // x1, y1, x2, y2, score
        want.slice(0, 4).forEach((v, k) => expect(Math.abs(boxes[i * 4 + k]! - v)).toBeLessThan(1e-4));
        expect(Math.abs(scores[i]! - want[4]!)).toBeLessThan(1e-4);
        checked++;
      });
    }
    expect(checked).toBeGreaterThanOrEqual(32);
    // the box IoU with each scene's tight mask box, on the first 500 scenes of varied-test
    const m = rec.metrics['varied-test']!;
    const scenes = Array.from({ length: 500 }, (_, i) => sceneOf(bank, 'varied-test', i));
    const boxes = (await session.run({ image: tensorOf(scenes) })).boxes!.data as Float32Array;
    let iou = 0;
    scenes.forEach((s, n) => {
      let [x1, y1, x2, y2] = [64, 64, 0, 0];
      for (let i = 0; i < PX; i++)
        if (s.mask[i]! > 0) {
          const [y, x] = [Math.floor(i / 64), i % 64];
          [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
        }
      const [a, b] = [boxes.subarray(n * 4, n * 4 + 4), [x1 / 64, y1 / 64, x2 / 64, y2 / 64]];
      const iw = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!)),
        ih = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
      const area = (t: ArrayLike<number>) => (t[2]! - t[0]!) * (t[3]! - t[1]!);
      iou += (iw * ih) / (area(a) + area(b) - iw * ih);
    });
    expect(Math.abs(iou / scenes.length - m.box_iou!)).toBeLessThan(0.05);
    await session.release();
  });
});
