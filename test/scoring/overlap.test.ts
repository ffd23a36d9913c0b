import { initBackend } from '@overmap/engine';
import { combine, overlap, overmapScore } from '@overmap/engine/testing';
import { otsuThreshold } from '@overmap/engine/testing';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('overlap measures on hand-made masks', () => {
  // 4x4: mask = left half; map A = top-left 2x2 block at 1; map B = whole image at 0.5.
  const mask = [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0];
  const blockA = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const half = new Array(16).fill(0.5);
  const empty = new Array(16).fill(0);

  it('mass: share of the map inside the mask', () => {
    expect(overlap(blockA, mask, 'mass', 0.5)).toBeCloseTo(1, 6);
    expect(overlap(half, mask, 'mass', 0.5)).toBeCloseTo(0.5, 6);
  });
  it('IoU and Dice of binarised maps', () => {
    // A ∩ M = 4, A ∪ M = 8
    expect(overlap(blockA, mask, 'iou', 0.5)).toBeCloseTo(0.5, 6);
    expect(overlap(blockA, mask, 'dice', 0.5)).toBeCloseTo((2 * 4) / (4 + 8), 6);
    // the all-0.5 map binarised at 0.5 covers everything: IoU = 8/16
    expect(overlap(half, mask, 'iou', 0.5)).toBeCloseTo(0.5, 6);
  });
  it('an empty map or an empty mask gives 0, not NaN', () => {
    for (const m of ['mass', 'iou', 'dice'] as const) {
      expect(overlap(empty, mask, m, 0.5)).toBe(0);
      expect(overlap(blockA, empty, m, 0.5)).toBe(0);
    }
  });
  it('combination rules', () => {
    const c = { gradcam_seg: 0.2, attention_seg: 0.4, gradcam_attention: 0.9 };
    expect(combine(c, 'mean', c)).toBeCloseTo(0.5, 12);
    expect(combine(c, 'min', c)).toBe(0.2);
    expect(combine(c, 'product', c)).toBeCloseTo(0.072, 12);
    expect(combine(c, 'weighted', { gradcam_seg: 1, attention_seg: 0, gradcam_attention: 1 })).toBeCloseTo(0.55, 12);
  });
  it('scores.overmap: 0 without an object, Grad-CAM/mask alone without attention, clamped to [0, 1]', () => {
    const c = { gradcam_seg: 0.2, attention_seg: 0.4, gradcam_attention: 0.9 };
    const o = { noMask: false, hasAttention: true, rule: 'mean' as const, weights: c };
    expect(overmapScore(c, o)).toBeCloseTo(0.5, 12);
    expect(overmapScore(c, { ...o, noMask: true })).toBe(0);
    expect(overmapScore(c, { ...o, hasAttention: false })).toBe(0.2);
    expect(overmapScore({ ...c, gradcam_seg: 3 }, { ...o, rule: 'min' })).toBe(0.4);
    expect(overmapScore({ gradcam_seg: 2, attention_seg: 2, gradcam_attention: 2 }, o)).toBe(1);
  });
  it("Otsu's threshold separates a bimodal histogram", () => {
    const v = [...Array(100).fill(0.1), ...Array(50).fill(0.8)];
    const t = otsuThreshold(v);
    expect(t).toBeGreaterThan(0.1);
    expect(t).toBeLessThanOrEqual(0.8);
  });
});
