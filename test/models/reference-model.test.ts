/**
 * The committed reference models still reach their recorded accuracy and mask IoU on fixed
 * slices of generated scenes (the classic test split, the varied test split and the shifted
 * split), and their files are the ones recorded.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { tf } from '@overmap/worker';
import { OverMapScorer, initBackend, loadSpec, referenceSpecUri } from '@overmap/worker';
import { FsObjectStore } from '@overmap/shared';
import { objectStoreIO } from '@overmap/worker';
import { type SceneGenerator, type SceneSet, classifierStats, generateScenes, segmenterIoU } from '@overmap/reference';
import sharp from 'sharp';
import { CLASS_FOLDERS, loadFashionMnist, loadMnistTestDigits, makeDigitScene, makeScene } from '@overmap/reference';
import { ROOT } from '../helpers/services';

const DIR = path.join(ROOT, 'models/reference');
type SliceName = 'classicTest' | 'variedTest' | 'shifted';
const SLICES: SliceName[] = ['classicTest', 'variedTest', 'shifted'];
type ClassifierMetrics = { guidance: number; valAccuracy: number; valAttentionMass: number } & Record<SliceName, { accuracy: number; attentionMass: number; maskFraction: number }>;
type Metrics = {
  slices: Record<SliceName, { seed: string; split: 'test' | 'shifted'; generator: SceneGenerator; count: number }>;
  classifiers: Record<string, ClassifierMetrics>;
  segmenter: Record<SliceName, { iou: number }>;
  files: Record<string, string>;
};
let recorded: Metrics;
const sets = new Map<SliceName, SceneSet>();
const slice = (name: SliceName): SceneSet => {
  if (!sets.has(name)) {
    const s = recorded.slices[name];
    sets.set(name, generateScenes(loadFashionMnist(), s.seed, s.split, s.count, 0, s.generator));
  }
  return sets.get(name)!;
};

beforeAll(async () => {
  await initBackend('wasm');
  recorded = JSON.parse(await fs.readFile(path.join(DIR, 'reference-metrics.json'), 'utf8'));
});

describe('the committed reference models', () => {
  it('are the files recorded, and small', async () => {
    let total = 0;
    for (const [f, hash] of Object.entries(recorded.files)) {
      const b = await fs.readFile(path.join(DIR, f));
      total += b.length;
      expect(createHash('sha256').update(b).digest('hex')).toBe(hash);
    }
    expect(Object.keys(recorded.files)).toEqual(expect.arrayContaining(['classifier/weights.bin', 'segmenter/weights.bin']));
    if (recorded.classifiers['classifier-unguided']) expect(Object.keys(recorded.files)).toContain('classifier-unguided/weights.bin');
    expect(total).toBeLessThan(5 * 1024 * 1024);
  });

  it('record the guided classifier as the bundled one, and the unguided comparison (when committed) as unguided', () => {
    expect(recorded.classifiers.classifier!.guidance).toBeGreaterThan(0);
    const unguided = recorded.classifiers['classifier-unguided'];
    if (unguided) expect(unguided.guidance).toBe(0);
  });

  // One image in a slice is 1/count: allow that much for kernel differences across machines.
  for (const name of SLICES) {
    it(`reach the recorded accuracy and attention mass on the fixed ${name} slice`, async () => {
      const store = new FsObjectStore(DIR);
      for (const [c, m] of Object.entries(recorded.classifiers)) {
        const cls = await tf.loadLayersModel(objectStoreIO(store, `${c}/model.json`));
        const s = classifierStats(cls, slice(name));
        expect(s.accuracy).toBeGreaterThanOrEqual(m[name].accuracy - 1 / recorded.slices[name].count);
        expect(s.attentionMass).toBeCloseTo(m[name].attentionMass, 2);
        cls.dispose();
      }
      const seg = await tf.loadLayersModel(objectStoreIO(store, 'segmenter/model.json'));
      expect(segmenterIoU(seg, slice(name))).toBeGreaterThanOrEqual(recorded.segmenter[name].iou - 0.002);
      seg.dispose();
    });
  }

  it('recorded figures: above chance on every slice, and the guided attention on the object', () => {
    const g = recorded.classifiers.classifier!;
    // Above chance (0.1) on every slice. The shifted slice's target (within 10 points of variedTest) is not met by
    // the committed model (see reference-metrics.json); this test only holds the recorded figures.
    for (const name of SLICES) expect(g[name].accuracy).toBeGreaterThan(0.15);
    // The guided attention puts more of its mass on the object than the mask's share (uniform
    // attention), and than the unguided comparison model where that is committed.
    expect(g.variedTest.attentionMass).toBeGreaterThan(g.variedTest.maskFraction);
    const unguided = recorded.classifiers['classifier-unguided'];
    if (unguided) expect(g.variedTest.attentionMass).toBeGreaterThan(unguided.variedTest.attentionMass);
  });

  it('load through the bundled spec and pass its validation', async () => {
    const scorer = await OverMapScorer.load(await loadSpec(referenceSpecUri()));
    expect(scorer.spec.classes).toHaveLength(10);
    scorer.dispose();
    if (recorded.classifiers['classifier-unguided']) {
      const unguided = await OverMapScorer.load(await loadSpec(`file://${path.join(DIR, 'overmap-model-unguided.json')}`));
      expect(unguided.spec.classes).toHaveLength(10);
      unguided.dispose();
    }
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
