/**
 * The committed reference models still reach their recorded accuracy and mask IoU on a
 * fixed slice of generated test scenes, and their files are the ones recorded.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { tf } from '@overmap/engine';
import { OverMapScorer, initBackend, loadSpec, referenceSpecUri } from '@overmap/engine';
import { FsObjectStore } from '@overmap/shared';
import { objectStoreIO } from '@overmap/engine';
import { classifierAccuracy, classifierStats, generateScenes, segmenterIoU } from '@overmap/reference';
import sharp from 'sharp';
import { CLASS_FOLDERS, loadFashionMnist, loadMnistTestDigits, makeDigitScene, makeScene } from '@overmap/reference';
import { ROOT } from '../helpers/services';

const DIR = path.join(ROOT, 'models/reference');
type Slice = { seed: string; generator: 'classic' | 'varied'; split: 'test' | 'shifted'; count: number };
type Metrics = {
  slice: { seed: string; split: 'test'; count: number }; classifierAccuracy: number; segmenterIoU: number | null; files: Record<string, string>;
  /**
   * Written by scripts/record-reference-metrics.js: the classic test slice, the varied test slice
   * and the shifted slice.
   */
  slices: Record<string, Slice>;
  classifiers: { classifier: Record<string, { accuracy: number; attentionMass: number }> };
  segmenter: Record<string, { iou: number }>;
};
let recorded: Metrics;

/** Each file in `files` (path under `dir` → sha256) has its recorded hash, and together they stay under 5 MiB. */
async function expectRecordedFiles(dir: string, files: Record<string, string>): Promise<void> {
  let total = 0;
  for (const [f, hash] of Object.entries(files)) {
    const b = await fs.readFile(path.join(dir, f));
    total += b.length;
    expect(createHash('sha256').update(b).digest('hex')).toBe(hash);
  }
  expect(total).toBeLessThan(5 * 1024 * 1024);
}

beforeAll(async () => {
  await initBackend('wasm');
  recorded = JSON.parse(await fs.readFile(path.join(DIR, 'reference-metrics.json'), 'utf8'));
});

describe('the committed reference models', () => {
  it('are the files recorded, and small', async () => {
    await expectRecordedFiles(DIR, recorded.files);
  });

  it('reach the recorded accuracy and mask IoU on the fixed test slice', async () => {
    const store = new FsObjectStore(DIR);
    const cls = await tf.loadLayersModel(objectStoreIO(store, 'classifier/model.json'));
    const seg = await tf.loadLayersModel(objectStoreIO(store, 'segmenter/model.json'));
    const set = generateScenes(loadFashionMnist(), recorded.slice.seed, recorded.slice.split, recorded.slice.count);
    // One image in the slice is 1/count: allow that much for kernel differences across machines.
    expect(classifierAccuracy(cls, set)).toBeGreaterThanOrEqual(recorded.classifierAccuracy - 1 / recorded.slice.count);
    expect(segmenterIoU(seg, set)).toBeGreaterThanOrEqual(recorded.segmenterIoU! - 0.002);
    expect(recorded.classifierAccuracy).toBeGreaterThan(0.3); // far above chance (0.1)
    cls.dispose();
    seg.dispose();
  });

  it('reach the recorded accuracy, attention mass and mask IoU on the varied test slice and the shifted slice', async () => {
    const store = new FsObjectStore(DIR);
    const cls = await tf.loadLayersModel(objectStoreIO(store, 'classifier/model.json'));
    const seg = await tf.loadLayersModel(objectStoreIO(store, 'segmenter/model.json'));
    const bank = loadFashionMnist();
    const names = Object.keys(recorded.slices).filter((n) => n !== 'classicTest');
    expect(names.sort()).toEqual(['shifted', 'variedTest']);
    for (const name of names) {
      const sl = recorded.slices[name]!;
      const set = generateScenes(bank, sl.seed, sl.split, sl.count, 0, sl.generator);
      const got = classifierStats(cls, set), want = recorded.classifiers.classifier[name]!;
      expect(got.accuracy).toBeGreaterThanOrEqual(want.accuracy - 1 / sl.count);
      expect(got.accuracy).toBeLessThanOrEqual(want.accuracy + 1 / sl.count);
      expect(got.attentionMass).toBeCloseTo(want.attentionMass, 2);
      expect(segmenterIoU(seg, set)).toBeGreaterThanOrEqual(recorded.segmenter[name]!.iou - 0.002);
    }
    cls.dispose();
    seg.dispose();
  });

  it.each(['layers', 'layers-onnx', 'onnx'] as const)('load through the bundled %s spec and pass its validation', async (which) => {
    const scorer = await OverMapScorer.load(await loadSpec(referenceSpecUri(which)));
    expect(scorer.spec.classes).toHaveLength(10);
    expect(scorer.spec.classifier.format).toBe(which === 'layers' ? 'layers' : 'onnx');
    scorer.dispose();
  });
});

describe('the committed candidate models (v2, v3: guided and unguided, varied scenes; not shipped)', () => {
  it.each(['reference-v2', 'reference-v3'])('models/%s: the files recorded, and small', async (folder) => {
    const dir = path.join(ROOT, 'models', folder);
    const rec = JSON.parse(await fs.readFile(path.join(dir, 'reference-metrics.json'), 'utf8')) as Metrics;
    expect(Object.keys(rec.files).sort()).toEqual([
      'classifier-unguided/model.json', 'classifier-unguided/weights.bin', 'classifier/model.json', 'classifier/weights.bin', 'segmenter/model.json', 'segmenter/weights.bin',
    ]);
    await expectRecordedFiles(dir, rec.files);
  });

  it('v3 classifiers reach their recorded accuracy and attention mass on the shifted slice', async () => {
    const dir = path.join(ROOT, 'models/reference-v3');
    const rec = JSON.parse(await fs.readFile(path.join(dir, 'reference-metrics.json'), 'utf8')) as Metrics & { classifiers: Record<string, Record<string, { accuracy: number; attentionMass: number }>> };
    const sl = rec.slices.shifted!;
    const set = generateScenes(loadFashionMnist(), sl.seed, sl.split, sl.count, 0, sl.generator);
    for (const c of ['classifier', 'classifier-unguided']) {
      const model = await tf.loadLayersModel(objectStoreIO(new FsObjectStore(dir), `${c}/model.json`));
      const got = classifierStats(model, set), want = rec.classifiers[c]!.shifted!;
      expect(got.accuracy).toBeGreaterThanOrEqual(want.accuracy - 1 / sl.count);
      expect(got.accuracy).toBeLessThanOrEqual(want.accuracy + 1 / sl.count);
      expect(got.attentionMass).toBeCloseTo(want.attentionMass, 2);
      model.dispose();
    }
    // Guidance (λ = 2) put more of the attention on the object than the same training without it.
    expect(rec.classifiers.classifier!.shifted!.attentionMass).toBeGreaterThan(rec.classifiers['classifier-unguided']!.shifted!.attentionMass);
  });
});

describe('the scene generator', () => {
  it('reproduces the committed sample dataset pixel for pixel', async () => {
    const bank = loadFashionMnist();
    const samples = path.join(ROOT, 'samples/fashion-scenes');
    let checked = 0;
    for (const folder of await fs.readdir(samples)) {
      for (const file of (await fs.readdir(path.join(samples, folder))).slice(0, 2)) {
        const index = Number(/^test-(\d+)\.png$/.exec(file)![1]);
        const scene = makeScene(bank, { seed: 'overmap-reference-v1', split: 'test' }, index);
        expect(CLASS_FOLDERS[scene.label]).toBe(folder);
        const { data } = await sharp(path.join(samples, folder, file)).raw().toBuffer({ resolveWithObject: true });
        expect(Buffer.compare(data, Buffer.from(scene.image))).toBe(0);
        checked++;
      }
    }
    expect(checked).toBe(20);
  });

  it('puts MNIST test digits in the same clutter, deterministically', () => {
    const digits = loadMnistTestDigits();
    expect(digits.n).toBe(10_000);
    expect(new Set(digits.labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const bank = loadFashionMnist();
    const a = makeDigitScene(bank, digits, 's', 7), b = makeDigitScene(bank, digits, 's', 7), c = makeDigitScene(bank, digits, 's', 8);
    expect(Buffer.compare(Buffer.from(a.image), Buffer.from(b.image))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.image), Buffer.from(c.image))).not.toBe(0);
    expect(a.label).toBe(digits.labels[a.itemIndex]);
    expect(a.mask.reduce((x, y) => x + y, 0)).toBeGreaterThan(20); // the digit's visible pixels
  });
});
