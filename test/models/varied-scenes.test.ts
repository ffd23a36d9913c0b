/**
 * The varied scene generator: deterministic, the mask is the labelled item's visible pixels,
 * the training splits draw every background family and scale they name, and the shifted split
 * uses only a background family and item scales that no train/val/test scene uses.
 */
import {
  SHIFTED_BACKGROUND, SHIFTED_ITEM_SCALE, TRAIN_BACKGROUNDS, TRAIN_ITEM_SCALE, type VariedSplit,
  generateScenes, loadFashionMnist, makeScene, makeVariedScene,
} from '@overmap/reference';

const bank = loadFashionMnist();
// Scenes per split: generation is slow under jest (~0.1-0.5 s a scene on this machine), so a sample.
const N = 80;

describe('the varied scene generator', () => {
  it('is deterministic in (seed, split, index) and differs between indices and splits', () => {
    const a = makeVariedScene(bank, { seed: 's', split: 'train' }, 3), b = makeVariedScene(bank, { seed: 's', split: 'train' }, 3);
    const c = makeVariedScene(bank, { seed: 's', split: 'train' }, 4), d = makeVariedScene(bank, { seed: 's', split: 'val' }, 3);
    expect(Buffer.compare(Buffer.from(a.image), Buffer.from(b.image))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.mask), Buffer.from(b.mask))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.image), Buffer.from(c.image))).not.toBe(0);
    expect(Buffer.compare(Buffer.from(a.image), Buffer.from(d.image))).not.toBe(0);
    expect(a.image).toHaveLength(64 * 64 * 3);
    expect(a.mask).toHaveLength(64 * 64);
  });

  it('keeps the held-out background family and item scales out of train, val and test, and uses only them in shifted', () => {
    const count = (split: VariedSplit) => {
      const families = new Map<string, number>();
      let minScale = Infinity, maxScale = -Infinity, distractors = 0, occluded = 0, blurred = 0, empty = 0;
      for (let i = 0; i < N; i++) {
        const s = makeVariedScene(bank, { seed: 'overmap-reference-v1', split }, i);
        families.set(s.info.background, (families.get(s.info.background) ?? 0) + 1);
        minScale = Math.min(minScale, s.info.itemScale);
        maxScale = Math.max(maxScale, s.info.itemScale);
        distractors += s.info.distractors > 0 ? 1 : 0;
        occluded += s.info.occluders > 0 ? 1 : 0;
        blurred += s.info.blur > 0 ? 1 : 0;
        if (s.mask.reduce((x, y) => x + y, 0) < 20) empty++;
      }
      return { families, minScale, maxScale, distractors, occluded, blurred, empty };
    };
    for (const split of ['train', 'val', 'test'] as const) {
      const c = count(split);
      expect(c.families.has(SHIFTED_BACKGROUND)).toBe(false);
      expect([...c.families.keys()].sort()).toEqual([...TRAIN_BACKGROUNDS].sort());
      expect(c.minScale).toBeGreaterThanOrEqual(TRAIN_ITEM_SCALE[0]);
      expect(c.maxScale).toBeLessThanOrEqual(TRAIN_ITEM_SCALE[1]);
      for (const k of ['distractors', 'occluded', 'blurred'] as const) {
        expect(c[k]).toBeGreaterThan(0.2 * N);
        expect(c[k]).toBeLessThan(0.95 * N);
      }
      expect(c.empty).toBeLessThan(0.05 * N);
    }
    const s = count('shifted');
    expect([...s.families.keys()]).toEqual([SHIFTED_BACKGROUND]);
    expect(s.minScale).toBeGreaterThanOrEqual(SHIFTED_ITEM_SCALE[0]);
    expect(s.maxScale).toBeLessThanOrEqual(SHIFTED_ITEM_SCALE[1]);
    expect(SHIFTED_ITEM_SCALE[1]).toBeLessThan(TRAIN_ITEM_SCALE[0]);
  });

  it('masks the labelled item only: distractors and the background stay out of it', () => {
    // With distractors (other items, clutter) in most scenes, the mask is never larger than the item's own box.
    let checked = 0;
    for (let i = 0; i < 30; i++) {
      const s = makeVariedScene(bank, { seed: 'm', split: 'test' }, i);
      const area = s.mask.reduce((x, y) => x + y, 0) / (64 * 64);
      // At most the item's box (scale² of the canvas), rescaled to 64x64.
      expect(area).toBeLessThanOrEqual(s.info.itemScale ** 2 + 0.02);
      if (s.info.distractors > 0) checked++;
    }
    expect(checked).toBeGreaterThan(5);
  });

  it('leaves the classic generator as it was, and generateScenes picks the generator', () => {
    const classic = generateScenes(bank, 'overmap-reference-v1', 'test', 3);
    expect(Buffer.compare(Buffer.from(classic.images.subarray(0, 64 * 64 * 3)), Buffer.from(makeScene(bank, { seed: 'overmap-reference-v1', split: 'test' }, 0).image))).toBe(0);
    const varied = generateScenes(bank, 'overmap-reference-v1', 'shifted', 3, 0, 'varied');
    expect(Buffer.compare(Buffer.from(varied.images.subarray(0, 64 * 64 * 3)), Buffer.from(makeVariedScene(bank, { seed: 'overmap-reference-v1', split: 'shifted' }, 0).image))).toBe(0);
    expect(() => generateScenes(bank, 's', 'shifted', 1)).toThrow(/varied/);
  });

  it('generateScenes with a skipped range leaves exactly those indices out (the two-fold models)', () => {
    const bank = loadFashionMnist();
    const all = generateScenes(bank, 'skip-test', 'train', 5, 0.5, 'classic');
    const kept = generateScenes(bank, 'skip-test', 'train', 5, 0.5, 'classic', [1, 3]);
    expect(kept.n).toBe(3);
    const PXS = all.images.length / 5;
    [0, 3, 4].forEach((i, j) => {
      const image = (set: typeof all, k: number) => Buffer.from(set.images.subarray(k * PXS, (k + 1) * PXS));
      expect(Buffer.compare(image(kept, j), image(all, i))).toBe(0);
      const labels = (set: typeof all, k: number) => [set.labels[k], set.trueLabels[k], set.flipped[k]];
      expect(labels(kept, j)).toEqual(labels(all, i));
    });
  });
});
